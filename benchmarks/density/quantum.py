"""Densities from pyscf and their density-fitting coefficients in the irreps of O(3).

Level of theory (:data:`LEVEL`): Kohn-Sham DFT with the PBE0 functional in the def2-SVP orbital
basis, the Coulomb integrals density-fitted in the def2-universal-jfit auxiliary basis. The
target of a cluster is the Coulomb-metric fit of its self-consistent density ``rho`` in that
auxiliary basis ``{chi_P}``: the coefficients ``c = J^-1 b`` with ``J_PQ = (P|Q)`` and
``b_P = (P|rho)``, so that ``rho ~ sum_P c_P chi_P``.

pyscf orders the functions of a shell of degree ``l`` in its own real spherical harmonics
(``x, y, z`` for ``l = 1``). :func:`harmonic_change_of_basis` measures the orthogonal map from
those to the basis of our ``O(3)`` irrep of degree ``l`` and parity ``(-1)^l``, so that the
coefficients of a rotated or reflected molecule are those of the molecule transformed by the
irrep's matrices.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from pyscf import df, dft, gto
from pyscf.dft import gen_grid

from benchmarks.o3 import irrep, orthogonal_intertwiner
from groups import Rep, get_group

LEVEL = {"xc": "pbe0", "basis": "def2-svp", "auxbasis": "def2-universal-jfit"}


def molecule(positions: torch.Tensor, elements: list[str], basis: str) -> gto.Mole:
    """A closed-shell pyscf molecule, positions ``(n, 3)`` in Angstrom."""
    atoms = [(element, tuple(float(v) for v in p)) for element, p in zip(elements, positions)]
    return gto.M(atom=atoms, basis=basis, unit="Angstrom", verbose=0)


def fitted_density(mol: gto.Mole, xc: str, auxbasis: str) -> tuple[gto.Mole, np.ndarray]:
    """The auxiliary molecule and the coefficients ``c`` ``(naux,)`` (pyscf's order) of the
    Coulomb-metric fit of the self-consistent Kohn-Sham density of ``mol``."""
    scf = dft.RKS(mol).density_fit(auxbasis=auxbasis)
    scf.xc = xc
    scf.kernel()
    if not scf.converged:
        raise RuntimeError(f"the SCF of {mol.atom} did not converge")
    auxmol = df.addons.make_auxmol(mol, auxbasis)
    three_centre = df.incore.aux_e2(mol, auxmol, intor="int3c2e", aosym="s1")  # (nao, nao, naux)
    projections = np.einsum("ijP,ij->P", three_centre, scf.make_rdm1())
    return auxmol, np.linalg.solve(auxmol.intor("int2c2e"), projections)


@cache
def harmonic_change_of_basis(l: int) -> np.ndarray:
    """The orthogonal ``(2l+1, 2l+1)`` matrix ``M`` with ``M A(R) M^T = D_l(R)`` for every rotation
    ``R``, where ``A(R)`` is the action of ``R`` on the coefficients of pyscf's real harmonics of
    degree ``l`` and ``D_l`` our irrep (:func:`irrep`): pyscf's coefficients ``c`` are ours as
    ``M c``. Measured, not assumed: ``A(R)`` is fitted from pyscf's basis functions evaluated at
    random points ``x`` and ``R^-1 x`` (``f(R^-1 x) = f(x) A(R)`` for the row of functions ``f``),
    and ``M`` is the :func:`orthogonal_intertwiner` of ``A`` and ``D_l`` at two random rotations."""
    probe = gto.M(atom="He 0 0 0", basis={"He": [[l, [1.0, 1.0]]]}, verbose=0)
    points = np.random.default_rng(l).normal(size=(200, 3))
    rotations = get_group("SO(3)").sample(2, generator=torch.Generator().manual_seed(l))
    values = probe.eval_gto("GTOval_sph", points)
    pairs = []
    for R in rotations:
        moved = probe.eval_gto("GTOval_sph", points @ R.numpy())  # rows R^-1 x = R^T x
        pairs.append((np.linalg.lstsq(values, moved, rcond=None)[0], irrep(l)(R).numpy()))
    return orthogonal_intertwiner(pairs)


@dataclass(frozen=True)
class ShellLayout:
    """Where the auxiliary shells of every element sit in one per-atom feature vector.

    The vector holds ``multiplicity[l]`` copies of the degree-``l`` irrep for ``l = 0..l_max``, in
    that order (degree by degree, copies in the order of the basis); an element fills the first of
    its copies of each degree and leaves the others zero. ``shells[element]`` lists the degrees of
    the element's shells in pyscf's order."""

    shells: dict[str, tuple[int, ...]]

    @property
    def multiplicity(self) -> tuple[int, ...]:
        l_max = max(max(degrees) for degrees in self.shells.values())
        return tuple(max(degrees.count(l) for degrees in self.shells.values()) for l in range(l_max + 1))

    @property
    def size(self) -> int:
        return sum(m * (2 * l + 1) for l, m in enumerate(self.multiplicity))

    def rep(self, l_max: int | None = None) -> Rep:
        """The per-atom rep: the copies of the irreps of degree at most ``l_max`` (all by default)."""
        parts = [irrep(l) for l, m in enumerate(self.multiplicity) for _ in range(m) if l_max is None or l <= l_max]
        return sum(parts[1:], parts[0])

    def degree_starts(self) -> list[int]:
        """Offset of the first copy of every degree."""
        starts, offset = [], 0
        for l, m in enumerate(self.multiplicity):
            starts.append(offset)
            offset += m * (2 * l + 1)
        return starts

    def slots(self, element: str) -> list[slice]:
        """The slice of the per-atom vector of every shell of ``element``, in pyscf's order."""
        starts, seen = self.degree_starts(), {}
        slices = []
        for l in self.shells[element]:
            k = seen.get(l, 0)
            seen[l] = k + 1
            start = starts[l] + k * (2 * l + 1)
            slices.append(slice(start, start + 2 * l + 1))
        return slices

    def mask(self, element: str) -> torch.Tensor:
        """Boolean ``(size,)``: the entries ``element`` fills."""
        mask = torch.zeros(self.size, dtype=torch.bool)
        for s in self.slots(element):
            mask[s] = True
        return mask


def shell_layout(elements: list[str], auxbasis: str = LEVEL["auxbasis"]) -> ShellLayout:
    """The :class:`ShellLayout` of ``elements`` in ``auxbasis``."""
    shells = {}
    for element in sorted(set(elements)):
        auxmol = gto.M(atom=f"{element} 0 0 0", basis="sto-3g", spin=None, verbose=0)
        auxmol = df.addons.make_auxmol(auxmol, auxbasis)
        shells[element] = tuple(int(auxmol.bas_angular(i)) for i in range(auxmol.nbas))
    return ShellLayout(shells)


def to_irreps(auxmol: gto.Mole, coefficients: np.ndarray, layout: ShellLayout) -> torch.Tensor:
    """pyscf's coefficients ``(naux,)`` -> per-atom vectors ``(atoms, layout.size)`` in our irreps."""
    out = torch.zeros(auxmol.natm, layout.size, dtype=torch.float64)
    for atom, slot, functions, l in shell_blocks(auxmol, layout):
        out[atom, slot] = torch.from_numpy(harmonic_change_of_basis(l) @ coefficients[functions])
    return out


def from_irreps(auxmol: gto.Mole, vectors: torch.Tensor, layout: ShellLayout) -> np.ndarray:
    """Inverse of :func:`to_irreps` (entries outside an element's slots are ignored)."""
    coefficients = np.zeros(auxmol.nao_nr())
    vectors = vectors.detach().to(torch.float64).cpu().numpy()
    for atom, slot, functions, l in shell_blocks(auxmol, layout):
        coefficients[functions] = harmonic_change_of_basis(l).T @ vectors[atom, slot]
    return coefficients


def shell_blocks(auxmol: gto.Mole, layout: ShellLayout) -> Iterator[tuple[int, slice, slice, int]]:
    """``(atom, slot in the per-atom vector, slice of pyscf's functions, degree l)`` for every
    auxiliary shell (spherical functions, one contraction each)."""
    starts = auxmol.ao_loc_nr()
    for atom in range(auxmol.natm):
        shells = [s for s in range(auxmol.nbas) if auxmol.bas_atom(s) == atom]
        for shell, slot in zip(shells, layout.slots(auxmol.atom_symbol(atom))):
            yield atom, slot, slice(int(starts[shell]), int(starts[shell + 1])), int(auxmol.bas_angular(shell))


def integration_grid(mol: gto.Mole, level: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """pyscf's Becke-partitioned DFT grid of ``mol`` at ``level`` (0-9): points ``(P, 3)`` in
    Bohr and weights ``(P,)``."""
    grid = gen_grid.Grids(mol)
    grid.level = level
    grid.build()
    return grid.coords, grid.weights
