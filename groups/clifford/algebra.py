"""The Clifford algebra Cl(p, q) of ``R^{p,q}`` and the action of O(p, q) on it.

Signature: basis vectors ``e_1 .. e_p`` square to ``+1`` and ``e_{p+1} .. e_{p+q}`` to ``-1``; the
metric is ``eta = diag(+1 (p times), -1 (q times))`` and ``<u, v> = u^T eta v``. Minkowski space
(+,-,-,-) is ``Cl(1, 3)``.

Blades are stored as bitmaps (bit ``i`` set = ``e_{i+1}`` is a factor) and ordered short-lex:
by grade, then lexicographically by their index lists, e.g. for n = 3
``[1, e1, e2, e3, e12, e13, e23, e123]``. A multivector is a ``(..., 2^n)`` tensor of blade
coefficients in that order.

Geometric product: ``e_A e_B = s(A, B) e_{A xor B}`` with ``s`` the sign of reordering the factors
into sorted order times the squares of the shared factors; :attr:`CliffordAlgebra.cayley` holds
it as a dense ``(2^n, 2^n, 2^n)`` table ``C[a, b, c]`` with ``(x y)_c = sum_ab x_a y_b C[a, b, c]``.

O(p, q) acts grade-wise by exterior powers: the grade-k block of ``rho(g)`` is the matrix of
``k x k`` minors of ``g``, ``rho(g) e_J = (g e_j1) ^ ... ^ (g e_jk) = sum_I det(g[I, J]) e_I``.
For ``g`` in O(p, q) this outermorphism is an algebra automorphism,
``rho(g)(x y) = (rho(g) x)(rho(g) y)``, commutes with grade projection and reversion and preserves
the quadratic form of every grade; no versor sign conventions are involved.
"""

from __future__ import annotations

import itertools
import math
from functools import cached_property

import torch

from groups.derived_reps import block_diagonal


def _reorder_sign(a: int, b: int) -> int:
    """Sign of moving the factors of blade ``b`` past those of ``a`` into sorted order."""
    swaps, a = 0, a >> 1
    while a:
        swaps += bin(a & b).count("1")
        a >>= 1
    return -1 if swaps % 2 else 1


def _positions(blades: torch.Tensor | None) -> torch.Tensor | slice:
    """Blade positions as an index on the CPU tables; ``None`` for all of them."""
    return slice(None) if blades is None else blades.cpu()


