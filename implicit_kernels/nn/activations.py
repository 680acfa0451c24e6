"""Nonlinearities that are exactly equivariant for every rep: gates and norm activations."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from groups import Rep
from groups.kernel_network import ConstantsModule
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn.fields import FieldLayout, is_identity
from implicit_kernels.nn.invariants import Invariants
from implicit_kernels.nn.structure import type_structure
from implicit_kernels.validation import check_dtypes, check_features

Activation = Callable[[torch.Tensor], torch.Tensor]


def signed_log(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) log(1 + |x|)``: squashes quadratic invariants to a scale a linear layer can use."""
    return torch.sign(x) * torch.log1p(x.abs())


class Gate(ConstantsModule, EquivariantModule):
    """A nonlinearity on the invariant part, invariant gates on everything else.

    Every copy ``x`` of a part type ``t`` (:meth:`groups.Rep.decompose`) is split into its
    invariant coordinates ``c = L x`` and remainder ``r = x - U c``
    (:mod:`~implicit_kernels.nn.structure`), and becomes

        U act(c) + sigmoid(s_x) r

    with one invariant gate ``s_x`` per copy that has a remainder. ``U act(c)`` is invariant, ``r``
    transforms as ``x`` does and ``sigmoid(s_x)`` is an invariant scalar, so the module is exactly
    equivariant for every rep, orthogonal or not (Lorentz tensors, non-orthogonal changes of
    basis), and never divides by a norm. Where the gates come from:

    * ``gates="invariants"`` (``rep -> rep``): ``s = W signed_log(invariants(f)) + b``, a learnable
      affine map of all invariants of the whole feature ``f`` (:class:`Invariants`);
    * ``gates="inputs"`` (``rep + k trivial -> rep``, as e3nn's and escnn's gated nonlinearities):
      the ``k`` gate scalars follow the feature in the input, one per gated copy in the order of
      :class:`~implicit_kernels.nn.fields.FieldLayout` (type by type, copy by copy); no parameters.

    Args:
        rep: the feature rep (``rep_out``).
        activation: applied to the invariant coordinates (default SiLU).
        gates: ``"invariants"`` or ``"inputs"``.

    Shapes: ``(..., rep_in.size) -> (..., rep.size)``.
    """

    def __init__(self, rep: Rep, activation: Activation = F.silu, gates: str = "invariants"):
        super().__init__()
        if gates not in ("invariants", "inputs"):
            raise ValueError(f"gates must be 'invariants' or 'inputs', got {gates!r}")
        self.rep_in = self.rep_out = rep
        self.activation = activation
        self.layout = FieldLayout(rep)
        # per type: the constants of L and U (None without invariants, "identity" when both are) and
        # the gate columns (None when the type is wholly invariant, i.e. leaves no remainder)
        self._types: list[tuple[str | None, str | None, slice | None]] = []
        gated = 0
        for index, t in enumerate(self.layout.types):
            structure = type_structure(t.rep)
            names = (None, None)
            if structure.invariant_count and is_identity(structure.L) and is_identity(structure.U):
                names = ("identity", "identity")
            elif structure.invariant_count:
                names = (f"L_{index}", f"U_{index}")
                self.register_constant(names[0], structure.L)
                self.register_constant(names[1], structure.U)
            columns = None if structure.is_invariant else slice(gated, gated + t.multiplicity)
            gated += 0 if structure.is_invariant else t.multiplicity
            self._types.append((*names, columns))
        self.gate_count = gated
        self.gates_from_inputs = gates == "inputs"
        self.invariants = self.gates = None
        if self.gates_from_inputs and gated:
            self.rep_in = rep + gated * rep.group.trivial
        elif gated:
            self.invariants = Invariants(rep)
            self.gates = nn.Linear(self.invariants.count, gated)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, self.rep_in, dim=x.dim() - 1, what="Gate input")
        check_dtypes(self, x, "Gate input")
        gates = None
        if self.gates_from_inputs:
            x, scalars = x.split([self.rep_out.size, x.shape[-1] - self.rep_out.size], dim=-1)
            gates = torch.sigmoid(scalars)
        pieces = self.layout.split(x)
        if self.gates is not None:
            gates = torch.sigmoid(self.gates(signed_log(self.invariants.from_pieces(pieces))))
        out = []
        for piece, (L, U, columns) in zip(pieces, self._types):
            value = 0
            if L == "identity":
                value = self.activation(piece)
            elif L is not None:
                L, U = self.constant(L, piece), self.constant(U, piece)
                coordinates = piece @ L.transpose(0, 1)
                value = self.activation(coordinates) @ U.transpose(0, 1)
                if columns is not None:
                    piece = piece - coordinates @ U.transpose(0, 1)
            if columns is not None:
                value = value + gates[..., columns, None] * piece
            out.append(value)
        return self.layout.merge(out)


class NormActivation(ConstantsModule, EquivariantModule):
    """``rep -> rep``: every copy ``x`` of a part type is scaled by ``activation(|x| + b_x)`` with
    ``|x| = sqrt(x^T S x + eps)`` for the type's positive-definite invariant form ``S``
    (:mod:`~implicit_kernels.nn.structure`) and a learnable bias per copy.

    Only fields with a positive-definite invariant form have an invariant norm: a Lorentz vector has
    none (its metric is indefinite), so building this module on one raises and names the field;
    use :class:`Gate` there.

    Shapes: ``(..., rep.size) -> (..., rep.size)``.
    """

    def __init__(self, rep: Rep, activation: Activation = torch.sigmoid, eps: float = 1e-12):
        super().__init__()
        self.rep_in = self.rep_out = rep
        self.activation, self.eps = activation, eps
        self.layout = FieldLayout(rep)
        for index, t in enumerate(self.layout.types):
            form = type_structure(t.rep).definite
            if form is None:
                raise ValueError(
                    f"NormActivation needs a positive-definite invariant form on every field, but the field "
                    f"{t.rep!r} of {rep!r} has none (its invariant symmetric forms are indefinite); use Gate"
                )
            self.register_constant(f"form_{index}", form)
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(t.multiplicity)) for t in self.layout.types)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, self.rep_in, dim=x.dim() - 1, what="NormActivation input")
        check_dtypes(self, x, "NormActivation input")
        out = []
        for index, (piece, bias) in enumerate(zip(self.layout.split(x), self.biases)):
            form = self.constant(f"form_{index}", piece)
            norm = (torch.einsum("...md,de,...me->...m", piece, form, piece) + self.eps).sqrt()
            out.append(piece * self.activation(norm + bias)[..., None])
        return self.layout.merge(out)
