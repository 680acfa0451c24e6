"""PDE forecasting datasets: trajectories of multivector fields, simulated once per seed and cached
on disk with a checksum.

A dataset is a set of trajectories: ``fields`` ``(trajectories, time, 2^n, *grid)`` float32, the
multivector components of Cl(p, q) in the short-lex blade order of
:class:`groups.clifford.algebra.CliffordAlgebra` (the blades are placed by name through that class, so
the layout follows it), plus per-task ``sources``. Frame 0 is the initial state; models slice
history frames and predict the next one. Units and discretisations are in each simulator's
docstring and in ``README.md``.

``navier_stokes`` (:mod:`benchmarks.pde.navier_stokes`), Cl(2, 0), blades ``[1, e1, e2, e12]``:
    fields ``[s, u_x, u_y, 0]`` on the ``(x, y)`` nodes; ``sources["buoyancy"]`` ``(T, 4)`` is the
    buoyancy direction as a vector ``[0, b_x, b_y, 0]`` (constant in space and time).
``maxwell`` (:mod:`benchmarks.pde.maxwell`), Cl(3, 0), blades ``[1, e1, e2, e3, e12, e13, e23, e123]``:
    fields ``[0, E_x, E_y, E_z, B_z, -B_y, B_x, 0]`` at the cell centres: ``E`` a vector and ``B`` the
    bivector ``B_vec e123 = B_x e23 - B_y e13 + B_z e12`` (in this algebra ``e1 e123 = e23``,
    ``e2 e123 = -e13``, ``e3 e123 = e12``), which transforms correctly under reflections; no sources.
``electrodynamics`` (:mod:`benchmarks.pde.electrodynamics`), Cl(1, 2) with metric ``(+, -, -)`` on
    ``(t, x, y)``. The algebra's basis vectors ``e1, e2, e3`` are ``e_t, e_x, e_y`` (``e0, e1, e2`` in
    physics notation), so the blades are ``[1, e_t, e_x, e_y, e_tx, e_ty, e_xy, e_txy]`` and the fields
    are the field-strength bivector ``F = E_x e_tx + E_y e_ty + c B_z e_xy``: ``[0, 0, 0, 0, E_x, E_y,
    B_z, 0]`` (``c = 1``) at the cell centres. With ``nabla = e^mu d_mu`` (``e^t = e_t``,
    ``e^x = -e_x``, ``e^y = -e_y``) this sign convention gives Maxwell's equations as ``nabla F = -J``:
    the trivector part is Faraday's law, the vector part Gauss's and Ampere's laws, for the four-current
    ``J = c rho e_t + J_x e_x + J_y e_y``, which is ``sources["current"]`` ``(T, time, 8, x, y)``
    ``= [0, rho, J_x, J_y, 0, 0, 0, 0]``. The spacetime grid ``(t, x, y)`` is tensor dims ``(1, 3, 4)``;
    frames are ``dx / c`` apart, so light moves one cell per frame.

``load(task, ...)`` keys the cache by task, seed and sizes (``benchmarks/pde/cache/``); a file whose
sha256 does not match is regenerated. Use different seeds for training, validation and test sets.
``python -m benchmarks.pde.data [--tasks TASK ...] [--no-cache]`` generates (and caches) the default sizes and
prints the time each took.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.cache import cached
from benchmarks.pde import electrodynamics, maxwell, navier_stokes
from groups.clifford.algebra import CliffordAlgebra

DEFAULT_CACHE = Path(__file__).resolve().parent / "cache"
DATA_VERSION = 1  # part of the cache file name: raise it when a simulator change changes the data
CHUNK_POINTS = 2**19  # grid points per trajectory times trajectories simulated at once


@dataclass
class Trajectories:
    """``fields`` ``(T, time, 2^n, *grid)`` float32 multivectors of Cl(``signature``); ``sources``:
    the task's extra inputs (see the module docstring), float32."""

    task: str
    signature: tuple[int, int]
    fields: torch.Tensor
    sources: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.fields)


def multivector(signature: tuple[int, int], components: dict[str, torch.Tensor], dim: int) -> torch.Tensor:
    """Stack blade coefficients, keyed by :meth:`CliffordAlgebra.blade_name` (``"1"``, ``"e1"``,
    ``"e23"``, ...), along a new axis ``dim`` in the algebra's order; absent blades are zero."""
    algebra = CliffordAlgebra(*signature)
    names = [algebra.blade_name(i) for i in range(algebra.dim)]
    unknown = set(components) - set(names)
    if unknown:
        raise KeyError(f"no blades {sorted(unknown)} in Cl{signature}")
    zero = torch.zeros_like(next(iter(components.values())))
    return torch.stack([components.get(name, zero) for name in names], dim=dim)


