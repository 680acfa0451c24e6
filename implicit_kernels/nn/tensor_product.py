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
        bases: dict[tuple[int, int, int], tuple[torch.Tensor, int]] = {}  # (a, b, out) -> (basis, weight)
        products = {(i, j): t_a.rep.tensor(t_b.rep)
                    for i, t_a in enumerate(self.layout_a.types) for j, t_b in enumerate(self.layout_b.types)}
        for o, t_out in enumerate(self.layout_out.types):
            for i, t_a in enumerate(self.layout_a.types):
                for j, t_b in enumerate(self.layout_b.types):
                    basis = group.intertwiners(products[i, j], t_out.rep)
                    if basis.shape[0] == 0:
                        continue
                    shape = (t_out.multiplicity, t_a.multiplicity, t_b.multiplicity, basis.shape[0])
                    self.weights.append(nn.Parameter(torch.empty(shape)))
                    bases[i, j, o] = normalised_basis(basis).unflatten(-1, (t_a.dim, t_b.dim)), len(self.weights) - 1
        # per output type: (pair, weight, basis size, columns of the pair's products)
        self._paths: list[list[tuple[int, int, int, slice]]] = [[] for _ in self.layout_out.types]
        self._pairs: list[tuple[int, int, str, bool]] = []  # (type a, type b, coefficients, a first)
        for i, t_a in enumerate(self.layout_a.types):
            for j, t_b in enumerate(self.layout_b.types):
                blocks, columns = [], 0
                for o in range(len(self.layout_out.types)):
                    if (i, j, o) not in bases:
                        continue
                    basis, w = bases[i, j, o]
                    blocks.append(basis.permute(2, 3, 1, 0).flatten(2))  # (k, e, p, q) -> (p, q, e * k)
                    width = blocks[-1].shape[-1]
                    self._paths[o].append((len(self._pairs), w, basis.shape[0], slice(columns, columns + width)))
                    columns += width
                if not blocks:
                    continue
                coefficients = torch.cat(blocks, dim=-1)  # (p, q, K)
                a_first = self._a_first(t_a.multiplicity, t_b.multiplicity, t_a.dim, t_b.dim)
                name = f"coefficients_{i}_{j}"
                self.register_constant(name, (coefficients if a_first else coefficients.transpose(0, 1)).flatten(1))
                self._pairs.append((i, j, name, a_first))
        self.reset_parameters()

    @staticmethod
    def _a_first(m_a: int, m_b: int, p: int, q: int) -> bool:
        """Whether contracting the coefficients with ``a`` first costs fewer flops (per column)
        than with ``b`` first: ``m_a p q + m_a m_b q`` against ``m_b q p + m_a m_b p``."""
        return m_a * p * q + m_a * m_b * q < m_b * q * p + m_a * m_b * p

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``w ~ N(0, 1 / fan)`` with ``fan`` the number of (copy, copy, basis) terms summed into an
        output copy: unit-variance outputs for independent unit-variance inputs."""
        with torch.no_grad():
            for paths in self._paths:
                fan = sum(self.weights[w][0].numel() for _, w, _, _ in paths)
                for _, w, _, _ in paths:
                    weight = self.weights[w]
                    weight.copy_(torch.randn(weight.shape, generator=generator, dtype=torch.float64) * fan**-0.5)

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        """Per pair of types ``(t_a, t_b)``: ``Z[n, i, j, (e, k)] = sum_pq a_i[n, p] b_j[n, q] C_k[e, p, q]``
        for all output types at once (the coefficients contracted first with the input that has
        fewer copies, then one batched matmul with the other); per output type, one matmul of the
        gathered ``(N, e, sum_paths m_a m_b k)`` products with the concatenated weights."""
        if b is None:
            check_features(a, self.rep_in, dim=a.dim() - 1, what="TensorProduct input (rep_a + rep_b)")
            a, b = a.split([self.rep_a.size, self.rep_b.size], dim=-1)
        check_features(a, self.rep_a, dim=a.dim() - 1, what="TensorProduct first input")
        check_features(b, self.rep_b, dim=b.dim() - 1, what="TensorProduct second input")
        batch = torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
        a = a.expand(*batch, a.shape[-1]).reshape(-1, a.shape[-1])
        b = b.expand(*batch, b.shape[-1]).reshape(-1, b.shape[-1])
        pieces_a, pieces_b = self.layout_a.split(a), self.layout_b.split(b)
        products = []
        for i, j, name, a_first in self._pairs:
            x, y = (pieces_a[i], pieces_b[j]) if a_first else (pieces_b[j], pieces_a[i])
            n, m_x, d_x = x.shape
            m_y, d_y = y.shape[1:]
            coefficients = self.constant(name, x)
            width = coefficients.shape[1] // d_y
            partial = (x.reshape(n * m_x, d_x) @ coefficients).view(n, m_x, d_y, width)
            # einsum rather than bmm: torch's CPU bmm is several times slower for these small per-sample products
            z = torch.einsum("nyq,nqw->nyw", y, partial.transpose(1, 2).reshape(n, d_y, m_x * width))
            z = z.view(n, m_y, m_x, width)
            products.append(z.transpose(1, 2) if a_first else z)  # (n, m_a, m_b, K)
        out = []
        for t_out, paths in zip(self.layout_out.types, self._paths):
            if not paths:
                out.append(a.new_zeros(a.shape[0], t_out.multiplicity, t_out.dim))
                continue
            terms = [
                products[pair][..., columns].unflatten(-1, (t_out.dim, k)).permute(0, 3, 1, 2, 4).flatten(2)
                for pair, _, k, columns in paths
            ]
            weight = torch.cat([self.weights[w].flatten(1) for _, w, _, _ in paths], dim=1)
            out.append((torch.cat(terms, dim=-1) @ weight.transpose(0, 1)).transpose(1, 2))
        return self.layout_out.merge(out).unflatten(0, batch)

    def extra_repr(self) -> str:
        return f"({self.rep_a!r}) x ({self.rep_b!r}) -> {self.rep_out!r}, {sum(map(len, self._paths))} paths"


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
