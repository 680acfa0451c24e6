"""Clifford-group-equivariant layers on multivector channels ``(..., C, 2^n)``.

O(p, q) acts on every channel by the same grade-preserving algebra automorphism ``rho(g)`` (see
:mod:`groups.clifford.algebra`), so each layer below commutes with it:

* :class:`MultivectorLinear` mixes channels with one weight matrix per grade (``rho(g)`` acts the
  same on every channel of a grade) and adds a bias to the scalar part only;
* :class:`GeometricProductLayer` adds grade-path-weighted geometric products of two linear images
  of the input, ``sum_ijk w_cijk <<a_c>_i <b_c>_j>_k``, since ``rho(g)`` preserves products and
  grades;
* :class:`MultivectorNorm` divides each grade by a function of its invariant ``|q_k|``;
* :class:`MultivectorGate` applies SiLU to scalars and scales every other grade by a sigmoid of the
  channel's scalar part (an invariant).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from groups.clifford.algebra import CliffordAlgebra


class MultivectorLinear(nn.Module):
    """``y_o = sum_i W_{g, o, i} <x_i>_g`` per grade ``g`` (plus a scalar bias):
    ``(..., c_in, 2^n) -> (..., c_out, 2^n)``."""

    def __init__(self, algebra: CliffordAlgebra, c_in: int, c_out: int, bias: bool = True):
        super().__init__()
        self.algebra, self.c_in, self.c_out = algebra, c_in, c_out
        self.weight = nn.Parameter(torch.empty(algebra.n + 1, c_out, c_in))
        self.bias = nn.Parameter(torch.empty(c_out)) if bias else None
        self.register_buffer("grades", algebra.grades.clone(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        with torch.no_grad():
            self.weight.copy_(torch.randn(self.weight.shape, generator=generator) / math.sqrt(self.c_in))
            if self.bias is not None:
                self.bias.copy_(0.1 * torch.randn(self.bias.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("...ib,boi->...ob", x, self.weight[self.grades])
        if self.bias is not None:
            y = torch.cat([y[..., :1] + self.bias[:, None], y[..., 1:]], dim=-1)
        return y

    def extra_repr(self) -> str:
        return f"{self.c_in} -> {self.c_out} channels, bias={self.bias is not None}"


class GeometricProductLayer(nn.Module):
    """``y_c = (W x)_c + sum_ijk w_cijk <<(L x)_c>_i <(R x)_c>_j>_k`` with :class:`MultivectorLinear`
    maps ``W``, ``L``, ``R`` and one weight per channel and valid grade path:
    ``(..., c_in, 2^n) -> (..., c_out, 2^n)``. Quadratic in ``x``; this is how an MLP fed with
    vectors creates scalars (``x x = q(x)``) and higher grades (``x ^ y``)."""

    def __init__(self, algebra: CliffordAlgebra, c_in: int, c_out: int):
        super().__init__()
        self.algebra = algebra
        self.linear = MultivectorLinear(algebra, c_in, c_out)
        self.left = MultivectorLinear(algebra, c_in, c_out, bias=True)
        self.right = MultivectorLinear(algebra, c_in, c_out, bias=True)
        self.paths = PathWeights(algebra.valid_paths.expand(c_out, -1, -1, -1))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for module in (self.linear, self.left, self.right, self.paths):
            module.reset_parameters(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        product = self.algebra.left_multiplication(self.left(x), self.paths())
        return self.linear(x) + (product @ self.right(x)[..., None])[..., 0]


class PathWeights(nn.Module):
    """Learnable weights on the ``True`` entries of a boolean ``mask`` ``(..., n+1, n+1, n+1)`` of
    grade paths; :meth:`forward` returns them as a dense tensor of ``mask``'s shape (zero
    elsewhere). Initialised ``N(0, 1 / m)`` with ``m`` the number of valid paths into one output
    grade, so products keep their scale."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.clone(), persistent=False)
        self.weight = nn.Parameter(torch.empty(int(mask.sum())))
        fan = mask.sum(dim=(-3, -2), keepdim=True).clamp_min(1).expand_as(mask)[mask]
        self.register_buffer("scale", fan.to(torch.get_default_dtype()).rsqrt(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        with torch.no_grad():
            self.weight.copy_(torch.randn(self.weight.shape, generator=generator) * self.scale)

    def forward(self) -> torch.Tensor:
        return torch.zeros(self.mask.shape, dtype=self.weight.dtype, device=self.weight.device).masked_scatter(
            self.mask, self.weight
        )

    def extra_repr(self) -> str:
        return f"{self.weight.numel()} paths"


class MultivectorNorm(nn.Module):
    """``<x_c>_k / (1 + s_ck (sqrt(|q_k(x_c)| + eps) - 1))`` with ``s_ck = sigmoid(a_ck)`` learnable.

    ``|q_k|`` is invariant, and the denominator is at least ``1 - s_ck > 0`` for every input,
    including null (``q_k = 0``) and negative-``q`` multivectors, so the layer is finite
    everywhere. A null multivector has no invariant size, so it is only scaled by the constant
    ``1 / (1 + s (sqrt(eps) - 1))``."""

    def __init__(self, algebra: CliffordAlgebra, channels: int, eps: float = 1e-6):
        super().__init__()
        self.algebra, self.eps = algebra, eps
        self.logit = nn.Parameter(torch.zeros(channels, algebra.n + 1))
        self.register_buffer("grades", algebra.grades.clone(), persistent=False)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        with torch.no_grad():
            self.logit.copy_(torch.randn(self.logit.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = torch.sqrt(self.algebra.quadratic_form(x).abs() + self.eps)
        denominator = 1 + torch.sigmoid(self.logit) * (size - 1)
        return x / denominator[..., self.grades]


class MultivectorGate(nn.Module):
    """SiLU on the scalar part; every other grade of channel ``c`` scaled by ``sigmoid(<x_c>_0)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scalar = x[..., :1]
        return torch.cat([torch.nn.functional.silu(scalar), x[..., 1:] * torch.sigmoid(scalar)], dim=-1)
