"""Normalisation of features of any rep: per sample (:class:`FieldNorm`), over the batch
(:class:`BatchNorm`) and per field (:class:`SizeNorm`).

Both split every copy ``x`` of a part type into its invariant coordinates ``c = L x`` and the
remainder ``r = x - U c`` (:mod:`~implicit_kernels.nn.structure`). Only ``c`` is shifted (a mean
subtracted, a bias added): shifting along a non-invariant direction would break equivariance. The
remainder is only scaled, by an invariant statistic of its size ``|r|^2 = r^T S r`` with ``S`` the
type's positive-definite invariant form, or ``sum_b |r^T S_b r|`` over its invariant symmetric
forms where no definite one exists (Lorentz vectors: ``|q(r)|``, zero on the light cone, hence
``eps``). The output is ``U c' + w r'`` with a learnable scale ``w`` per copy.
"""

from __future__ import annotations

import torch
from torch import nn

from groups import Rep
from groups.kernel_network import ConstantsModule
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn.fields import FieldLayout
from implicit_kernels.nn.structure import squared_size, type_structure
from implicit_kernels.validation import check_dtypes, check_features


class _InvariantSplit(ConstantsModule, EquivariantModule):
    """Shared structure of the norms: per type, ``L``/``U`` and the forms measuring the remainder."""

    def __init__(self, rep: Rep, eps: float, affine: bool):
        super().__init__()
        self.rep_in = self.rep_out = rep
        self.eps = float(eps)
        self.layout = FieldLayout(rep)
        self._names: list[tuple[str | None, str | None]] = []
        self.invariant_counts: list[int] = []
        for index, t in enumerate(self.layout.types):
            structure = type_structure(t.rep)
            self.invariant_counts.append(structure.invariant_count)
            invariant = remainder = None
            if structure.invariant_count:
                invariant = f"L_{index}"
                self.register_constant(invariant, structure.L)
                self.register_constant(f"U_{index}", structure.U)
            if not structure.is_invariant:
                remainder = f"forms_{index}"
                self.register_constant(remainder, structure.size_forms)
            self._names.append((invariant, remainder))
        self.affine = affine
        if affine:
            self.weight = nn.ParameterList(nn.Parameter(torch.ones(t.multiplicity)) for t in self.layout.types)
            self.bias = nn.ParameterList(nn.Parameter(torch.zeros(t.multiplicity, k))
                                         for t, k in zip(self.layout.types, self.invariant_counts))

    def split_invariant(self, x: torch.Tensor) -> list[tuple]:
        """Per type: the invariant coordinates ``(..., m, k)``, the remainders ``(..., m, d)`` and
        their squared sizes ``(..., m)``; ``None`` where a type has no such part."""
        check_features(x, self.rep_in, dim=x.dim() - 1, what=f"{type(self).__name__} input")
        check_dtypes(self, x, f"{type(self).__name__} input")
        out = []
        for index, (piece, (invariant, remainder)) in enumerate(zip(self.layout.split(x), self._names)):
            coordinates = size2 = None
            if invariant is not None:
                coordinates = piece @ self.constant(invariant, piece).transpose(0, 1)
                piece = piece - coordinates @ self.constant(f"U_{index}", piece).transpose(0, 1)
            if remainder is not None:
                size2 = squared_size(piece, self.constant(remainder, piece))
            out.append((coordinates, piece if remainder is not None else None, size2))
        return out

    def assemble(self, parts: list[tuple[torch.Tensor | None, torch.Tensor | None]],
                 like: torch.Tensor) -> torch.Tensor:
        """``U c' + w r'`` per type (with the affine parameters) and back to the rep's coordinates."""
        out = []
        for index, ((coordinates, remainder), t) in enumerate(zip(parts, self.layout.types)):
            value = like.new_zeros(*like.shape[:-1], t.multiplicity, t.dim)
            if coordinates is not None:
                if self.affine:
                    coordinates = coordinates * self.weight[index][:, None] + self.bias[index]
                value = value + coordinates @ self.constant(f"U_{index}", like).transpose(0, 1)
            if remainder is not None:
                value = value + (remainder * self.weight[index][:, None] if self.affine else remainder)
            out.append(value)
        return self.layout.merge(out)