class CliffordAlgebra:
    """Cl(p, q) with ``n = p + q <= 6`` (dense tables of size ``8^n``).

    Attributes:
        p, q, n: signature and dimension.
        metric: float64 ``(n,)`` diagonal of ``eta``.
        blades: bitmaps of the ``2^n`` basis blades in short-lex order.
        grades: long ``(2^n,)`` grade of every blade.
    """

    max_dimension = 6

    def __init__(self, p: int, q: int):
        if p < 0 or q < 0 or not 1 <= p + q <= self.max_dimension:
            raise ValueError(f"Cl(p, q) needs p, q >= 0 and 1 <= p + q <= {self.max_dimension}, got ({p}, {q})")
        self.p, self.q, self.n = p, q, p + q
        self.metric = torch.tensor([1.0] * p + [-1.0] * q, dtype=torch.float64)
        subsets = [c for k in range(self.n + 1) for c in itertools.combinations(range(self.n), k)]
        self.blades = [sum(1 << i for i in c) for c in subsets]
        self.index_of = {blade: i for i, blade in enumerate(self.blades)}
        self.grades = torch.tensor([len(c) for c in subsets], dtype=torch.long)

    @property
    def dim(self) -> int:
        return 1 << self.n

    def grade_indices(self, k: int) -> torch.Tensor:
        """Positions of the grade-``k`` blades (a contiguous range in short-lex order)."""
        return (self.grades == k).nonzero().flatten()

    def blade_name(self, i: int) -> str:
        bits = [str(j + 1) for j in range(self.n) if self.blades[i] >> j & 1]
        return "e" + "".join(bits) if bits else "1"

    # ----------------------------------------------------------------------------------------
    # the product
    def _product_sign(self, a: int, b: int) -> float:
        squares = math.prod(float(self.metric[j]) for j in range(self.n) if (a & b) >> j & 1)
        return _reorder_sign(a, b) * squares

    @cached_property
    def product_index(self) -> torch.Tensor:
        """``(2^n, 2^n)`` long: position of ``e_a e_b`` (blade ``a xor b``)."""
        return torch.tensor([[self.index_of[a ^ b] for b in self.blades] for a in self.blades])

    @cached_property
    def product_sign(self) -> torch.Tensor:
        """``(2^n, 2^n)`` float64 ``s(a, b)`` with ``e_a e_b = s(a, b) e_{a xor b}``."""
        return torch.tensor([[self._product_sign(a, b) for b in self.blades] for a in self.blades], dtype=torch.float64)

    @cached_property
    def cayley(self) -> torch.Tensor:
        """Dense float64 ``(2^n, 2^n, 2^n)`` table ``C[a, b, c]``: ``(x y)_c = sum x_a y_b C[a, b, c]``."""
        table = torch.zeros(self.dim, self.dim, self.dim, dtype=torch.float64)
        rows = torch.arange(self.dim)
        table[rows[:, None], rows[None, :], self.product_index] = self.product_sign
        return table

    @cached_property
    def left_factor(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(index, sign)``, both ``(2^n, 2^n)``: ``e_c`` appears in ``e_a e_b`` for exactly one
        ``a = index[c, b]``, with sign ``sign[c, b] = s(a, b)``; so ``(x y)_c = sum_b
        x_index[c, b] sign[c, b] y_b`` and left multiplication by ``x`` is a gather."""
        index = self.product_index  # blade c xor b, symmetric
        return index, self.product_sign.gather(0, index)

    @cached_property
    def path_grades(self) -> torch.Tensor:
        """``(3, 2^n, 2^n)`` long: grades ``(of a, of b, of c)`` for ``a = index[c, b]`` as in
        :attr:`left_factor`, i.e. the grade path ``<<x>_ga <y>_gb>_gc`` each term lies on."""
        index, _ = self.left_factor
        g = self.grades
        return torch.stack([g[index], g[None, :].expand_as(index), g[:, None].expand_as(index)])

    def left_multiplication(self, x: torch.Tensor, path_weights: torch.Tensor | None = None,
                            rows: torch.Tensor | None = None, cols: torch.Tensor | None = None) -> torch.Tensor:
        """The matrix ``L`` ``(..., 2^n, 2^n)`` of ``y -> x y`` for multivectors ``x`` ``(..., 2^n)``;
        with ``path_weights`` ``(..., n+1, n+1, n+1)`` (broadcasting with ``x``'s batch) every
        grade path is scaled: ``y -> sum w[i, j, k] <<x>_i <y>_j>_k``, still O(p, q)-equivariant.
        ``rows`` and ``cols`` (blade positions) restrict ``L`` to ``L[rows][:, cols]`` without
        forming the rest."""
        index, sign = self.left_factor
        picked_rows, picked_cols = _positions(rows), _positions(cols)
        matrix = x[..., index[picked_rows][:, picked_cols].to(x.device)]
        matrix = matrix * sign[picked_rows][:, picked_cols].to(device=x.device, dtype=x.dtype)
        if path_weights is None:
            return matrix
        return matrix * path_weights.flatten(-3)[..., self.path_index(rows, cols).to(x.device)]

    def path_index(self, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None) -> torch.Tensor:
        """``(|rows|, |cols|)`` long: the grade path ``(i, j, k)`` of each entry of
        :meth:`left_multiplication` restricted to ``rows`` and ``cols`` (all where ``None``),
        flattened as ``(i (n+1) + j) (n+1) + k``, so that ``path_weights.flatten(-3)[..., index]`` are
        the weights the entries carry."""
        gi, gj, gk = self.path_grades[:, _positions(rows)][:, :, _positions(cols)]
        return (gi * (self.n + 1) + gj) * (self.n + 1) + gk

    @cached_property
    def valid_paths(self) -> torch.Tensor:
        """Bool ``(n+1, n+1, n+1)``: grade paths ``(i, j, k)`` on which ``<<x>_i <y>_j>_k`` can be
        non-zero."""
        valid = torch.zeros(self.n + 1, self.n + 1, self.n + 1, dtype=torch.bool)
        valid[tuple(self.path_grades.reshape(3, -1))] = True
        return valid

    def geometric_product(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x y`` for multivectors ``(..., 2^n)`` (broadcasting)."""
        return torch.einsum("...a,...b,abc->...c", x, y, self.cayley.to(x.dtype))

    # ----------------------------------------------------------------------------------------
    # grades, reversion, quadratic form
    def grade_projection(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """``<x>_k``: zero all but the grade-``k`` components."""
        return x * (self.grades == k).to(device=x.device, dtype=x.dtype)

    @cached_property
    def reversion_signs(self) -> torch.Tensor:
        """``(-1)^(k (k - 1) / 2)`` per blade: reversion multiplies grade ``k`` by this sign."""
        k = self.grades
        return (1 - 2 * ((k * (k - 1) // 2) % 2)).to(torch.float64)

    def reverse(self, x: torch.Tensor) -> torch.Tensor:
        """Reversion ``~x`` (reverses the order of factors in every blade)."""
        return x * self.reversion_signs.to(device=x.device, dtype=x.dtype)

    @cached_property
    def blade_squares(self) -> torch.Tensor:
        """``<~e_A e_A>_0`` per blade: the product of the metric signs of its factors."""
        return torch.tensor(
            [math.prod(float(self.metric[j]) for j in range(self.n) if b >> j & 1) for b in self.blades],
            dtype=torch.float64,
        )

    def quadratic_form(self, x: torch.Tensor) -> torch.Tensor:
        """Per-grade invariant ``q_k(x) = <~<x>_k <x>_k>_0``: ``(..., 2^n) -> (..., n + 1)``.

        O(p, q) preserves each ``q_k``; it is indefinite when ``p, q > 0``, and zero on null
        multivectors (e.g. light-like vectors), which are not zero themselves."""
        weighted = x * x * self.blade_squares.to(device=x.device, dtype=x.dtype)
        out = weighted.new_zeros(*x.shape[:-1], self.n + 1)
        return out.index_add(-1, self.grades.to(x.device), weighted)

    # ----------------------------------------------------------------------------------------
    # the action of O(p, q) and of its Lie algebra
    @cached_property
    def _grade_subsets(self) -> list[torch.Tensor]:
        subsets = [list(itertools.combinations(range(self.n), k)) for k in range(self.n + 1)]
        return [torch.tensor(s, dtype=torch.long) for s in subsets]

    def exterior_power(self, g: torch.Tensor, k: int) -> torch.Tensor:
        """``Lambda^k g``: ``(..., n, n) -> (..., C(n, k), C(n, k))``, entry ``[I, J] = det g[I, J]``."""
        subsets = self._grade_subsets[k].to(g.device)
        if k == 0:
            return g.new_ones(*g.shape[:-2], 1, 1)
        rows = subsets[:, None, :, None].expand(-1, len(subsets), k, k)
        cols = subsets[None, :, None, :].expand(len(subsets), -1, k, k)
        minors = g[..., rows, cols]
        return torch.linalg.det(minors)

    def action(self, g: torch.Tensor) -> torch.Tensor:
        """``rho(g)`` on multivectors: block-diagonal ``(..., 2^n, 2^n)`` of the exterior powers."""
        return block_diagonal([self.exterior_power(g, k) for k in range(self.n + 1)])

    def derivation(self, A: torch.Tensor) -> torch.Tensor:
        """``d rho(A)`` for ``A`` in the Lie algebra of O(p, q) (``(n, n)``): the derivation
        ``e_j1 ^ .. ^ e_jk -> sum_m e_j1 ^ .. ^ (A e_jm) ^ .. ^ e_jk``, ``(2^n, 2^n)`` float64.
        ``rho(exp(t A)) = exp(t d rho(A))``."""
        A = A.to(torch.float64)
        out = torch.zeros(self.dim, self.dim, dtype=torch.float64)
        for col, blade in enumerate(self.blades):
            factors = [j for j in range(self.n) if blade >> j & 1]
            for j in factors:
                rest = blade & ~(1 << j)
                for a in range(self.n):
                    if A[a, j] == 0 or rest >> a & 1:
                        continue
                    # e_a takes e_j's place; moving it to its sorted place crosses the factors between
                    lo, hi = min(a, j), max(a, j)
                    crossed = bin(rest & ((1 << hi) - 1) & ~((1 << (lo + 1)) - 1)).count("1")
                    out[self.index_of[rest | 1 << a], col] += (-1) ** crossed * A[a, j]
        return out

    def __repr__(self) -> str:
        return f"CliffordAlgebra(p={self.p}, q={self.q})"
