"""Bias on the invariant part of a representation."""

from __future__ import annotations

import torch
from torch import nn

from groups import Rep
from groups.kernel_network import ConstantsModule


class InvariantBias(ConstantsModule):
    """A learnable vector in the fixed space of ``rep``: ``b = B theta`` with ``B`` (``(size, m)``,
    a float64 constant that stays float64 under ``.to(dtype)``) spanning ``{v : rho(g) v = v}``, so
    adding ``b`` commutes with the group action. Reps without invariant part get a zero bias and no
    parameters."""

    def __init__(self, rep: Rep):
        super().__init__()
        basis = rep.invariant_basis()
        self.register_constant("basis", basis)
        self.theta = nn.Parameter(torch.zeros(basis.shape[1]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before the basis became a (non-persistent) float64 constant carry a float32
        # copy of it; the basis is rebuilt from the rep, so that entry is dropped
        state_dict.pop(prefix + "basis", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self) -> torch.Tensor:
        """The bias vector, shape ``(size,)``, in the parameters' dtype."""
        return self.constant("basis", self.theta) @ self.theta
