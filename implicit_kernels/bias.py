"""Bias on the invariant part of a representation."""

from __future__ import annotations

import torch
from torch import nn

from groups import Rep


class InvariantBias(nn.Module):
    """A learnable vector in the fixed space of ``rep``: ``b = B theta`` with ``B`` (``(size, m)``)
    spanning ``{v : rho(g) v = v}``, so adding ``b`` commutes with the group action. Reps without
    invariant part get a zero bias and no parameters."""

    def __init__(self, rep: Rep):
        super().__init__()
        basis = rep.invariant_basis()
        self.register_buffer("basis", basis.to(torch.get_default_dtype()))
        self.theta = nn.Parameter(torch.zeros(basis.shape[1]))

    def forward(self) -> torch.Tensor:
        """The bias vector, shape ``(size,)``."""
        return self.basis @ self.theta
