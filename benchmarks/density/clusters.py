"""Water clusters: rigid monomers at random orientations and hydrogen-bond-like O-O distances.

A cluster of ``k`` molecules is grown one molecule at a time: each new oxygen sits at a distance
drawn uniformly from :data:`OO_DISTANCE` of a random earlier oxygen, in a uniformly random
direction, with the molecule uniformly rotated about it. A placement that brings two atoms of
different molecules closer than :data:`MIN_DISTANCE` (or a new oxygen closer than the smallest
O-O distance to any earlier one) is rejected and drawn again. Coordinates are in Angstrom, atoms
in the order O, H, H per molecule.
"""

from __future__ import annotations

import math

import torch

OH_BOND = 0.9572  # Angstrom, the experimental gas-phase monomer
HOH_ANGLE = 104.52  # degrees
OO_DISTANCE = (2.6, 3.2)  # Angstrom, around the 2.8-2.9 A of hydrogen-bonded pairs
MIN_DISTANCE = {("O", "O"): OO_DISTANCE[0], ("H", "H"): 1.5, ("H", "O"): 1.5, ("O", "H"): 1.5}
ELEMENTS = ("O", "H", "H")


def monomer() -> torch.Tensor:
    """Float64 ``(3, 3)`` positions of O, H, H with the oxygen at the origin, in the xz plane."""
    half = math.radians(HOH_ANGLE) / 2
    return torch.tensor([[0.0, 0.0, 0.0],
                         [OH_BOND * math.sin(half), 0.0, OH_BOND * math.cos(half)],
                         [-OH_BOND * math.sin(half), 0.0, OH_BOND * math.cos(half)]], dtype=torch.float64)


def random_rotation(generator: torch.Generator) -> torch.Tensor:
    """A uniformly random rotation ``(3, 3)`` (Haar measure on SO(3)), float64."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.det(q) > 0 else -q


def water_cluster(molecules: int, generator: torch.Generator, max_tries: int = 1000) -> torch.Tensor:
    """Positions ``(3 molecules, 3)`` of a cluster (see the module docstring), float64, Angstrom."""
    if molecules < 1:
        raise ValueError(f"a cluster needs at least one molecule, got {molecules}")
    atoms = monomer() @ random_rotation(generator).T
    while len(atoms) < 3 * molecules:
        for _ in range(max_tries):
            anchor = atoms[3 * int(torch.randint(len(atoms) // 3, (1,), generator=generator))]
            direction = torch.randn(3, generator=generator, dtype=torch.float64)
            low, high = OO_DISTANCE
            distance = low + (high - low) * float(torch.rand(1, generator=generator, dtype=torch.float64))
            oxygen = anchor + distance * direction / direction.norm()
            candidate = oxygen + monomer() @ random_rotation(generator).T
            if not _overlaps(atoms, candidate):
                atoms = torch.cat([atoms, candidate])
                break
        else:
            raise RuntimeError(f"no place found for molecule {len(atoms) // 3 + 1} in {max_tries} tries")
    return atoms


def _overlaps(atoms: torch.Tensor, candidate: torch.Tensor) -> bool:
    """Whether an atom of ``candidate`` (one molecule) is closer to an atom of ``atoms`` than the
    pair's :data:`MIN_DISTANCE`."""
    distances = torch.cdist(atoms, candidate)
    for i, a in enumerate(ELEMENTS * (len(atoms) // 3)):
        for j, b in enumerate(ELEMENTS):
            if distances[i, j] < MIN_DISTANCE[(a, b)]:
                return True
    return False


def elements(molecules: int) -> list[str]:
    """Element symbols of a cluster of ``molecules`` waters."""
    return list(ELEMENTS) * molecules