def _in_chunks(run: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]], initial: dict[str, torch.Tensor],
               points: int) -> dict[str, torch.Tensor]:
    """``run`` on consecutive slices of the initial data (``CHUNK_POINTS // points`` trajectories
    each, ``points`` grid points per trajectory), converted to float32 and concatenated."""
    size = max(1, CHUNK_POINTS // points)
    count = len(next(iter(initial.values())))
    parts = [run({key: value[i : i + size] for key, value in initial.items()}) for i in range(0, count, size)]
    return {key: torch.cat([part[key].float() for part in parts]) for key in parts[0]}


def navier_stokes_multivectors(out: dict[str, torch.Tensor], buoyancy: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cl(2, 0) encoding of :func:`navier_stokes.simulate`'s output and the buoyancy vectors ``(T, 2)``:
    ``fields`` ``(T, frames, 4, n, n)`` and ``buoyancy`` ``(T, 4)``."""
    (ux, uy), (bx, by) = out["velocity"].unbind(dim=2), buoyancy.unbind(dim=1)
    return {
        "fields": multivector((2, 0), {"1": out["density"], "e1": ux, "e2": uy}, dim=2),
        "buoyancy": multivector((2, 0), {"e1": bx, "e2": by}, dim=1),
    }


def maxwell_multivectors(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cl(3, 0) encoding of :func:`maxwell.simulate`'s output: ``fields`` ``(T, frames, 8, n, n, n)``,
    ``E`` as a vector and ``B`` as the bivector ``B_vec e123``."""
    (ex, ey, ez), (bx, by, bz) = out["electric"].unbind(dim=2), out["magnetic"].unbind(dim=2)
    return {"fields": multivector((3, 0), {"e1": ex, "e2": ey, "e3": ez, "e12": bz, "e13": -by, "e23": bx}, dim=2)}


def electrodynamics_multivectors(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cl(1, 2) encoding of :func:`electrodynamics.simulate`'s output (``c = 1``): ``fields``
    ``F = E_x e_tx + E_y e_ty + B_z e_xy`` and ``current`` ``J = rho e_t + J_x e_x + J_y e_y``, both
    ``(T, frames, 8, n, n)``."""
    (ex, ey), (jx, jy) = out["electric"].unbind(dim=2), out["current"].unbind(dim=2)
    return {
        "fields": multivector((1, 2), {"e12": ex, "e13": ey, "e23": out["magnetic"]}, dim=2),
        "current": multivector((1, 2), {"e1": out["density"], "e2": jx, "e3": jy}, dim=2),
    }


def generate_navier_stokes(n_trajectories: int, grid: int, frames: int,
                           generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Smoke trajectories: ``fields`` ``(T, frames, 4, grid, grid)``, ``buoyancy`` ``(T, 4)``."""

    def run(initial: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return navier_stokes_multivectors(navier_stokes.simulate(**initial, frames=frames), initial["buoyancy"])

    return _in_chunks(run, navier_stokes.sample_initial(n_trajectories, generator, grid), grid**2)


def generate_maxwell(n_trajectories: int, grid: int, frames: int,
                     generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Plane-wave trajectories: ``fields`` ``(T, frames, 8, grid, grid, grid)``."""

    def run(initial: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return maxwell_multivectors(maxwell.simulate(**initial, grid=grid, frames=frames))

    return _in_chunks(run, maxwell.sample_initial(n_trajectories, generator), grid**3)


def generate_electrodynamics(n_trajectories: int, grid: int, frames: int,
                             generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Moving-charge trajectories: ``fields`` and ``current`` ``(T, frames, 8, grid, grid)``."""

    def run(initial: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return electrodynamics_multivectors(electrodynamics.simulate(**initial, grid=grid, frames=frames))

    return _in_chunks(run, electrodynamics.sample_initial(n_trajectories, generator, grid, frames), grid**2)


@dataclass(frozen=True)
class Task:
    """A dataset: its algebra, default sizes and generator ``(trajectories, grid, frames,
    torch.Generator) -> tensors``."""

    signature: tuple[int, int]
    trajectories: int
    grid: int
    frames: int
    generate: Callable[[int, int, int, torch.Generator], dict[str, torch.Tensor]]


TASKS = {
    "navier_stokes": Task((2, 0), 256, navier_stokes.GRID, navier_stokes.FRAMES, generate_navier_stokes),
    "maxwell": Task((3, 0), 64, maxwell.GRID, maxwell.FRAMES, generate_maxwell),
    "electrodynamics": Task((1, 2), 128, electrodynamics.GRID, electrodynamics.FRAMES, generate_electrodynamics),
}


def load(task: str, n_trajectories: int | None = None, grid: int | None = None, frames: int | None = None,
         seed: int = 0, cache: Path | str | None = DEFAULT_CACHE) -> Trajectories:
    """The dataset of ``task`` (a key of :data:`TASKS`; sizes default to the task's), from the cache
    when its checksum matches, else simulated from ``torch.Generator().manual_seed(seed)`` and cached
    (``cache=None``: never read or written)."""
    spec = TASKS[task]
    n = spec.trajectories if n_trajectories is None else n_trajectories
    grid = spec.grid if grid is None else grid
    frames = spec.frames if frames is None else frames
    path = None if cache is None else Path(cache) / f"{task}_v{DATA_VERSION}_seed{seed}_{n}x{frames}x{grid}.pt"
    tensors = dict(cached(path, lambda: spec.generate(n, grid, frames, torch.Generator().manual_seed(seed))))
    return Trajectories(task, spec.signature, tensors.pop("fields"), tensors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate (and cache) the PDE datasets at their default sizes.")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="simulate without reading or writing the cache")
    args = parser.parse_args(argv)
    for task in args.tasks:
        start = time.perf_counter()
        data = load(task, seed=args.seed, cache=None if args.no_cache else DEFAULT_CACHE)
        seconds = time.perf_counter() - start
        print(f"{task}: fields {tuple(data.fields.shape)} in {seconds:.1f} s ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
