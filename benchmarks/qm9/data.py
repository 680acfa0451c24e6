"""QM9 from the ``qm9pack`` wheel, cached as tensors with a checksum.

The wheel holds the 130,831 molecules of QM9 that passed its consistency check (the 3,054
"uncharacterized" ones left out), with B3LYP/6-31G(2df,p) geometries and properties, and the
static polarizability tensor of each. This module reads them once
(``python -m benchmarks.qm9.data``, about a minute), in the order of their GDB-9 index, and stores:

* per atom: positions (Angstrom, as in the XYZ files) and the element (:data:`ELEMENTS`);
* per molecule: the targets of :data:`TARGETS` in the units of the literature (energies in meV,
  the atomization energy ``u0`` relative to the free atoms' ``U0``), and the polarizability tensor.

**The polarizability's frame.** The published tensor is not given in the frame of the XYZ
coordinates: it is given in the molecule's principal axes of inertia, ordered by increasing
moment, with the sign of each axis unknown (:mod:`benchmarks.qm9.frame` measures this against
tensors that pyscf computes in the coordinates' frame; water and most of the nine linear
molecules order their axes otherwise and are compared in the increasing order all the same).
:func:`principal_axes` recovers the axes from the coordinates, so a tensor predicted in the
coordinates' frame is compared in those axes, up to the four sign patterns of the axes that
leave the tensor's diagonal unchanged (:func:`polarizability_error`).

The split is Cormorant's, used by EGNN and most later work: a permutation of the 130,831
molecules by ``numpy.random.seed(0)``, cut into 100,000 / 17,748 / 13,083 (train / valid /
test).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmarks.cache import cached

DEFAULT_CACHE = Path(__file__).resolve().parent / "cache"
ELEMENTS = ("H", "C", "N", "O", "F")
# atomic masses of the most abundant isotopes (u), as the quantum chemistry programs use them for
# the principal axes
MASSES = (1.00782503, 12.0, 14.00307401, 15.99491462, 18.99840316)
HARTREE_MEV = 27211.386245988
# U0 of the free atoms at the level of QM9 (Hartree), subtracted to give atomization energies
ATOM_U0 = (-0.500273, -37.846772, -54.583861, -75.064579, -99.718730)
# target -> (qm9pack column, unit, factor to that unit)
TARGETS = {
    "homo": ("HOMO_au", "meV", HARTREE_MEV),
    "lumo": ("LUMO_au", "meV", HARTREE_MEV),
    "gap": ("HOMO_LUMO_gap_au", "meV", HARTREE_MEV),
    "mu": ("Dipole_debye", "D", 1.0),
    "alpha": ("Polarizability_bohr3", "bohr^3", 1.0),
    "u0": ("InternalEnergy_0K_au", "meV", HARTREE_MEV),
    "zpve": ("ZPVE_au", "meV", HARTREE_MEV),
    "r2": ("R2_bohr2", "bohr^2", 1.0),
    "cv": ("Heatcapacity_Cv_cal_mol_K", "cal/(mol K)", 1.0),
}
POLARIZABILITY_COLUMNS = ("A_xx", "A_xy", "A_xz", "A_xy", "A_yy", "A_yz", "A_xz", "A_yz", "A_zz")
SPLITS = ("train", "valid", "test")
SPLIT_SIZES = (100_000, 17_748, 13_083)
VERSION = 1  # bump when what is stored changes
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Molecules:
    """Molecules stored flat: ``positions`` ``(A, 3)`` Angstrom, ``species`` ``(A,)`` indices into
    :data:`ELEMENTS`, ``offsets`` ``(M + 1,)`` the first atom of every molecule, ``targets``
    ``(M, len(TARGETS))`` in the units of :data:`TARGETS`, ``polarizability`` ``(M, 3, 3)`` bohr^3 in
    the principal axes of inertia (module docstring), ``index`` ``(M,)`` the GDB-9 index."""

    positions: torch.Tensor
    species: torch.Tensor
    offsets: torch.Tensor
    targets: torch.Tensor
    polarizability: torch.Tensor
    index: torch.Tensor

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def target(self, name: str) -> torch.Tensor:
        """``(M,)`` the target ``name`` (a key of :data:`TARGETS`)."""
        return self.targets[:, list(TARGETS).index(name)]

    def atoms(self, molecules: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The atom ids of ``molecules`` ``(B,)`` in order, and the position in ``molecules`` of the
        molecule of each."""
        counts = self.offsets[molecules + 1] - self.offsets[molecules]
        batch = torch.arange(len(molecules)).repeat_interleave(counts)
        first = torch.cat([torch.zeros(1, dtype=counts.dtype), counts.cumsum(0)[:-1]])
        return self.offsets[molecules][batch] + torch.arange(int(counts.sum())) - first[batch], batch

    def batch(self, molecules: torch.Tensor) -> dict[str, torch.Tensor]:
        """``molecules`` ``(B,)`` as one graph: ``positions``, ``species``, ``batch`` (the molecule of
        every atom, ``0..B-1``), ``targets`` ``(B, len(TARGETS))``, ``polarizability`` and ``axes``
        (:func:`principal_axes`, ``(B, 3, 3)``)."""
        atoms, batch = self.atoms(molecules)
        positions, species = self.positions[atoms], self.species[atoms]
        return {"positions": positions, "species": species, "batch": batch,
                "targets": self.targets[molecules], "polarizability": self.polarizability[molecules],
                "axes": principal_axes(positions.double(), species, batch, len(molecules))}

    def subset(self, molecules: torch.Tensor) -> Molecules:
        """The molecules ``molecules`` ``(B,)`` as a new set."""
        atoms, _ = self.atoms(molecules)
        counts = self.offsets[molecules + 1] - self.offsets[molecules]
        return Molecules(self.positions[atoms], self.species[atoms],
                         torch.cat([torch.zeros(1, dtype=counts.dtype), counts.cumsum(0)]),
                         self.targets[molecules], self.polarizability[molecules], self.index[molecules])


