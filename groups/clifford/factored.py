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

so ``vec K_p = H_p phi_p``: invariant coefficients times monomials of ``x`` as features (at most
``2 + 3n + n(n+1)/2`` per pair; ``1 + n`` for the single head ``K_p = L1(A1)``) and a head ``H_p``
built from the path weights once per call. Columns of ``H_p`` that vanish for every path weight
between the pair's grades (``E1m`` between two scalars, the ``m != l`` products between a scalar
and a scalar, ...) are dropped with their features, found once at construction with random path
weights. Point layers sum ``phi (x) input`` over neighbours and apply the head per node; no
``(2^n, 2^n)`` operator is formed per edge. The parameters and the function are those of the dense
evaluation, so state dicts are interchangeable.
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
    evaluated as ``vec K = head() @ features(x, a)``; ``attr`` must be absent or scalar fields.

    The columns of the expansion are numbered ``[a1 | a2 a3 | a1' x_m | a2 a3' x_m | a2' a3 x_m |
    a2' a3' x_m x_l (m <= l)]`` (the first and third group only for the single head); each pair
    type ``t`` keeps the columns ``columns_t`` on which its head can be non-zero."""

    def __init__(self, group, rep_in, rep_out, attr=None, **options):
        super().__init__(group, rep_in, rep_out, attr, **options)
        if not spans_vector_subalgebra(attr):
            raise ValueError(f"the factored Clifford kernel takes scalar attributes only (grade-0 fields), "
                             f"got {attr!r}")
        n = self.algebra.n
        upper = torch.triu_indices(n, n)
        self.register_buffer("upper", upper, persistent=False)
        # E2m E3l + E2l E3m counts the diagonal m = l twice
        self.register_constant("diagonal_halves", 1 - 0.5 * (upper[0] == upper[1]).double())
        self._register_unit_operators()
        # every column as (coefficient kind, monomial): kinds as in `factors`, monomials [1, x_1 .. x_n,
        # x_m x_l (m <= l)]; per block of monomials, the kinds it pairs with, columns kind-major
        constant, linear, quadratic = slice(0, 1), slice(1, n + 1), slice(n + 1, n + 1 + len(upper[0]))
        self.column_blocks = [(slice(0, 1), constant), (slice(1, 2), linear)]
        if self.head_kind == "complete":
            self.column_blocks = [(slice(0, 2), constant), (slice(2, 5), linear), (slice(5, 6), quadratic)]
        columns = [(k, m) for kinds, block in self.column_blocks
                   for k in range(kinds.start, kinds.stop) for m in range(block.start, block.stop)]
        column_coefficient, column_monomial = torch.tensor(columns).T
        kinds = self.column_blocks[-1][0].stop
        probe = torch.randn(self.paths.mask.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        self.type_columns, coefficient_index, monomial_index = [], [], []
        pairs = self.pair_order.split(self.type_sizes)
        for t, head in enumerate(self._expansions(self.radial_centers, probe * self.paths.mask)):
            size = head.abs().amax(dim=(0, 2, 3))
            kept = (size > 1e-10 * size.max()).nonzero().flatten()
            self.register_buffer(f"columns_{t}", kept, persistent=False)
            self.register_buffer(f"pairs_{t}", pairs[t], persistent=False)
            self.type_columns.append(len(kept))
            coefficient_index.append((pairs[t][:, None] * kinds + column_coefficient[kept]).flatten())
            monomial_index.append(column_monomial[kept].repeat(len(pairs[t])))
        # feature f is coefficients.flatten(-2)[coefficient_index[f]] * monomials[monomial_index[f]]
        self.register_buffer("coefficient_index", torch.cat(coefficient_index), persistent=False)
        self.register_buffer("monomial_index", torch.cat(monomial_index), persistent=False)
        self.type_feature_sizes = [pairs * columns for pairs, columns in zip(self.type_sizes, self.type_columns)]
        self.feature_size = sum(self.type_feature_sizes)

    def _register_unit_operators(self) -> None:
        """Per pair type ``t`` and operator ``k`` (``L1``, and ``L2``, ``L3`` for the complete head),
        the left multiplications by ``1, e_1, .., e_n`` restricted to the blades ``k`` sees
        (``L1``: rows and columns; ``L2``: rows; ``L3``: columns), ``unit_t_k`` ``(1 + n, R, C)``,
        and the flat grade path of each entry, ``path_t_k`` ``(R, C)``: ``L_w(e_m) = unit[m] *
        w.flatten()[path]``."""
        units = torch.eye(self.algebra.dim, dtype=torch.float64)[: 1 + self.algebra.n]
        for t in range(len(self.type_sizes)):
            rows, cols = getattr(self, f"rows_{t}"), getattr(self, f"cols_{t}")
            restrictions = [(rows, cols), (rows, None), (None, cols)][: self.n_operators]
            for k, (r, c) in enumerate(restrictions):
                self.register_constant(f"unit_{t}_{k}", self.algebra.left_multiplication(units, None, r, c))
                self.register_buffer(f"path_{t}_{k}", self.algebra.path_index(r, c), persistent=False)

    def span_outputs(self, x: torch.Tensor, attr: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The output multivectors ``a + a' x`` as coefficients ``a``, ``a'``, each ``(...,
        operators, pairs)``."""
        q, scalars = self.scalar_inputs(x)
        if attr is not None:
            scalars = torch.cat([scalars, attr], dim=-1)
        alpha = torch.cat([torch.zeros_like(q), scalars], dim=-1)
        beta = torch.cat([torch.ones_like(q), torch.zeros_like(scalars)], dim=-1)
        h = (alpha, beta)
        for layer in self.body:
            h = layer.on_span(h, q)
        return tuple(part.unflatten(-1, (self.n_operators, self.n_pairs)) for part in self.output.on_span(h))

    def factors(self, x: torch.Tensor, attr: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The two factors of every feature: the invariant coefficients ``(..., pairs * k)``
        (``[a1, a1']`` per pair for the single head, ``k = 2``; ``[a1, a2 a3, a1', a2 a3', a2' a3,
        a2' a3']`` for the complete one, ``k = 6``) and the monomials ``[1, x_m, x_m x_l (m <= l)]``
        of ``x`` ``(..., 1 + n + n(n+1)/2)``."""
        a, d = self.span_outputs(x, attr)  # (..., operators, pairs): a, a'
        if self.head_kind == "single":
            coefficients = torch.stack([a[..., 0, :], d[..., 0, :]], dim=-1)
        else:
            (a1, a2, a3), (d1, d2, d3) = a.unbind(-2), d.unbind(-2)
            coefficients = torch.stack([a1, a2 * a3, d1, a2 * d3, d2 * a3, d2 * d3], dim=-1)
        monomials = torch.cat([torch.ones_like(x[..., :1]), x, x[..., self.upper[0]] * x[..., self.upper[1]]], dim=-1)
        return coefficients.flatten(-2), monomials

    def expand(self, coefficients: torch.Tensor, monomials: torch.Tensor) -> torch.Tensor:
        """The features from their :meth:`factors`: ``(..., feature_size)``."""
        # advanced indexing: a gather along the last dimension, faster there than index_select
        return coefficients[..., self.coefficient_index] * monomials[..., self.monomial_index]

    def features(self, x, attr=None):
        """``phi_p`` per pair, the kept columns of its type, pairs in ``pair_order``:
        ``(..., feature_size)``."""
        return self.expand(*self.factors(x, attr))

    def neighbour_map(self, like):
        """The base class's map, from the features (:meth:`_neighbour_sums`) or from their factors
        (:meth:`_factored_sums`), whichever keeps fewer numbers per edge for the backward pass: the
        features and their copy in the sums' layout (``2 * feature_size``), or the coefficients and
        the inputs times the monomials (``pairs * k + sum_t I_t |C_t| * monomials``); the heads then
        act per node (:meth:`_apply_heads`). Narrow layers take the first, wide ones the second."""
        plans = self._head_plans(like)
        monomials = self.column_blocks[-1][1].stop
        factored = self.n_pairs * self.column_blocks[-1][0].stop + sum(cols.numel() for *_, cols in plans) * monomials
        from_factors = factored < 2 * self.feature_size

        def apply(x: torch.Tensor, attr: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
            if from_factors:
                return self._apply_heads(plans, self._factored_sums(plans, *self.factors(x, attr), v), v)
            return self._apply_heads(plans, self._neighbour_sums(plans, self.features(x, attr), v), v)

        return apply

    def type_heads(self, like: torch.Tensor) -> list[torch.Tensor]:
        """Per pair type ``t``, ``H_t`` ``(P_t, columns_t, |R_t|, |C_t|)`` in ``like``'s dtype: the
        kept columns of the expansion with the module's path weights."""
        return [head.index_select(1, getattr(self, f"columns_{t}"))
                for t, head in enumerate(self._expansions(like, self.paths()))]

    def _expansions(self, like: torch.Tensor, path_weights: torch.Tensor) -> list[torch.Tensor]:
        """Per pair type, every column of the expansion for ``path_weights`` ``(operators, pairs,
        n+1, n+1, n+1)``, restricted to the type's blades: ``(P_t, columns, |R_t|, |C_t|)``."""
        weights = path_weights.to(like.dtype).index_select(1, self.pair_order).flatten(-3).split(self.type_sizes, dim=1)
        heads = []
        for t, w in enumerate(weights):
            # operator k of every pair on 1, e_1, .., e_n: (P, 1 + n, R', C')
            first, *others = [self.constant(f"unit_{t}_{k}", like) * w[k][:, None, getattr(self, f"path_{t}_{k}")]
                              for k in range(self.n_operators)]
            columns = [first[:, :1], first[:, 1:]]  # D1, E1m
            if self.head_kind == "complete":
                second, third = others
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
        start = 0
        for t, head in enumerate(self.type_heads(like)):
            pairs, columns = head.shape[:2]
            rows = getattr(self, f"index_{t}").flatten(1)  # (P, R C)
            cols = start + torch.arange(pairs * columns).reshape(pairs, columns)
            dense[rows[:, :, None], cols[:, None, :]] = head.flatten(2).transpose(1, 2)
            start += pairs * columns
        return dense

    def _type_features(self, phi: torch.Tensor) -> list[torch.Tensor]:
        """``(..., feature_size)`` -> per type ``(..., P_t, columns_t)``."""
        return [part.unflatten(-1, (pairs, columns)) for part, pairs, columns
                in zip(phi.split(self.type_feature_sizes, dim=-1), self.type_sizes, self.type_columns)]

    def head_map(self, like):
        """Per pair type, whose pairs are every out field ``o`` times every in field ``i`` with its
        blades (``P_t = O_t I_t``): ``A[i, o] = sum_e phi_oi[e] v_e[C_i]^T`` ``(F, |C|)``, one
        batched product per node and in field (:meth:`_neighbour_sums`), then ``out[R_o] += sum_i
        H_oi . A[i, o]``, one per out field (:meth:`_apply_heads`)."""
        plans = self._head_plans(like)
        return lambda phi, v: self._apply_heads(plans, self._neighbour_sums(plans, phi, v), v)

    def _head_plans(self, like: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per pair type: its head ``(O_t, I_t, columns_t, |R_t|, |C_t|)``, the output rows of its out
        fields ``(O_t |R_t|,)`` and the input columns of its in fields ``(I_t, |C_t|)``."""
        plans = []
        for t, head in enumerate(self.type_heads(like)):
            index = getattr(self, f"index_{t}")  # (P, R, C)
            out_rows, in_cols = index[:, :, 0] // self.in_size, index[:, 0, :] % self.in_size
            fields_out = len(torch.unique(out_rows[:, 0]))
            fields_in = head.shape[0] // fields_out
            plans.append((head.unflatten(0, (fields_out, fields_in)), out_rows[::fields_in].flatten(),
                          in_cols[:fields_in]))
        return plans

    def _neighbour_sums(self, plans, phi: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per pair type, ``A[n, i, o] = sum_w phi_oi[n, w] v[n, w, C_i]^T`` ``(m, I_t, O_t, columns_t,
        |C_t|)`` from features ``(m, w, feature_size)`` and inputs ``(m, w, in_size)``."""
        return tuple(torch.einsum("nwoif,nwic->niofc", features.unflatten(2, head.shape[:2]), v[..., cols])
                     for (head, _, cols), features in zip(plans, self._type_features(phi)))

    def _factored_sums(self, plans, coefficients: torch.Tensor, monomials: torch.Tensor,
                       v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`_neighbour_sums` of the features ``phi = coefficient * monomial`` from their
        :meth:`factors`, without forming them: per block of monomials ``s`` (``1``; ``x_m``;
        ``x_m x_l``) and the coefficient kinds ``k`` it pairs with,

            A[n, i, o, (k, s), c] = sum_w coefficient[n, w, o, i, k] (monomial_s v_c)[n, w, i],

        one batched product per block; then the type's kept columns. The products cost what the
        features' contraction costs, plus the columns a type drops; no ``feature_size`` wide
        tensor is formed or kept per edge, only the coefficients and the inputs times the
        monomials."""
        coefficients = coefficients.unflatten(-1, (self.n_pairs, -1))
        sums = []
        for t, (head, _, cols) in enumerate(plans):
            pairs = coefficients.index_select(-2, getattr(self, f"pairs_{t}")).unflatten(-2, head.shape[:2])
            inputs = v[..., cols]  # (m, w, I, C)
            blocks = []
            for kinds, block in self.column_blocks:
                scaled = inputs[..., None] * monomials[..., None, None, block]  # (m, w, I, C, S)
                blocks.append(torch.einsum("nwoik,nwics->nioksc", pairs[..., kinds], scaled).flatten(3, 4))
            sums.append(torch.cat(blocks, dim=3).index_select(3, getattr(self, f"columns_{t}")))
        return tuple(sums)

    def _apply_heads(self, plans, sums: tuple[torch.Tensor, ...], v: torch.Tensor) -> torch.Tensor:
        """``out[n, R_o] = sum_i H_oi . A[n, i, o]`` summed over the pair types: ``(m, out_size)``
        in the dtype of the inputs ``v`` ``(m, w, in_size)``."""
        out = v.new_zeros(v.shape[0], self.out_size)
        for (head, rows, _), part in zip(plans, sums):
            out = out.index_add(1, rows, torch.einsum("niofc,oifrc->nor", part, head).flatten(1))
        return out

    def forward(self, x, attr=None):
        heads = self.type_heads(x)
        blocks = [torch.einsum("...pf,pfrc->...prc", features, head)
                  for features, head in zip(self._type_features(self.features(x, attr)), heads)]
        return self.assemble(blocks)
