"""Dropout of whole fields, for features of any rep."""

from __future__ import annotations

import torch

from groups import Rep
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn.fields import FieldLayout
from implicit_kernels.validation import check_features


class FieldDropout(EquivariantModule):
    """Dropout that keeps or drops each field as a whole: in training, every copy of every part
    type of ``rep`` (:class:`~implicit_kernels.nn.fields.FieldLayout`) is set to zero with
    probability ``p`` and otherwise scaled by ``1 / (1 - p)``, independently for each leading index
    (point, node, sample). A copy is multiplied by one scalar, and scalars commute with
    ``rho(g)``, so the output is equivariant for every draw; dropping single coordinates would not
    be. The identity in evaluation mode.

    Shapes: ``(..., rep.size) -> (..., rep.size)``.
    """

    def __init__(self, rep: Rep, p: float = 0.1):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must lie in [0, 1), got {p!r}")
        self.rep_in = self.rep_out = rep
        self.p = float(p)
        self.layout = FieldLayout(rep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, self.rep_in, dim=x.dim() - 1, what="FieldDropout input")
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        pieces = [piece * (torch.bernoulli(piece.new_full(piece.shape[:-1], keep)) / keep)[..., None]
                  for piece in self.layout.split(x)]
        return self.layout.merge(pieces)

    def extra_repr(self) -> str:
        return f"p={self.p}"