def principal_axes(positions: torch.Tensor, species: torch.Tensor, batch: torch.Tensor,
                   count: int) -> torch.Tensor:
    """``(count, 3, 3)`` the principal axes of inertia of every molecule as columns, ordered by
    increasing moment (the ``a``, ``b``, ``c`` axes of rotational spectroscopy), each axis up to
    its sign. ``positions`` ``(A, 3)``, ``species`` and ``batch`` ``(A,)``."""
    masses = torch.tensor(MASSES, dtype=positions.dtype)[species]
    total = torch.zeros(count, dtype=positions.dtype).index_add_(0, batch, masses)
    centre = torch.zeros(count, 3, dtype=positions.dtype).index_add_(0, batch, masses[:, None] * positions)
    r = positions - (centre / total[:, None])[batch]
    # the axes of the inertia tensor sum m (|r|^2 I - r r^T) are those of sum m r r^T, in reverse order
    second = torch.zeros(count, 3, 3, dtype=positions.dtype).index_add_(
        0, batch, masses[:, None, None] * r[:, :, None] * r[:, None, :])
    return torch.linalg.eigh(second).eigenvectors.flip(-1)


# sign patterns s of the axes with (s_i s_j) the sign each entry (i, j) of a tensor takes: the
# four classes of the eight patterns (s and -s act alike)
AXIS_SIGNS = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])


