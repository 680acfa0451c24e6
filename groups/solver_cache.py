"""A persistent store of solved equivariant bases, so that a layer built again in a new process
does not solve its constraints again.

A problem is named by the SHA-256 of everything its solution depends on: the constraint pairs
``(M_in, M_out)`` in float64, the sizes, the tolerance and :data:`SOLVER_VERSION`. A stored basis
is used only when it still satisfies every constraint (:func:`satisfies`), so a damaged file
costs a new solve, never a wrong basis.

Where: the directory named by the environment variable ``IMPLICIT_KERNELS_CACHE``, by default
``$XDG_CACHE_HOME/implicit_kernels/solver`` (``~/.cache/...``); ``IMPLICIT_KERNELS_CACHE=off``
turns the store off. Files are a few kB to a few MB; deleting the directory is always safe.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

SOLVER_VERSION = 3  # bump when the solver's output for the same problem changes
ENVIRONMENT = "IMPLICIT_KERNELS_CACHE"
CHECK_SLACK = 100.0  # a stored basis may miss a constraint by this many times the solver's tolerance


def directory() -> Path | None:
    """The store's directory, or ``None`` when it is turned off."""
    chosen = os.environ.get(ENVIRONMENT)
    if chosen is not None:
        return None if chosen.strip().lower() in ("off", "") else Path(chosen).expanduser()
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return home / "implicit_kernels" / "solver"


def problem_key(pairs: list[tuple[torch.Tensor, torch.Tensor]], size_in: int, size_out: int, rtol: float) -> str:
    """The name of a problem: SHA-256 of its float64 constraint pairs, sizes, tolerance and
    :data:`SOLVER_VERSION`."""
    sha = hashlib.sha256(f"v{SOLVER_VERSION} {size_in} {size_out} {rtol!r} {len(pairs)}".encode())
    for m_in, m_out in pairs:
        for matrix in (m_in, m_out):
            sha.update(str(tuple(matrix.shape)).encode())
            sha.update(matrix.to(torch.float64).contiguous().numpy().tobytes())
    return sha.hexdigest()


def satisfies(basis: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor]], rtol: float) -> bool:
    """Whether a random combination ``W = sum_k w_k B_k`` of the maps of ``basis`` ``(m, out, in)``
    has the size an orthonormal basis gives it, ``|W| = |w|``, and satisfies ``M_out W = W M_in``
    for every pair to :data:`CHECK_SLACK` times the solver's tolerance (relative to
    ``|M_out| + |M_in|``, Frobenius norms). A map that breaks a constraint makes the combination
    break it too, with probability one."""
    if not torch.isfinite(basis).all():
        return False
    if len(basis) == 0:
        return True
    weights = torch.randn(len(basis), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    combined = torch.einsum("k,kij->ij", weights, basis)
    if abs(float(combined.norm() / weights.norm()) - 1.0) > 1e-8:
        return False
    for m_in, m_out in pairs:
        m_in, m_out = m_in.to(torch.float64), m_out.to(torch.float64)
        scale = float(m_in.norm() + m_out.norm()) * float(weights.norm())
        if float((m_out @ combined - combined @ m_in).norm()) > CHECK_SLACK * rtol * max(scale, 1e-300):
            return False
    return True


def load(key: str, pairs: list[tuple[torch.Tensor, torch.Tensor]], rtol: float) -> torch.Tensor | None:
    """The stored basis of problem ``key`` when there and still valid, else ``None``."""
    root = directory()
    path = None if root is None else root / f"{key}.pt"
    if path is None or not path.exists():
        return None
    try:
        basis = torch.load(path, weights_only=True)
    except Exception:  # a partial or foreign file: solve again
        return None
    if not isinstance(basis, torch.Tensor) or basis.dtype != torch.float64 or basis.dim() != 3:
        return None
    return basis if satisfies(basis, pairs, rtol) else None


def save(key: str, basis: torch.Tensor) -> None:
    """Store ``basis`` under ``key`` (atomically: written to a temporary file, then renamed);
    silently nothing when the store is off or its directory cannot be written."""
    root = directory()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, suffix=".tmp", delete=False) as handle:
            torch.save(basis.contiguous(), handle)
        os.replace(handle.name, root / f"{key}.pt")
    except OSError:
        return
