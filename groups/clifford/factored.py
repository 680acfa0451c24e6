"""The Clifford kernel network through a linear head, for kernels of ``x`` and scalar attributes.

Fed with the vector ``x`` and scalars, every hidden channel of
:class:`~groups.clifford.network.CliffordKernelNetwork` lies in ``span{1, x}`` (see
:mod:`groups.clifford.layers`), and so does every output multivector, ``A = a + a' x`` with
invariant coefficients ``a(q), a'(q)``. A path-weighted left multiplication is then

    L_w(a + a' x) = a D_w + a' sum_m x_m E_wm,      D_w = L_w(1),  E_wm = L_w(e_m),

with constant operators ``D_w``, ``E_wm`` of the learned path weights. With the complete head
``K_p = L1(A1) + L2(A2) L3(A3)`` every field pair's kernel expands into

    K_p = a1 D1 + a2 a3 D2 D3
          + sum_m x_m (a1' E1m + a2 a3' D2 E3m + a2' a3 E2m D3)
          + sum_{m <= l} x_m x_l a2' a3' (E2m E3l + E2l E3m, or E2m E3m when m = l),

so ``vec K_p = H_p phi_p``: invariant coefficients times monomials of ``x`` as features
(``2 + 3n + n(n+1)/2`` of them per pair; ``1 + n`` for the single head ``K_p = L1(A1)``) and a head
``H_p`` built from the path weights once per call. Point layers sum ``phi (x) input`` over
neighbours and apply the head per node; no ``(2^n, 2^n)`` operator is formed per edge. The
parameters and the function are those of the dense evaluation, so state dicts are interchangeable.
"""

from __future__ import annotations

import torch

from groups.clifford.network import CliffordKernelNetwork
from groups.clifford.rep import CliffordRep
from groups.kernel_network import LinearHeadKernelNetwork


def spans_vector_subalgebra(attr: CliffordRep | None) -> bool:
    """Whether a kernel network with attributes ``attr`` keeps its channels in ``span{1, x}``:
    no attributes, or scalar (grade-0) fields only."""
    return attr is None or all(field == (0,) for field in getattr(attr, "fields", ((1,),)))


