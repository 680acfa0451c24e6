"""Benchmark data cached on disk with a checksum, regenerated when missing or corrupted."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the names and bytes of ``tensors`` (in name order), without copying them."""
    sha = hashlib.sha256()
    for key in sorted(tensors):
        sha.update(key.encode())
        sha.update(tensors[key].contiguous().numpy())
    return sha.hexdigest()


def cached(path: Path | None, generate: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The tensors stored at ``path`` when their checksum matches, else ``generate()`` (then saved
    to ``path``). ``path=None`` always generates. The file name should encode everything the data
    depends on (seed, sizes, a version of the generator): a file with a valid checksum is trusted."""
    if path is not None and path.exists():
        stored = torch.load(path)
        if stored.get("sha256") == digest(stored["tensors"]):
            return stored["tensors"]
    tensors = generate()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"tensors": tensors, "sha256": digest(tensors)}, path)
    return tensors
