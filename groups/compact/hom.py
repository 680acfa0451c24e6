"""The irreps of ``Hom(rho_in, rho_out) = rho_out (x) rho_in^*`` and its change of basis, applied
block by block.

With ``rho = Q_r D_r Q_r^-1`` (``D_r`` a direct sum of escnn's orthogonal irreps),
``rho_out (x) rho_in^-T = (Q_out (x) Q_in^-T) (D_out (x) D_in) (...)^-1``, and ``D_out (x) D_in``
splits into the irrep pairs ``psi_a (x) phi_b``, each decomposed by escnn as
``psi (x) phi = C_psi,phi (irreps) C_psi,phi^-1``. A vector of Hom coordinates (irrep components)
therefore becomes a row-major ``vec K`` by one small matmul ``C_psi,phi`` per copy of each irrep
pair, a permutation of the rows, and ``K -> Q_out K Q_in^-1``: ``sum (dim psi dim phi)^2`` numbers
to store and multiply instead of the dense ``(C_out C_in)^2`` change of basis.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
from escnn.group import IrreducibleRepresentation

from groups.compact.layers import IrrepLayout, irrep_permutation
from groups.compact.rep import EscnnRep
from groups.kernel_network import ConstantsModule


@cache
def _irrep_tensor(psi: IrreducibleRepresentation, phi: IrreducibleRepresentation):
    """escnn's decomposition ``psi (x) phi = C (irreps) C^-1`` (Kronecker order), cached per pair."""
    product = psi.tensor(phi)
    group = psi.group
    return [group.irrep(*i) for i in product.irreps], np.asarray(product.change_of_basis, dtype=np.float64)


def hom_irreps(rep_in: EscnnRep, rep_out: EscnnRep) -> list[IrreducibleRepresentation]:
    """The irreps of ``rho_out (x) rho_in^*``, pair by pair (output irrep major)."""
    return [psi for a in rep_out.irreps for b in rep_in.irreps for psi in _irrep_tensor(a, b)[0]]


class HomBasis(ConstantsModule):
    """``vec K = Q h``: Hom coordinates ``h`` in ``layout`` (which holds every irrep of
    :func:`hom_irreps` once per occurrence) to row-major ``vec K`` over ``(C_out, C_in)``, with
    ``rho_out(g) (x) rho_in(g)^-T = Q (irreps(g)) Q^-1``; ``Q`` is applied blockwise (module
    docstring), never formed.

    ``forward``: ``(layout.size, F)`` -> ``(C_out * C_in, F)``, exact in float64.
    """

    def __init__(self, rep_in: EscnnRep, rep_out: EscnnRep, layout: IrrepLayout):
        super().__init__()
        self.in_size, self.out_size = rep_in.size, rep_out.size
        # position in `layout` of each coordinate in pair-major order
        to_layout = torch.argsort(irrep_permutation(hom_irreps(rep_in, rep_out), layout))
        out_starts = np.cumsum([0] + [p.size for p in rep_out.irreps])
        in_starts = np.cumsum([0] + [p.size for p in rep_in.irreps])
        pairs: dict[tuple, list[tuple[np.ndarray, np.ndarray]]] = {}
        column = 0
        for a, psi in enumerate(rep_out.irreps):
            for b, phi in enumerate(rep_in.irreps):
                block = psi.size * phi.size
                out_rows = out_starts[a] + np.arange(psi.size)
                rows = (out_rows[:, None] * self.in_size + in_starts[b] + np.arange(phi.size)).reshape(-1)
                pairs.setdefault((psi, phi), []).append((rows, to_layout[column:column + block].numpy()))
                column += block
        # pair types with as many blocks of the same size share one batched matmul
        batches: dict[tuple[int, int], list[tuple]] = {}
        for (psi, phi), blocks in pairs.items():
            batches.setdefault((len(blocks), psi.size * phi.size), []).append((psi, phi, blocks))
        rows, coordinates = [], []
        self._batch_shapes: list[tuple[int, int, int]] = []  # per batch: (pair types, blocks, psi.size * phi.size)
        for b, ((count, size), members) in enumerate(batches.items()):
            self.register_constant(f"cg_{b}", np.stack([_irrep_tensor(psi, phi)[1] for psi, phi, _ in members]))
            for _, _, blocks in members:
                coordinates.append(np.stack([c for _, c in blocks]))
                rows.extend(r for r, _ in blocks)
            self._batch_shapes.append((len(members), count, size))
        # the coordinates every pair type takes from h (batch by batch), gathered at once (a gather per type would
        # each zero-fill a gradient of h's full size in the backward pass)
        self.register_buffer("coordinates", torch.as_tensor(np.concatenate([c.reshape(-1) for c in coordinates])),
                             persistent=False)
        # vec K = (the pairs' blocks, stacked)[order]
        self.register_buffer("order", torch.argsort(torch.as_tensor(np.concatenate(rows))), persistent=False)
        self.outer = not (_is_identity(rep_out.change_of_basis) and _is_identity(rep_in.change_of_basis))
        if self.outer:
            self.register_constant("q_out", rep_out.change_of_basis)
            self.register_constant("q_in_inverse", np.linalg.inv(rep_in.change_of_basis))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        gathered = h[self.coordinates].split([math.prod(shape) for shape in self._batch_shapes])
        blocks = [self.constant(f"cg_{b}", h)[:, None] @ part.unflatten(0, shape)
                  for b, (part, shape) in enumerate(zip(gathered, self._batch_shapes))]
        vec = torch.cat([block.reshape(-1, h.shape[-1]) for block in blocks])[self.order]
        if not self.outer:
            return vec
        k = vec.reshape(self.out_size, self.in_size, -1)
        k = torch.einsum("oa,abf,bi->oif", self.constant("q_out", h), k, self.constant("q_in_inverse", h))
        return k.reshape(self.out_size * self.in_size, -1)


