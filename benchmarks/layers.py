"""Layers shared by the benchmark models: a plain MLP and gated nonlinearities for steerable fields."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def mlp(sizes: Sequence[int], last_activation: bool = False) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]), SiLU, ..., Linear(sizes[-2], sizes[-1])`` (and a final SiLU with
    ``last_activation``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class GatedFields(nn.Module):
    """Gated nonlinearity ``[s, g, f_1, ..., f_M] -> [silu(s), sigmoid(g_1) f_1, ..., sigmoid(g_M) f_M]``.

    The input ``(..., S + M + sum_m d_m)`` holds ``S`` scalars, ``M`` gates and ``M`` fields of sizes
    ``d_m`` (e.g. 3 for vectors, 5 for ``l = 2`` tensors); the output ``(..., S + sum_m d_m)`` drops the
    gates. Scalars and gates are invariant, so for any orthogonal rep of the fields this commutes with
    the group action.

    Args:
        scalars: ``S``.
        fields: ``(d_1, ..., d_M)``, the size of every gated field in input order.
    """

    def __init__(self, scalars: int, fields: Sequence[int]):
        super().__init__()
        self.scalars, self.fields = scalars, tuple(fields)
        sizes = torch.tensor(self.fields, dtype=torch.long)
        # field id of every field component
        self.register_buffer("owner", torch.repeat_interleave(torch.arange(len(sizes)), sizes), persistent=False)

    @property
    def out_size(self) -> int:
        return self.scalars + sum(self.fields)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, g, f = x.split([self.scalars, len(self.fields), sum(self.fields)], dim=-1)
        return torch.cat([nn.functional.silu(s), f * torch.sigmoid(g)[..., self.owner]], dim=-1)

    def invariants(self, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
        """``(..., S + M)``: the scalars and the norms ``sqrt(|f_m|^2 + eps)`` of the fields of an output
        ``y`` ``(..., S + sum_m d_m)`` of this layer (invariant for orthogonal field reps; ``eps`` keeps the
        gradient finite at zero fields)."""
        s, f = y.split([self.scalars, sum(self.fields)], dim=-1)
        squares = f.new_zeros(*f.shape[:-1], len(self.fields)).index_add(-1, self.owner, f.square())
        return torch.cat([s, (squares + eps).sqrt()], dim=-1)