class FieldNorm(_InvariantSplit):
    """Per-sample normalisation, the equivariant counterpart of a layer norm:
    all invariant coordinates of a sample together get zero mean and unit variance, and the
    remainders of each type are divided by ``sqrt(mean |r|^2 / d + eps)`` over that type's copies
    (see the module docstring for ``|r|``). With ``affine``, a scale per copy and a bias per
    invariant coordinate.

    Shapes: ``(..., rep.size) -> (..., rep.size)``; statistics over the last axis only.
    """

    def __init__(self, rep: Rep, eps: float = 1e-5, affine: bool = True):
        super().__init__(rep, eps, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = self.split_invariant(x)
        invariant = [c.flatten(-2) for c, _, _ in split if c is not None]
        mean = var = None
        if invariant:
            flat = torch.cat(invariant, dim=-1)
            mean, var = flat.mean(-1), flat.var(-1, unbiased=False)
        parts = []
        for (coordinates, remainder, size2), t in zip(split, self.layout.types):
            if coordinates is not None:
                coordinates = (coordinates - mean[..., None, None]) * (var[..., None, None] + self.eps).rsqrt()
            if remainder is not None:
                scale = (size2.mean(-1) / t.dim + self.eps).rsqrt()
                remainder = remainder * scale[..., None, None]
            parts.append((coordinates, remainder))
        return self.assemble(parts, x)


class BatchNorm(_InvariantSplit):
    """Batch normalisation of any rep, with running statistics as in ``torch.nn.BatchNorm1d``:
    every invariant coordinate of every copy is standardised over the batch (all axes but the
    last); every remainder is divided by ``sqrt(E |r|^2 / d + eps)`` over the batch, per copy.
    Training mode uses the batch and updates the running estimates (``momentum``); eval mode uses
    the running estimates.

    Shapes: ``(..., rep.size) -> (..., rep.size)``.
    """

    def __init__(self, rep: Rep, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__(rep, eps, affine)
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum must lie in (0, 1], got {momentum}")
        self.momentum = float(momentum)
        for index, (t, k) in enumerate(zip(self.layout.types, self.invariant_counts)):
            self.register_buffer(f"running_mean_{index}", torch.zeros(t.multiplicity, k))
            self.register_buffer(f"running_var_{index}", torch.ones(t.multiplicity, k))
            self.register_buffer(f"running_size_{index}", torch.ones(t.multiplicity))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = self.split_invariant(x)
        parts = []
        for index, ((coordinates, remainder, size2), t) in enumerate(zip(split, self.layout.types)):
            mean, var = getattr(self, f"running_mean_{index}"), getattr(self, f"running_var_{index}")
            size = getattr(self, f"running_size_{index}")
            if self.training:
                if coordinates is not None:
                    flat = coordinates.reshape(-1, *coordinates.shape[-2:])
                    mean, var = flat.mean(0), flat.var(0, unbiased=False)
                    self._update(f"running_mean_{index}", mean)
                    self._update(f"running_var_{index}", flat.var(0, unbiased=True) if len(flat) > 1 else var)
                if remainder is not None:
                    size = size2.reshape(-1, t.multiplicity).mean(0) / t.dim
                    self._update(f"running_size_{index}", size)
            if coordinates is not None:
                coordinates = (coordinates - mean.to(x.dtype)) * (var.to(x.dtype) + self.eps).rsqrt()
            if remainder is not None:
                remainder = remainder * (size.to(x.dtype) + self.eps).rsqrt()[:, None]
            parts.append((coordinates, remainder))
        return self.assemble(parts, x)

    @torch.no_grad()
    def _update(self, name: str, value: torch.Tensor) -> None:
        running = getattr(self, name)
        running.lerp_(value.detach().to(running.dtype), self.momentum)


class SizeNorm(ConstantsModule, EquivariantModule):
    """Per-field normalisation with a learnable strength, the Clifford-steerable CNNs' multivector
    norm for any rep: every copy ``x`` of a part type becomes::

        x / (1 + sigmoid(a_x) (sqrt(|x|^2 + eps) - 1))

    with ``|x|^2`` the invariant size of the module docstring (over the whole copy, invariant
    coordinates included) and one learnable ``a_x`` per copy (``sigmoid(a) -> 0``: identity;
    ``-> 1``: divide by the size). The denominator is at least ``1 - sigmoid(a_x) > 0``, so null and
    zero fields are only scaled by a constant.

    Shapes: ``(..., rep.size) -> (..., rep.size)``.
    """

    def __init__(self, rep: Rep, eps: float = 1e-6):
        super().__init__()
        self.rep_in = self.rep_out = rep
        self.eps = float(eps)
        self.layout = FieldLayout(rep)
        for index, t in enumerate(self.layout.types):
            forms = type_structure(t.rep).size_forms
            if len(forms) == 0:
                raise ValueError(f"the field {t.rep!r} of {rep!r} has no invariant symmetric form to measure it")
            self.register_constant(f"forms_{index}", forms)
        self.logits = nn.ParameterList(nn.Parameter(torch.zeros(t.multiplicity)) for t in self.layout.types)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, self.rep_in, dim=x.dim() - 1, what="SizeNorm input")
        check_dtypes(self, x, "SizeNorm input")
        out = []
        for index, (piece, logit) in enumerate(zip(self.layout.split(x), self.logits)):
            size = (squared_size(piece, self.constant(f"forms_{index}", piece)) + self.eps).sqrt()
            out.append(piece / (1 + torch.sigmoid(logit) * (size - 1))[..., None])
        return self.layout.merge(out)