def _is_identity(matrix: np.ndarray) -> bool:
    return bool(np.array_equal(matrix, np.eye(len(matrix))))


class HomContraction(ConstantsModule):
    """The compact kernel network's head applied to neighbour sums without forming the head.

    The head maps fields ``phi`` (``fields`` layout) by an :class:`~groups.compact.layers.IrrepLinear`
    onto Hom coordinates and those by :class:`HomBasis` onto ``vec K``. For a node with
    neighbour sums ``A = sum_e phi_e v_e^T`` (``v`` in the irrep coordinates of ``rho_in``) the
    output in the irrep coordinates of ``rho_out`` is, copy ``a`` of an output irrep ``alpha`` at a
    time,

        out_a[i] = sum_{beta, k} sum_{b, f, e} W_psi[c(a, b, k), f, e] sum_{p, j} CE_e[i, j, p] A[(f, p), (b, j)]

    over the input irreps ``beta`` and their copies ``b``, the ``k``-th irrep ``psi`` of
    ``alpha (x) beta`` (Clebsch-Gordan columns ``C[i, j, p]``), the fields ``f`` of type ``psi``, the
    endomorphism basis ``E_e`` of ``psi`` (``CE_e = C E_e``), and the Hom copy ``c(a, b, k)`` of
    ``psi`` the pair uses. Work and memory are those of the irrep triples ``(alpha, beta, psi)``;
    the dense ``(C_out C_in, F)`` head, which for wide reps of high degree costs more than the rest
    of a training step on small graphs, is never formed. The neighbour sums are formed per pair
    of a field type and an input irrep, from one split of ``phi`` and of ``v``.

    ``forward(phi, v, weights)``: features ``(m, w, F)``, inputs ``(m, w, C_in)`` (irrep
    coordinates) of ``w`` edges per node and the IrrepLinear's weights by key -> ``(m, C_out)``
    in irrep coordinates.
    """

    def __init__(self, rep_in: EscnnRep, rep_out: EscnnRep, fields: IrrepLayout, hom_layout: IrrepLayout,
                 weight_keys: dict[IrreducibleRepresentation, str]):
        super().__init__()
        field_blocks = {psi: (index, m) for index, (psi, m, _) in enumerate(fields.blocks())}
        self._field_sizes = [sl.stop - sl.start for _, _, sl in fields.blocks()]
        copy_of = _hom_copy_numbers(rep_in, rep_out)
        out_starts = _starts_by_irrep(rep_out.irreps)
        in_starts = _starts_by_irrep(rep_in.irreps)
        # v is split by input irrep type, copies of a type side by side
        self.register_buffer("input_order", torch.tensor(
            [b + j for beta, b_starts in in_starts.items() for b in b_starts for j in range(beta.size)]),
            persistent=False)
        self._input_sizes = [len(b_starts) * beta.size for beta, b_starts in in_starts.items()]
        self.triples: list[tuple[str, int, int, int, int, int, int, int]] = []
        for t, (alpha, a_starts) in enumerate(out_starts.items()):
            for u, (beta, b_starts) in enumerate(in_starts.items()):
                products, cg = _irrep_tensor(alpha, beta)
                column = 0
                for k, psi in enumerate(products):
                    columns = slice(column, column + psi.size)
                    column += psi.size
                    if psi not in field_blocks or psi not in weight_keys:
                        continue  # no field of this type reaches the head: the path is zero
                    name = f"triple_{len(self.triples)}"
                    endo = np.asarray(psi.endomorphism_basis(), dtype=np.float64)  # (B, d, d)
                    ce = np.einsum("ijq,eqp->eijp", cg[:, columns].reshape(alpha.size, beta.size, psi.size), endo)
                    self.register_constant(f"{name}_ce", ce)
                    self.register_buffer(f"{name}_copies", torch.tensor(
                        [[copy_of[(a, b, k)] for b in b_starts] for a in a_starts]), persistent=False)
                    block, m_psi = field_blocks[psi]
                    self.triples.append((weight_keys[psi], t, block, u, m_psi, psi.size, len(b_starts), beta.size))
        # the outputs come type by type (copy-major); this index puts them in rho_out's irrep order
        self.register_buffer("output_order", torch.argsort(torch.tensor(
            [a + i for alpha, a_starts in out_starts.items() for a in a_starts for i in range(alpha.size)])),
            persistent=False)
        self._out_copies = [(len(a_starts), alpha.size) for alpha, a_starts in out_starts.items()]

    def forward(self, phi: torch.Tensor, v: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        m = phi.shape[0]
        phis = [block.transpose(1, 2) for block in phi.split(self._field_sizes, dim=-1)]
        vs = v[..., self.input_order].split(self._input_sizes, dim=-1)
        sums: dict[tuple[int, int], torch.Tensor] = {}
        per_type: list[torch.Tensor | None] = [None] * len(self._out_copies)
        for index, (key, t, block, u, m_psi, d_psi, n_beta, d_beta) in enumerate(self.triples):
            if (block, u) not in sums:
                sums[(block, u)] = (phis[block] @ vs[u]).reshape(m, m_psi, d_psi, n_beta, d_beta)
            name = f"triple_{index}"
            # r[m, f, b, i, e] = sum_{p, j} CE_e[i, j, p] A[(f, p), (b, j)]
            r = torch.einsum("eijp,mfpbj->mfbie", self.constant(f"{name}_ce", phi), sums[(block, u)])
            w = weights[key][getattr(self, f"{name}_copies")]  # (n_alpha, n_beta, m_psi, B)
            contribution = torch.einsum("abfe,mfbie->mai", w.to(phi.dtype), r)
            per_type[t] = contribution if per_type[t] is None else per_type[t] + contribution
        blocks = [phi.new_zeros(m, n, d) if block is None else block
                  for block, (n, d) in zip(per_type, self._out_copies)]
        return torch.cat([block.flatten(1) for block in blocks], dim=1)[:, self.output_order]


def _starts_by_irrep(irreps: list[IrreducibleRepresentation]) -> dict[IrreducibleRepresentation, list[int]]:
    """The offsets of the copies of every irrep in a vector ordered as ``irreps``."""
    starts: dict[IrreducibleRepresentation, list[int]] = {}
    offset = 0
    for irrep in irreps:
        starts.setdefault(irrep, []).append(offset)
        offset += irrep.size
    return starts


def _hom_copy_numbers(rep_in: EscnnRep, rep_out: EscnnRep) -> dict[tuple[int, int, int], int]:
    """``(output offset, input offset, k) -> copy``: which copy of its irrep the ``k``-th Hom irrep
    of an irrep pair is, counted in :func:`hom_irreps` order (as the Hom layout counts them)."""
    seen: dict[IrreducibleRepresentation, int] = {}
    copies = {}
    out_offset = 0
    for alpha in rep_out.irreps:
        in_offset = 0
        for beta in rep_in.irreps:
            for k, psi in enumerate(_irrep_tensor(alpha, beta)[0]):
                copies[(out_offset, in_offset, k)] = seen.get(psi, 0)
                seen[psi] = seen.get(psi, 0) + 1
            in_offset += beta.size
        out_offset += alpha.size
    return copies
