"""Pooling that commutes with the group: sums and means over points or grid cells.

Any linear combination of features with invariant (position-independent) weights is equivariant
for every rep, so sums and means are; a componentwise max is not (it mixes components of a field
differently in different frames) and is not offered.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from groups import Rep
from implicit_kernels.module import EquivariantModule
from implicit_kernels.validation import check_dtypes, check_features

_REDUCTIONS = ("sum", "mean")
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def global_pool(f: torch.Tensor, batch: torch.Tensor | None = None, reduce: str = "mean",
                num_graphs: int | None = None) -> torch.Tensor:
    """Sum or mean of point features per graph: ``(N, C)`` features and ``(N,)`` integer graph ids
    (``None``: one graph) -> ``(num_graphs, C)``. ``num_graphs`` defaults to ``batch.max() + 1``;
    graphs without points get zeros."""
    if reduce not in _REDUCTIONS:
        raise ValueError(f"reduce must be one of {_REDUCTIONS} (a max is not equivariant), got {reduce!r}")
    if not torch.is_tensor(f) or f.dim() != 2:
        raise ValueError(f"features must be an (N, C) tensor, got shape {tuple(getattr(f, 'shape', ()))}")
    if batch is None:
        pooled = f.sum(0, keepdim=True)
        return pooled / max(f.shape[0], 1) if reduce == "mean" else pooled
    if not torch.is_tensor(batch) or batch.dtype not in (torch.int64, torch.int32) or batch.shape != f.shape[:1]:
        raise ValueError(
            f"batch must be an integer tensor of shape ({f.shape[0]},), got "
            f"{getattr(batch, 'dtype', type(batch).__name__)} of shape {tuple(getattr(batch, 'shape', ()))}"
        )
    if batch.numel() and int(batch.min()) < 0:
        raise ValueError(f"graph ids must be non-negative, got {int(batch.min())}")
    count = num_graphs if num_graphs is not None else (int(batch.max()) + 1 if batch.numel() else 0)
    batch = batch.to(torch.int64)
    pooled = f.new_zeros(count, f.shape[1]).index_add(0, batch, f)
    if reduce == "mean":
        sizes = torch.bincount(batch, minlength=count).clamp_min(1).to(f.dtype)
        pooled = pooled / sizes[:, None]
    return pooled


class GlobalPool(EquivariantModule):
    """:func:`global_pool` as the readout of a graph network: ``(N, rep.size)`` node features and the
    ``(N,)`` graph ids ``batch`` -> ``(num_graphs, rep.size)``. In a :class:`Sequential` it receives
    ``batch`` from the call (one graph when it is ``None``) and ends the graph part of the chain:
    only pointwise modules may follow it."""

    inputs = "graph"
    reduces_nodes = True

    def __init__(self, rep: Rep, reduce: str = "mean"):
        super().__init__()
        if reduce not in _REDUCTIONS:
            raise ValueError(f"reduce must be one of {_REDUCTIONS} (a max is not equivariant), got {reduce!r}")
        self.rep_in = self.rep_out = rep
        self.reduce = reduce

    def forward(self, f: torch.Tensor, pos: torch.Tensor | None = None, edge_index: torch.Tensor | None = None,
                attr: torch.Tensor | None = None, batch: torch.Tensor | None = None) -> torch.Tensor:
        check_features(f, self.rep_in, dim=f.dim() - 1, what="GlobalPool input")
        check_dtypes(self, f, "GlobalPool input")
        return global_pool(f, batch, self.reduce)

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}"


class GridAvgPool(EquivariantModule):
    """Average pooling of grid features over ``kernel_size^n`` blocks with stride ``kernel_size``:
    ``(B, rep.size, *spatial) -> (B, rep.size, *spatial / kernel_size)``.

    The mean acts on every channel alike, so it commutes with ``rho(g)``; it commutes with the
    grid's signed permutations when every spatial size is a multiple of ``kernel_size`` (the blocks
    then map to blocks), which :meth:`forward` requires.
    """

    inputs = "grid"

    def __init__(self, rep: Rep, kernel_size: int = 2):
        super().__init__()
        if rep.group.n not in _AVG_POOL:
            raise ValueError(
                f"grid pooling supports groups acting on R^1..R^3, {rep.group.name} acts on R^{rep.group.n}"
            )
        if not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive int, got {kernel_size!r}")
        self.rep_in = self.rep_out = rep
        self.kernel_size = kernel_size

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        n = self.group.n
        check_features(f, self.rep_in, dim=1, what="GridAvgPool input")
        check_dtypes(self, f, "GridAvgPool input")
        if f.dim() != n + 2 or any(s % self.kernel_size for s in f.shape[2:]):
            raise ValueError(
                f"GridAvgPool input must be (B, {self.rep_in.size}, *spatial) with {n} spatial sizes divisible "
                f"by kernel_size = {self.kernel_size}, got shape {tuple(f.shape)}"
            )
        return _AVG_POOL[n](f, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"
