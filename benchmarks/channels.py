"""Channel bookkeeping shared by the steerable benchmark models."""

from __future__ import annotations

import torch


def gates_last(scalars: int, gates: int, size: int) -> torch.Tensor:
    """Index that reorders ``[scalars, gates, fields]`` (``size`` channels, the layout the models'
    convolutions produce) to ``[scalars, fields, gates]``, the input layout of
    ``implicit_kernels.nn.Gate(rep, gates="inputs")``; a permutation of direct summands, so it
    commutes with the group."""
    fields = torch.arange(scalars + gates, size)
    return torch.cat([torch.arange(scalars), fields, torch.arange(scalars, scalars + gates)])
