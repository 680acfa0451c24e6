"""Learnable equivariant bilinear maps: every path between two reps and a third."""

from __future__ import annotations

import torch
from torch import nn

from groups import Rep
from groups.kernel_network import ConstantsModule
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn.fields import FieldLayout, normalised_basis
from implicit_kernels.validation import check_features, check_reps


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
        self.weights = nn.ParameterList()
        self._paths: list[list[tuple[int, int, int, str]]] = []  # per output type: (type a, type b, weight, basis)
        for o, t_out in enumerate(self.layout_out.types):
            paths = []
            for i, t_a in enumerate(self.layout_a.types):
                for j, t_b in enumerate(self.layout_b.types):
                    basis = group.intertwiners(t_a.rep.tensor(t_b.rep), t_out.rep)
                    if basis.shape[0] == 0:
                        continue
                    name = f"basis_{i}_{j}_{o}"
                    self.register_constant(name, normalised_basis(basis).unflatten(-1, (t_a.dim, t_b.dim)))
                    shape = (t_out.multiplicity, t_a.multiplicity, t_b.multiplicity, basis.shape[0])
                    self.weights.append(nn.Parameter(torch.empty(shape)))
                    paths.append((i, j, len(self.weights) - 1, name))
            self._paths.append(paths)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``w ~ N(0, 1 / fan)`` with ``fan`` the number of (copy, copy, basis) terms summed into an
        output copy: unit-variance outputs for independent unit-variance inputs."""
        with torch.no_grad():
            for paths in self._paths:
                fan = sum(self.weights[w][0].numel() for _, _, w, _ in paths)
                for _, _, w, _ in paths:
                    weight = self.weights[w]
                    weight.copy_(torch.randn(weight.shape, generator=generator, dtype=torch.float64) * fan**-0.5)

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        if b is None:
            check_features(a, self.rep_in, dim=a.dim() - 1, what="TensorProduct input (rep_a + rep_b)")
            a, b = a.split([self.rep_a.size, self.rep_b.size], dim=-1)
        check_features(a, self.rep_a, dim=a.dim() - 1, what="TensorProduct first input")
        check_features(b, self.rep_b, dim=b.dim() - 1, what="TensorProduct second input")
        pieces_a, pieces_b = self.layout_a.split(a), self.layout_b.split(b)
        batch = torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
        out = []
        for t_out, paths in zip(self.layout_out.types, self._paths):
            total = None
            for i, j, w, name in paths:
                # contraction order: weights with a, then with b, then the coefficients
                partial = torch.einsum("oijk,...ip->...ojkp", self.weights[w], pieces_a[i])
                partial = torch.einsum("...ojkp,...jq->...okpq", partial, pieces_b[j])
                term = torch.einsum("...okpq,kepq->...oe", partial, self.constant(name, partial))
                total = term if total is None else total + term
            if total is None:
                total = a.new_zeros(*batch, t_out.multiplicity, t_out.dim)
            out.append(total)
        return self.layout_out.merge(out)

    def extra_repr(self) -> str:
        return f"({self.rep_a!r}) x ({self.rep_b!r}) -> {self.rep_out!r}, {sum(map(len, self._paths))} paths"
