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
        self.pair_count = len(pairs)
        rows = []
        for t, ((psi, phi), blocks) in enumerate(pairs.items()):
            self.register_constant(f"cg_{t}", _irrep_tensor(psi, phi)[1])
            self.register_buffer(f"coordinates_{t}", torch.as_tensor(np.stack([c for _, c in blocks])),
                                 persistent=False)
            rows.extend(r for r, _ in blocks)
        # vec K = (the pairs' blocks, stacked)[order]
        self.register_buffer("order", torch.argsort(torch.as_tensor(np.concatenate(rows))), persistent=False)
        self.outer = not (_is_identity(rep_out.change_of_basis) and _is_identity(rep_in.change_of_basis))
        if self.outer:
            self.register_constant("q_out", rep_out.change_of_basis)
            self.register_constant("q_in_inverse", np.linalg.inv(rep_in.change_of_basis))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        blocks = [self.constant(f"cg_{t}", h) @ h[getattr(self, f"coordinates_{t}")]
                  for t in range(self.pair_count)]
        vec = torch.cat([block.reshape(-1, h.shape[-1]) for block in blocks])[self.order]
        if not self.outer:
            return vec
        k = vec.reshape(self.out_size, self.in_size, -1)
        k = torch.einsum("oa,abf,bi->oif", self.constant("q_out", h), k, self.constant("q_in_inverse", h))
        return k.reshape(self.out_size * self.in_size, -1)


def _is_identity(matrix: np.ndarray) -> bool:
    return bool(np.array_equal(matrix, np.eye(len(matrix))))