def align_polarizability(predicted: torch.Tensor, target: torch.Tensor,
                         axes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``predicted`` ``(B, 3, 3)`` (in the coordinates' frame) taken into the principal axes ``axes``
    ``(B, 3, 3)``, ``P' = V^T P V``, under the sign pattern of :data:`AXIS_SIGNS` that brings it
    closest to ``target`` ``(B, 3, 3)`` (smallest sum of squared differences): the aligned
    tensors ``(B, 3, 3)`` and the patterns' indices ``(B,)``. Differentiable in ``predicted``."""
    in_axes = axes.transpose(-1, -2) @ predicted @ axes
    flips = AXIS_SIGNS.to(predicted)[:, :, None] * AXIS_SIGNS.to(predicted)[:, None, :]  # (4, 3, 3)
    candidates = in_axes[:, None] * flips  # (B, 4, 3, 3)
    best = (candidates - target[:, None]).square().sum((-1, -2)).argmin(1)
    return candidates[torch.arange(len(candidates)), best], best


def polarizability_error(predicted: torch.Tensor, target: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 3)`` componentwise absolute error of ``predicted`` ``(B, 3, 3)`` (in the
    coordinates' frame) against ``target`` ``(B, 3, 3)`` (in the principal axes ``axes`` ``(B, 3, 3)``,
    each up to its sign), compared after :func:`align_polarizability`. Differentiable; rotation
    invariant for any ``predicted`` that rotates with the molecule."""
    aligned, _ = align_polarizability(predicted, target, axes)
    return (aligned - target).abs()


def read_qm9() -> dict[str, torch.Tensor]:
    """The wheel's molecules as the tensors of :class:`Molecules`, in GDB-9 order."""
    import pandas as pd

    folder = importlib.resources.files("qm9pack") / "data"
    frames = [pd.read_csv(folder / f"qm9_part{k}.csv") for k in (1, 2, 3)]
    table = pd.concat(frames, ignore_index=True).merge(pd.read_csv(folder / "qm9_polarizability.csv"),
                                                       on="XYZ_file", how="inner", validate="one_to_one")
    table = table.sort_values("Index", ignore_index=True)
    symbols = {element: k for k, element in enumerate(ELEMENTS)}
    positions, species = [], []
    for xyz, elements in tqdm(zip(table["XYZ_Ang"], table["Elements"]), total=len(table), desc="QM9 geometries"):
        atoms = re.findall(r"[A-Z][a-z]?", elements)
        coordinates = np.array(_NUMBER.findall(xyz), dtype=np.float64)
        if len(coordinates) != 3 * len(atoms):
            raise ValueError(f"{len(coordinates)} coordinates for the {len(atoms)} atoms {atoms}")
        positions.append(coordinates.reshape(-1, 3))
        species.append([symbols[a] for a in atoms])
    counts = torch.tensor([len(s) for s in species])
    species_flat = torch.tensor([s for atoms in species for s in atoms])
    targets = torch.stack([torch.tensor(table[column].to_numpy(np.float64)) * factor
                           for column, _, factor in TARGETS.values()], dim=1)
    reference = torch.zeros(len(table), dtype=torch.float64).index_add_(
        0, torch.arange(len(table)).repeat_interleave(counts), torch.tensor(ATOM_U0, dtype=torch.float64)[species_flat])
    targets[:, list(TARGETS).index("u0")] -= reference * HARTREE_MEV
    polarizability = torch.tensor(table[list(POLARIZABILITY_COLUMNS)].to_numpy(np.float64)).reshape(-1, 3, 3)
    return {"positions": torch.from_numpy(np.concatenate(positions)), "species": species_flat,
            "offsets": torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]),
            "targets": targets, "polarizability": polarizability,
            "index": torch.tensor(table["Index"].to_numpy(np.int64))}


def cormorant_split(count: int = sum(SPLIT_SIZES)) -> dict[str, torch.Tensor]:
    """Cormorant's split of ``count`` molecules (their positions in GDB-9 order): a permutation by
    ``numpy.random.seed(0)`` cut into 100,000 training, ``count - 100,000 - int(0.1 count)``
    validation and ``int(0.1 count)`` test molecules."""
    test = int(0.1 * count)
    bounds = [SPLIT_SIZES[0], count - test]
    state = np.random.get_state()
    np.random.seed(0)
    try:
        permutation = np.random.permutation(count)
    finally:
        np.random.set_state(state)
    return {split: torch.from_numpy(part) for split, part in zip(SPLITS, np.split(permutation, bounds))}


def load_qm9(cache_dir: Path | None = DEFAULT_CACHE) -> Molecules:
    """All of QM9 (:class:`Molecules`), from the cache when there (``cache_dir=None``: read every
    time)."""
    version = importlib.metadata.version("qm9pack")
    name = f"qm9pack-{version}_v{VERSION}.pt"
    return Molecules(**cached(None if cache_dir is None else cache_dir / name, read_qm9))


def load_splits(sizes: tuple[int, int, int] | None = None,
                cache_dir: Path | None = DEFAULT_CACHE) -> dict[str, Molecules]:
    """Cormorant's splits (:func:`cormorant_split`), each cut to its first ``sizes`` molecules
    (``None``: whole)."""
    qm9 = load_qm9(cache_dir)
    parts = cormorant_split(len(qm9))
    sizes = sizes or tuple(len(part) for part in parts.values())
    return {split: qm9.subset(parts[split][:size]) for split, size in zip(SPLITS, sizes)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.qm9.data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    splits = load_splits(cache_dir=args.cache)
    for split, molecules in splits.items():
        print(f"{split}: {len(molecules)} molecules, {len(molecules.species)} atoms")


if __name__ == "__main__":
    main()
