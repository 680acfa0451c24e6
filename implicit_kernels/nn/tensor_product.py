"""Learnable equivariant bilinear maps: every path between two reps and a third."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from groups import Rep
from groups.kernel_network import ConstantsModule
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn.fields import FieldLayout, FieldType, normalised_basis
from implicit_kernels.validation import check_dtypes, check_features, check_reps

FUSED_PRODUCT_SIZE = 512
"""Below this many entries per sample and output type (rows times copies of the batched input), a
stage computes its products for all output types in one batched matmul and copies each type's
rows out of it; above it, one batched matmul per output type, whose result needs no copy."""


class TensorProduct(ConstantsModule, EquivariantModule):
    """A learnable equivariant bilinear map ``B: rep_a x rep_b -> rep_out``,
    ``B(rho_a(g) a, rho_b(g) b) = rho_out(g) B(a, b)``, over *every* path.

    The equivariant bilinear maps are the intertwiners ``Hom_G(rep_a (x) rep_b, rep_out)``. With
    the reps split into part types (:meth:`groups.Rep.decompose`), the basis ``C_1..C_k`` of
    ``Hom_G(t_a (x) t_b, t_out)`` is solved once per triple of types in float64
    (:meth:`groups.Group.intertwiners`: Clebsch-Gordan coefficients from escnn for compact groups,
    the solved products of grades (the geometric product's grade paths and more) for Clifford
    groups, null spaces of the generators otherwise), and copy ``o`` of ``t_out`` receives
    ``sum_ijb w[o, i, j, b] C_b(a_i (x) b_j)`` over the copies ``i`` of ``t_a`` and ``j`` of ``t_b``,
    as in e3nn's ``FullyConnectedTensorProduct``. The parameter count equals
    ``dim Hom_G(rep_a (x) rep_b, rep_out)``: the map is complete. This is what messages non-linear
    in two nodes' features (SEGNN-style) need.

    Evaluation: the input whose copies are cheaper to fold into the coefficients (``x``) is
    contracted with them first, one matmul per type of ``x``; the other input (``y``) then enters
    one batched matmul per type of ``y`` (the only per-sample products), and the weights one matmul
    per output type over all samples. No ``(copies of a) x (copies of b) x dims`` outer product is
    formed when one input has few copies, as in messages from a feature and edge harmonics.

    ``forward(a, b)``: ``(..., rep_a.size)`` and ``(..., rep_b.size)`` -> ``(..., rep_out.size)``.
    As an :class:`EquivariantModule` its ``rep_in`` is ``rep_a + rep_b``: ``forward(x)`` with one
    argument splits ``x`` into ``a`` and ``b``.
    """

    def __init__(self, rep_a: Rep, rep_b: Rep, rep_out: Rep):
        super().__init__()
        group = check_reps(rep_a, rep_out, rep_b)
        self.rep_a, self.rep_b, self.rep_out = rep_a, rep_b, rep_out
        self.rep_in = rep_a + rep_b
        self.layout_a, self.layout_b = FieldLayout(rep_a), FieldLayout(rep_b)
        self.layout_out = FieldLayout(rep_out)
        types_a, types_b = self.layout_a.types, self.layout_b.types
        self.weights = nn.ParameterList()
        by_a: dict[tuple[int, int, int], _Path] = {}
        for o, t_out in enumerate(self.layout_out.types):
            for i, t_a in enumerate(types_a):
                for j, t_b in enumerate(types_b):
                    basis = group.intertwiners(t_a.rep.tensor(t_b.rep), t_out.rep)
                    if basis.shape[0] == 0:
                        continue
                    shape = (t_out.multiplicity, t_a.multiplicity, t_b.multiplicity, basis.shape[0])
                    self.weights.append(nn.Parameter(torch.empty(shape)))
                    coefficients = normalised_basis(basis).unflatten(-1, (t_a.dim, t_b.dim))
                    by_a[i, j, o] = _Path(coefficients, len(self.weights) - 1)
        by_b = {(j, i, o): _Path(p.coefficients.transpose(2, 3), p.weight) for (i, j, o), p in by_a.items()}
        self._fold_b = _cost(by_a, types_a, types_b) <= _cost(by_b, types_b, types_a)
        if self._fold_b:
            paths, types_batched, types_folded = by_a, types_a, types_b
        else:
            paths, types_batched, types_folded = by_b, types_b, types_a
        self._weights_by_output = [[p.weight for (_, _, o), p in by_a.items() if o == out]
                                   for out in range(len(self.layout_out.types))]
        self._stages: list[_Stage] = []
        for y, t_y in enumerate(types_batched):
            self._add_stage(y, t_y, types_folded, paths)
        self.reset_parameters()

    def _add_stage(self, y: int, t_y: FieldType, types_folded: tuple[FieldType, ...],
                   paths: dict[tuple[int, int, int], _Path]) -> None:
        """The stage of the batched input's type ``y``: one fold matrix per type ``x`` of the folded
        input, ``F[p, (o, e, b, q)] = C_b[e, q, p]`` over the output types ``o`` it reaches, and the
        order that lays the folded rows out as ``(o, e, x, copy of x, b)``."""
        outputs = sorted({o for (y_, _, o) in paths if y_ == y})
        if not outputs:
            return
        folds, positions, offset = [], {}, 0
        for x, t_x in enumerate(types_folded):
            blocks = [paths[y, x, o].coefficients for o in outputs if (y, x, o) in paths]
            if not blocks:
                continue
            name = f"fold_{y}_{x}"
            self.register_constant(name, torch.cat([c.permute(3, 1, 0, 2).flatten(1) for c in blocks], dim=1))
            columns = sum(c.numel() // c.shape[3] for c in blocks)
            position = offset + torch.arange(t_x.multiplicity * columns).view(t_x.multiplicity, columns)
            start = 0
            for o in outputs:
                if (y, x, o) in paths:
                    k, e = paths[y, x, o].coefficients.shape[:2]
                    block = position[:, start:start + e * k * t_y.dim].view(t_x.multiplicity, e, k * t_y.dim)
                    positions[x, o] = block.transpose(0, 1).flatten(1)  # (e, copies of x * k * d_y)
                    start += e * k * t_y.dim
            folds.append((x, name))
            offset += position.numel()
        order, weights = [], []
        for o in outputs:
            reached = [x for x, _ in folds if (x, o) in positions]
            order.append(torch.cat([positions[x, o] for x in reached], dim=1).flatten())
            weights.append(tuple(paths[y, x, o].weight for x in reached))
        rows = tuple(len(rows) // t_y.dim for rows in order)
        order = torch.cat(order)
        name = None
        if not torch.equal(order, torch.arange(len(order))):
            name = f"order_{y}"
            self.register_buffer(name, order, persistent=False)
        fused = sum(rows) * t_y.multiplicity < FUSED_PRODUCT_SIZE * len(rows)
        self._stages.append(_Stage(y, tuple(folds), name, tuple(outputs), rows, tuple(weights), fused))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``w ~ N(0, 1 / fan)`` with ``fan`` the number of (copy, copy, basis) terms summed into an
        output copy: unit-variance outputs for independent unit-variance inputs."""
        with torch.no_grad():
            for weights in self._weights_by_output:
                fan = sum(self.weights[w][0].numel() for w in weights)
                for w in weights:
                    weight = self.weights[w]
                    weight.copy_(torch.randn(weight.shape, generator=generator, dtype=torch.float64) * fan**-0.5)

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        """Per type ``t_y`` of the batched input ``y`` (the other input ``x`` is the one cheaper to
        fold): ``M[n, (o, e, x, copy, b), q] = sum_p x[n, copy, p] C_b[e, q, p]`` (one matmul per
        type of ``x``), then ``Z[n, row, i] = sum_q M[n, row, q] y_i[n, q]`` in one batched matmul;
        per output type, one matmul of the gathered ``(N e, rows)`` products with the weights."""
        if b is None:
            check_features(a, self.rep_in, dim=a.dim() - 1, what="TensorProduct input (rep_a + rep_b)")
            a, b = a.split([self.rep_a.size, self.rep_b.size], dim=-1)
        check_features(a, self.rep_a, dim=a.dim() - 1, what="TensorProduct first input")
        check_features(b, self.rep_b, dim=b.dim() - 1, what="TensorProduct second input")
        check_dtypes(self, a, "TensorProduct first input", second_input=b)
        batch = torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
        a = a.expand(*batch, a.shape[-1]).reshape(-1, a.shape[-1])
        b = b.expand(*batch, b.shape[-1]).reshape(-1, b.shape[-1])
        pieces_a, pieces_b = self.layout_a.split(a), self.layout_b.split(b)
        batched, folded = (pieces_a, pieces_b) if self._fold_b else (pieces_b, pieces_a)
        n = a.shape[0]
        out: list[torch.Tensor | None] = [None] * len(self.layout_out.types)
        for stage in self._stages:
            rows = torch.cat([
                (folded[x].flatten(0, 1) @ self.constant(name, a)).view(n, -1) for x, name in stage.folds
            ], dim=1)
            if stage.order is not None:
                rows = rows.index_select(1, getattr(self, stage.order))
            y = batched[stage.batched].transpose(1, 2)  # (n, d, copies of y)
            rows = rows.view(n, -1, y.shape[1])
            if y.shape[1] == 1:  # an outer product: torch's CPU bmm is slow for a contraction of length 1
                products = (rows * y).split(stage.rows, dim=1)
            elif stage.fused:  # one batched matmul; each output's rows are then copied out of it
                products = (rows @ y.contiguous()).split(stage.rows, dim=1)
            else:
                y = y.contiguous()
                products = [block @ y for block in rows.split(stage.rows, dim=1)]
            for o, z, weights in zip(stage.outputs, products, stage.weights):  # z: (n, e rows, copies of y)
                weight = torch.cat([self._weight_rows(w) for w in weights])
                term = z.reshape(n * self.layout_out.types[o].dim, -1) @ weight
                out[o] = term if out[o] is None else out[o] + term
        out = [
            a.new_zeros(n, t.multiplicity, t.dim) if z is None else z.view(n, t.dim, -1).transpose(1, 2)
            for t, z in zip(self.layout_out.types, out)
        ]
        return self.layout_out.merge(out).unflatten(0, batch)

    def _weight_rows(self, w: int) -> torch.Tensor:
        """Weight ``w`` as rows ``(copy of x, b, copy of y)`` by columns ``(copy of the output)``."""
        weight = self.weights[w]
        return (weight.permute(2, 3, 1, 0) if self._fold_b else weight.permute(1, 3, 2, 0)).reshape(-1, weight.shape[0])

    def extra_repr(self) -> str:
        return f"({self.rep_a!r}) x ({self.rep_b!r}) -> {self.rep_out!r}, {len(self.weights)} paths"


@dataclass(frozen=True)
class _Path:
    """One path ``(t_y, t_x) -> t_out``: its coefficients ``(k, e, d_y, d_x)`` and weight index."""

    coefficients: torch.Tensor
    weight: int


@dataclass(frozen=True)
class _Stage:
    """One type of the batched input: its folds ``(type of x, constant)``, the gather that orders
    the folded rows (a buffer name, or ``None`` when they are in order) and the rows of each output
    type it reaches."""

    batched: int
    folds: tuple[tuple[int, str], ...]
    order: str | None
    outputs: tuple[int, ...]
    rows: tuple[int, ...]
    weights: tuple[tuple[int, ...], ...]
    fused: bool


def _cost(paths: dict[tuple[int, int, int], _Path], types_y: tuple[FieldType, ...],
          types_x: tuple[FieldType, ...]) -> int:
    """Multiply-adds per sample of folding ``x`` into the coefficients, ``m_x d_x`` per folded row,
    and the batched matmul with ``y``, ``d_y m_y`` per folded row."""
    return sum(
        types_x[x].multiplicity * p.coefficients.shape[0] * p.coefficients.shape[1] * types_y[y].dim
        * (types_x[x].dim + types_y[y].multiplicity)
        for (y, x, _), p in paths.items()
    )


class TensorSquare(EquivariantModule):
    """``rep -> rep_out``: ``x -> B(x, x)`` for a learnable :class:`TensorProduct`
    ``B: rep x rep -> rep_out``, the quadratic self-interaction of a feature (only the symmetric part
    of ``B`` contributes). A pointwise module, so it chains in :class:`Sequential`.

    Shapes: ``(..., rep.size) -> (..., rep_out.size)``.
    """

    def __init__(self, rep: Rep, rep_out: Rep):
        super().__init__()
        self.rep_in, self.rep_out = rep, rep_out
        self.product = TensorProduct(rep, rep, rep_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.product(x, x)
