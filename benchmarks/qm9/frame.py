"""In which frame QM9 publishes the polarizability tensor: pyscf's tensors against the data.

**Polarizability.** A molecule in a uniform electric field ``F`` has the energy
``E(F) = E(0) - mu_i F_i - 1/2 alpha_ij F_i F_j - ...`` and the dipole moment
``mu_i(F) = -dE/dF_i = mu_i(0) + alpha_ij F_j + ...``, so ``alpha_ij = -d^2E/dF_i dF_j =
d mu_i/dF_j``, a symmetric positive definite tensor in the frame the field is written in.
:func:`finite_field_polarizability` measures it in the frame of the XYZ coordinates: the field
enters the Kohn-Sham core Hamiltonian as the potential energy of the electrons (charge ``-1``) in
the potential ``-F.r``, ``h(F) = h(0) + F.r`` (dipole integrals about the centre of nuclear
charge), the electronic dipole is ``-tr(D r)`` (the nuclei's part does not depend on ``F``), and
``alpha_ij = (mu_i(F e_j) - mu_i(-F e_j)) / 2F`` (central differences: the error is of order
``F^2``, the second hyperpolarizability's share).

**The principal axes.** The data's tensor ``A`` is not in the coordinates' frame: it is in the
principal axes of inertia ``V = (a, b, c)`` (columns, increasing moment;
:func:`benchmarks.qm9.data.principal_axes`), ``A = V^T P V`` for the tensor ``P`` in the
coordinates' frame. An eigenvector is defined only up to its sign, so the data hold
``S V^T P V S`` for an unknown ``S = diag(s)``, ``s in {+-1}^3``: entry ``(i, j)`` takes the sign
``s_i s_j``. Flipping axis ``k`` flips the entries ``(k, j)`` and ``(j, k)`` for ``j != k`` and no
diagonal entry; ``s`` and ``-s`` give the same products ``s_i s_j``, so the eight patterns act on
the tensor as four (:data:`benchmarks.qm9.data.AXIS_SIGNS`, one of each pair, those with
``s_1 s_2 s_3 = 1``), and :func:`benchmarks.qm9.data.polarizability_error` compares under the best
of the four.

**The measurement** (:func:`compare`), on the molecules of :func:`choose`: the relative Frobenius
error ``|P' - A| / |A|`` of pyscf's tensor ``P`` against the data's ``A`` with

* (a) ``coordinates``: ``P' = P``, the data taken as given in the coordinates' frame;
* (b) ``principal_axes``: ``P' = S V^T P V S`` with the best of the four sign patterns;
* (c) ``eigenvalues``: the sorted eigenvalues of ``P`` against those of ``A``, free of any frame;
* (d) ``any_order``: as (b), under the best of the six orders of the axes (``order``, a
  diagnostic of molecules whose data do not follow the increasing-moment order).

(c) is a lower bound of the error of ``P`` against ``A`` in every orthonormal frame
(Hoffman-Wielandt), so (b) close to (c) says that the principal axes are the data's frame (for
tensors diagonal in the principal axes, as symmetry makes them in C2v and D2h molecules,
symmetric tops and linear ones, (d) equals (c) by construction), and
(c) itself is what the levels of theory alone leave: pyscf's 6-31G* against the data's
6-31G(2df,p), at B3LYP and the data's geometries. A symmetric top's degenerate axes are
arbitrary in their plane, but so is its tensor, so the comparison holds for it too.

Run ``python -m benchmarks.qm9.frame --molecules 24 --out benchmarks/qm9/results/frame_check.json``;
the findings are in the benchmark's NOTES.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.density.quantum import molecule
from benchmarks.qm9.data import (
    AXIS_SIGNS,
    ELEMENTS,
    Molecules,
    align_polarizability,
    load_qm9,
    polarizability_error,
    principal_axes,
)
from benchmarks.results import run_record

LEVEL = {"xc": "b3lyp", "basis": "6-31g*", "field": 2e-3, "conv_tol": 1e-10, "conv_tol_grad": 1e-7}
DATA_LEVEL = "B3LYP/6-31G(2df,p) (QM9)"
CANDIDATES = range(1, 41)  # the GDB-9 indices :func:`choose` picks from
ERRORS = ("coordinates", "principal_axes", "eigenvalues", "any_order")
ORDERS = ("abc", "acb", "bac", "bca", "cab", "cba")  # the orders of the principal axes "any_order" tries


def finite_field_polarizability(positions: torch.Tensor | np.ndarray, elements: list[str], basis: str = "6-31g*",
                                xc: str = "b3lyp", field: float = 2e-3) -> np.ndarray:
    """``(3, 3)`` the static polarizability (bohr^3) of the closed-shell molecule ``elements`` at
    ``positions`` ``(n, 3)`` (Angstrom) in the coordinates' frame: ``alpha_ij = d mu_i / dF_j`` by
    central differences of Kohn-Sham dipoles in the fields ``+-field e_j`` (atomic units; module
    docstring). Every SCF converges to :data:`LEVEL`'s ``conv_tol`` (Hartree) and ``conv_tol_grad``
    (orbital gradient; pyscf's default, ``sqrt(conv_tol)``, leaves about 1e-4 of the largest entry
    of noise, 1e-7 about 1e-6), each field's from the zero-field density on the zero-field grid.
    Not symmetrized. RuntimeError if an SCF does not converge."""
    from pyscf import dft

    mol = molecule(np.asarray(positions, dtype=np.float64), elements, basis)
    charges = mol.atom_charges()
    with mol.with_common_orig(charges @ mol.atom_coords() / charges.sum()):
        r = mol.intor_symmetric("int1e_r", comp=3)  # (3, nao, nao)

    def density(field_vector: np.ndarray, guess: np.ndarray | None = None, grids=None):
        """The converged SCF in the field ``field_vector``, from the density ``guess`` on ``grids``."""
        scf = dft.RKS(mol)
        scf.xc, scf.conv_tol, scf.conv_tol_grad = xc, LEVEL["conv_tol"], LEVEL["conv_tol_grad"]
        hcore = scf.get_hcore() + np.einsum("x,xij->ij", field_vector, r)
        scf.get_hcore = lambda *args: hcore
        if grids is not None:
            scf.grids = grids
        scf.kernel(dm0=guess)
        if not scf.converged:
            raise RuntimeError(f"the SCF of {''.join(elements)} in the field {field_vector} did not converge")
        return scf

    reference = density(np.zeros(3))
    grids, unperturbed = reference.grids, reference.make_rdm1()
    alpha = np.zeros((3, 3))
    for j, direction in enumerate(np.eye(3)):
        plus = density(field * direction, unperturbed, grids).make_rdm1()
        # start -F from the density extrapolated linearly in the field
        minus = density(-field * direction, 2 * unperturbed - plus, grids).make_rdm1()
        alpha[:, j] = -np.einsum("xij,ji->x", r, plus - minus) / (2 * field)
    if np.any(np.linalg.eigvalsh((alpha + alpha.T) / 2) <= 0):
        raise RuntimeError(f"the polarizability of {''.join(elements)} is not positive definite: {alpha.tolist()}")
    return alpha


def point_group(positions: torch.Tensor | np.ndarray, elements: list[str], tolerance: float = 1e-2) -> str:
    """pyscf's point group of the nuclei, atoms matched to ``tolerance`` bohr (QM9's geometries are
    symmetric only to about 1e-3 bohr)."""
    from pyscf.symm import geom

    mol = molecule(np.asarray(positions, dtype=np.float64), elements, "sto-3g")
    default = geom.TOLERANCE
    geom.TOLERANCE = tolerance
    try:
        return geom.detect_symm(mol._atom)[0]
    finally:
        geom.TOLERANCE = default


def choose(qm9: Molecules, count: int, indices: range = CANDIDATES) -> Molecules:
    """The ``count`` molecules with the fewest atoms among the GDB-9 ``indices`` (ties: the smaller
    index first), in GDB-9 order."""
    positions = torch.nonzero(torch.isin(qm9.index, torch.tensor(list(indices)))).flatten()
    atoms = (qm9.offsets[positions + 1] - qm9.offsets[positions]).tolist()
    order = sorted(range(len(positions)), key=lambda k: (atoms[k], int(qm9.index[positions[k]])))[:count]
    return qm9.subset(positions[sorted(order)])


def compare(molecules: Molecules, basis: str = LEVEL["basis"], xc: str = LEVEL["xc"],
            field: float = LEVEL["field"]) -> list[dict]:
    """One row per molecule of ``molecules``: pyscf's tensor against the data's, the relative
    errors :data:`ERRORS` (module docstring), the tensors themselves (pyscf's in the coordinates'
    frame and in the principal axes under the best signs, the data's), the point group, the
    asymmetry ``|P - P^T| / |P|`` of pyscf's tensor and the seconds it took."""
    rows = []
    for m in tqdm(range(len(molecules)), desc="finite-field polarizabilities"):
        atoms = slice(int(molecules.offsets[m]), int(molecules.offsets[m + 1]))
        positions, species = molecules.positions[atoms].double(), molecules.species[atoms]
        elements = [ELEMENTS[s] for s in species]
        start = time.perf_counter()
        pyscf_tensor = torch.from_numpy(finite_field_polarizability(positions, elements, basis, xc, field))
        seconds = time.perf_counter() - start
        data = molecules.polarizability[m].double()
        axes = principal_axes(positions, species, torch.zeros(len(species), dtype=torch.long), 1)
        scale = float(data.norm())
        in_axes, best = align_polarizability(pyscf_tensor[None], data[None], axes)
        in_axes, signs = in_axes[0], AXIS_SIGNS[best[0]].tolist()
        errors = {
            "coordinates": float((pyscf_tensor - data).norm()) / scale,
            "principal_axes": float((in_axes - data).norm()) / scale,
            "eigenvalues": float((torch.linalg.eigvalsh(pyscf_tensor) - torch.linalg.eigvalsh(data)).norm()) / scale,
        }
        in_order = [float(polarizability_error(pyscf_tensor[None], data[None], axes[:, :, ["abc".index(c) for c in o]])
                          .norm()) / scale for o in ORDERS]
        errors["any_order"] = min(in_order)
        rows.append({
            "index": int(molecules.index[m]), "formula": "".join(elements), "atoms": len(elements),
            "point_group": point_group(positions, elements), **errors,
            "order": ORDERS[in_order.index(errors["any_order"])], "signs": signs,
            "asymmetry": float((pyscf_tensor - pyscf_tensor.T).norm() / pyscf_tensor.norm()),
            "pyscf": _rounded(pyscf_tensor), "pyscf_principal_axes": _rounded(in_axes), "data": _rounded(data),
            "seconds": seconds,
        })
    return rows


def _rounded(tensor: torch.Tensor) -> list[list[float]]:
    return [[round(float(v), 4) for v in row] for row in tensor]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.qm9.frame", description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", type=int, default=24,
                        help=f"how many of GDB-9 {CANDIDATES.start}..{CANDIDATES.stop - 1} (the fewest atoms)")
    parser.add_argument("--basis", default=LEVEL["basis"])
    parser.add_argument("--xc", default=LEVEL["xc"])
    parser.add_argument("--field", type=float, default=LEVEL["field"], help="finite field (atomic units)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="JSON record")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    import pyscf
    from pyscf import lib

    torch.set_num_threads(args.threads)
    lib.num_threads(args.threads)
    molecules = choose(load_qm9(), args.molecules)
    rows = compare(molecules, args.basis, args.xc, args.field)
    medians = {error: statistics.median(row[error] for row in rows) for error in ERRORS}
    record = {
        **run_record("python -m benchmarks.qm9.frame", argv, args.threads, start),
        "pyscf": pyscf.__version__,
        "level": {"pyscf": f"{args.xc.upper()}/{args.basis} (pyscf RKS, default grid), finite field {args.field} au, "
                           f"central differences, SCF conv_tol {LEVEL['conv_tol']}, conv_tol_grad "
                           f"{LEVEL['conv_tol_grad']}, at the data's geometries",
                  "data": DATA_LEVEL},
        "selection": f"the {args.molecules} molecules with the fewest atoms among GDB-9 indices "
                     f"{CANDIDATES.start}..{CANDIDATES.stop - 1} (ties: smaller index first)",
        "errors": {"coordinates": "|P - A| / |A|, the data taken in the coordinates' frame",
                   "principal_axes": "|S V^T P V S - A| / |A|, principal axes of inertia, best of the four sign "
                                     "patterns (polarizability_error)",
                   "eigenvalues": "|eig(P) - eig(A)| / |A|, sorted eigenvalues, frame-free",
                   "any_order": "the principal_axes error under the best of the six orders of the axes ('order')"},
        "median": medians,
        "seconds": sum(row["seconds"] for row in rows),
        "molecules": rows,
    }
    record["wall_s"] = time.perf_counter() - start
    print(f"{'index':>5} {'formula':<14} {'group':<5} " + " ".join(f"{error:>14}" for error in ERRORS) + " order")
    for row in rows:
        print(f"{row['index']:>5} {row['formula']:<14} {row['point_group']:<5} "
              + " ".join(f"{row[error]:>14.3f}" for error in ERRORS) + f" {row['order']}")
    print(f"{'median':<26} " + " ".join(f"{medians[error]:>14.3f}" for error in ERRORS))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