class FactoredCliffordKernelNetwork(CliffordKernelNetwork, LinearHeadKernelNetwork):
    """:class:`~groups.clifford.network.CliffordKernelNetwork` (same arguments and parameters)
    evaluated as ``vec K = head() @ features(x, a)``; ``attr`` must be absent or scalar fields."""

    def __init__(self, group, rep_in, rep_out, attr=None, **options):
        super().__init__(group, rep_in, rep_out, attr, **options)
        if not spans_vector_subalgebra(attr):
            raise ValueError(f"the factored Clifford kernel takes scalar attributes only (grade-0 fields), "
                             f"got {attr!r}")
        n = self.algebra.n
        self.features_per_pair = 1 + n if self.head_kind == "single" else 2 + 3 * n + n * (n + 1) // 2
        self.feature_size = self.n_pairs * self.features_per_pair
        upper = torch.triu_indices(n, n)
        self.register_buffer("upper", upper, persistent=False)
        # E2m E3l + E2l E3m counts the diagonal m = l twice
        self.register_constant("diagonal_halves", 1 - 0.5 * (upper[0] == upper[1]).double())
        self.register_constant("units", torch.eye(self.algebra.dim)[: 1 + n])  # 1, e_1, .., e_n

    def span_outputs(self, x: torch.Tensor, attr: torch.Tensor | None) -> torch.Tensor:
        """The output multivectors ``a + a' x`` as ``(..., operators, pairs, 2)`` coefficients,
        pairs in ``pair_order``."""
        q, scalars = self.scalar_inputs(x)
        if attr is not None:
            scalars = torch.cat([scalars, attr], dim=-1)
        alpha = torch.cat([torch.zeros_like(q), scalars], dim=-1)
        beta = torch.cat([torch.ones_like(q), torch.zeros_like(scalars)], dim=-1)
        h = torch.stack([alpha, beta], dim=-1)
        for layer in self.body:
            h = layer.on_span(h, q)
        outputs = self.output.on_span(h).unflatten(-2, (self.n_operators, self.n_pairs))
        return outputs.index_select(-2, self.pair_order)

    def features(self, x, attr=None):
        """``phi_p`` per pair (see the module docstring), pairs in ``pair_order``:
        ``(..., pairs * features_per_pair)``."""
        outputs = self.span_outputs(x, attr)
        a, d = outputs[..., 0, None], outputs[..., 1, None]  # (..., operators, pairs, 1): a, a'
        linear = x[..., None, :]
        if self.head_kind == "single":
            parts = [a[..., 0, :, :], d[..., 0, :, :] * linear]
        else:
            (a1, a2, a3), (d1, d2, d3) = a.unbind(-3), d.unbind(-3)
            quadratic = (x[..., self.upper[0]] * x[..., self.upper[1]])[..., None, :]
            parts = [a1, a2 * a3, d1 * linear, a2 * d3 * linear, d2 * a3 * linear, d2 * d3 * quadratic]
        return torch.cat(parts, dim=-1).flatten(-2)

    def type_heads(self, like: torch.Tensor) -> list[torch.Tensor]:
        """Per pair type ``t``, ``H_t`` ``(P_t, features_per_pair, |R_t|, |C_t|)`` in ``like``'s
        dtype: the columns of the module docstring's expansion, restricted to the type's blades."""
        weights = self.paths().to(like.dtype).index_select(1, self.pair_order).split(self.type_sizes, dim=1)
        units = self.constant("units", like)
        left = self.algebra.left_multiplication
        heads = []
        for t, w in enumerate(weights):
            rows, cols = getattr(self, f"rows_{t}"), getattr(self, f"cols_{t}")
            first = left(units, w[0][:, None], rows, cols)  # (P, 1 + n, R, C): D1, E1m
            columns = [first[:, :1], first[:, 1:]]
            if self.head_kind == "complete":
                second, third = left(units, w[1][:, None], rows, None), left(units, w[2][:, None], None, cols)
                d2, e2, d3, e3 = second[:, :1], second[:, 1:], third[:, :1], third[:, 1:]
                products = e2[:, :, None] @ e3[:, None]  # (P, n, n, R, C): E2m E3l
                symmetric = (products + products.transpose(1, 2))[:, self.upper[0], self.upper[1]]
                halves = self.constant("diagonal_halves", like)[None, :, None, None]
                columns = [columns[0], d2 @ d3, columns[1], d2 @ e3, e2 @ d3, symmetric * halves]
            heads.append(torch.cat(columns, dim=1))
        return heads

    def head(self) -> torch.Tensor:
        """The per-pair heads as one dense ``(out_size * in_size, feature_size)`` matrix (each pair
        fills its own block)."""
        like = self.radial_centers
        dense = like.new_zeros(self.out_size * self.in_size, self.feature_size)
        features, start = torch.arange(self.features_per_pair), 0
        for t, head in enumerate(self.type_heads(like)):
            pairs = head.shape[0]
            rows = getattr(self, f"index_{t}").flatten(1)  # (P, R C)
            cols = (start + torch.arange(pairs))[:, None] * self.features_per_pair + features
            dense[rows[:, :, None], cols[:, None, :]] = head.flatten(2).transpose(1, 2)
            start += pairs
        return dense

    def _type_features(self, phi: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(..., feature_size)`` -> per type ``(..., P_t, features_per_pair)``."""
        return phi.unflatten(-1, (self.n_pairs, self.features_per_pair)).split(self.type_sizes, dim=-2)

    def head_map(self, like):
        """Pair by pair: ``A_p = sum_e phi_p[e] v_e[C_p]^T`` ``(F, |C|)`` for the pair's input
        blades, then ``out[R_p] += H_p . A_p``, batched over the pairs of each type."""
        heads = self.type_heads(like)
        index = [getattr(self, f"index_{t}") for t in range(len(heads))]
        out_positions = [i[:, :, 0] // self.in_size for i in index]  # (P, R)
        in_positions = [i[:, 0, :] % self.in_size for i in index]  # (P, C)

        def apply(phi: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            out = v.new_zeros(v.shape[0], self.out_size)
            for head, features, rows, cols in zip(heads, self._type_features(phi), out_positions, in_positions):
                sums = torch.einsum("nwpf,nwpc->npfc", features, v[..., cols])
                out = out.index_add(1, rows.flatten(), torch.einsum("npfc,pfrc->npr", sums, head).flatten(1))
            return out

        return apply

    def forward(self, x, attr=None):
        heads = self.type_heads(x)
        blocks = [torch.einsum("...pf,pfrc->...prc", features, head)
                  for features, head in zip(self._type_features(self.features(x, attr)), heads)]
        return self.assemble(blocks)
