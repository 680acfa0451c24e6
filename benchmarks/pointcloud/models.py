"""Models for point-cloud shape classification: clouds ``(B, P, 3)`` -> logits ``(B, classes)``.

* :class:`SteerableClassifier`: steerable point convolutions (implicit or analytic kernels) on a
  farthest-point-sampling hierarchy ``P -> P/4 -> P/16``, scalar/vector (and optionally ``l = 2``)
  fields through :class:`implicit_kernels.nn.Gate`, mean-pooled :class:`implicit_kernels.nn.Invariants`
  and an MLP head; invariant under its group by construction.
* :class:`PointNet`: the non-equivariant baseline, a shared MLP on the centred coordinates, max
  pooling and an MLP head (Qi et al. 2017, without the input and feature transforms).

``MODELS`` maps the names of the training script to constructors.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from benchmarks.channels import gates_last
from benchmarks.mlp import mlp
from groups import Rep, get_group
from implicit_kernels import PointConv
from implicit_kernels.nn import Gate, Invariants, global_pool

# (source level, target level) of every convolution: level 0 is the input cloud, level l + 1 the
# farthest-point sample of level l
STAGES = ((0, 1), (1, 1), (1, 2), (2, 2))


def farthest_point_sampling(pos: Tensor, m: int) -> Tensor:
    """Indices ``(B, m)`` of ``m`` points of each cloud ``pos`` ``(B, N, 3)`` chosen greedily: the first is
    the point farthest from the cloud's centroid, each next one maximises the distance to the chosen
    ones, ``i_{s+1} = argmax_j min_{t <= s} |p_j - p_{i_t}|`` (ties to the lowest index). The choice
    depends on distances only, so it is the same for a rotated, reflected or translated cloud."""
    if not 1 <= m <= pos.shape[1]:
        raise ValueError(f"cannot sample {m} of {pos.shape[1]} points")
    rows = torch.arange(pos.shape[0], device=pos.device)
    current = (pos - pos.mean(1, keepdim=True)).square().sum(-1).argmax(1)
    nearest = torch.full(pos.shape[:2], math.inf, dtype=pos.dtype, device=pos.device)
    chosen = []
    for _ in range(m):
        chosen.append(current)
        nearest = torch.minimum(nearest, (pos - pos[rows, current][:, None]).square().sum(-1))
        current = nearest.argmax(1)
    return torch.stack(chosen, dim=1)


def nearest_neighbours(targets: Tensor, sources: Tensor, k: int) -> Tensor:
    """Indices ``(B, M, k)`` into ``sources`` ``(B, N, 3)`` of the ``k`` nearest sources of every target
    ``(B, M, 3)``, cloud by cloud (a target that is also a source finds itself)."""
    return torch.cdist(targets, sources).topk(k, dim=-1, largest=False).indices


def gather_points(pos: Tensor, index: Tensor) -> Tensor:
    """``pos[b, index[b]]``: ``(B, N, C)`` and ``(B, M)`` -> ``(B, M, C)``."""
    return pos.gather(1, index[..., None].expand(-1, -1, pos.shape[-1]))


def rank2_irrep(G) -> Rep:
    """The ``l = 2`` irrep of ``O(3)`` (even, ``2e``) or ``SO(3)``."""
    irreps = {"O(3)": (0, 2), "SO(3)": (2,)}
    if G.name not in irreps:
        raise ValueError(f"l = 2 fields are available for {sorted(irreps)}, not {G.name}")
    return G.irrep(*irreps[G.name])


class SteerableClassifier(nn.Module):
    """Invariant classifier from steerable point convolutions.

    Levels: the centred cloud (``P`` points), its farthest-point sample of ``P // reduction`` points
    and that one's of ``P // reduction**2``. Each convolution maps a source level to a target level
    (by default ``STAGES``: 0 to 1, 1 to 1, 1 to 2 and 2 to 2) over the graph of the ``neighbours``
    nearest source points of every target. It outputs one extra scalar per gated part and is
    followed by a gated nonlinearity (:class:`Gate` with ``gates="inputs"``: SiLU on the scalars,
    every other part, a vector or a multivector's grade above 0, scaled by the sigmoid of its gate). The input
    field is the scalar 1 at every point. A level of ``n`` points is convolved in units of
    ``2 sqrt(k / n)``, the radius of a cap holding ``k`` of ``n`` points spread evenly over the unit
    sphere, so the kernels see neighbourhoods of about unit size at every level and for every cloud
    size. The output is ``head(mean over level-2 points of
    the invariants)``, the :class:`Invariants` of the hidden rep: its scalars and the norms ``|f|``
    of its other fields (for ``SO(2)z`` a vector's ``z`` component and ``|(x, y)|``).

    Args:
        group_name: a group acting on ``R^3`` (``"O(3)"``, ``"SO(3)"``, ``"SO(2)z"``, ``"Octa"``, ...);
            the model is invariant under it.
        kernel_basis: ``"implicit"`` (the group's kernel network) or ``"analytic"`` (escnn's basis),
            passed to :class:`PointConv` as ``basis``.
        scalars, vectors, tensors: hidden scalar, vector and ``l = 2`` fields (``tensors`` only for
            ``O(3)`` and ``SO(3)``).
        field: the group's rep of the ``vectors`` fields, an attribute of the group: ``"standard"``
            (vectors) or, for Clifford groups, ``"multivector"``.
        neighbours: ``k`` of the kNN graphs (fewer when a level has fewer points).
        reduction: ratio of the point counts of consecutive levels.
        hidden, classes: width of the head's hidden layer and number of logits.
        stages: ``(source level, target level)`` of every convolution, target level at most one above.
        **kernel_options: passed to every :class:`PointConv` (e.g. ``copies``, ``mlp_width``).
    """

    def __init__(self, group_name: str = "O(3)", kernel_basis: str = "implicit", *, scalars: int = 16,
                 vectors: int = 8, tensors: int = 0, field: str = "standard", neighbours: int = 16,
                 reduction: int = 4, hidden: int = 64, classes: int = 16,
                 stages: tuple[tuple[int, int], ...] = STAGES, **kernel_options):
        super().__init__()
        G = get_group(group_name)
        if G.n != 3:
            raise ValueError(f"{group_name} acts on R^{G.n}, point clouds live in R^3")
        self.neighbours, self.reduction, self.stages = neighbours, reduction, stages
        fields = vectors * getattr(G, field)
        if tensors:
            fields = fields + tensors * rank2_irrep(G)
        rep_hidden = scalars * G.trivial + fields
        # the convolutions output one extra scalar per gated part (after the hidden scalars; one per
        # vector, three per multivector of O(3,0)), the gates; `gates_last` moves them behind the
        # fields, where Gate(gates="inputs") reads them
        gate = Gate(rep_hidden, gates="inputs")
        gates = gate.gate_count
        rep_gated = (scalars + gates) * G.trivial + fields
        self.register_buffer("gates_last", gates_last(scalars, gates, rep_gated.size), persistent=False)
        self.convs = nn.ModuleList(
            PointConv(G.trivial if i == 0 else rep_hidden, rep_gated, radius=1.0, aggregation="mean",
                      basis=kernel_basis, **kernel_options)
            for i in range(len(stages))
        )
        self.gate = gate
        self.invariants = Invariants(rep_hidden, norms=True)
        self.head = mlp([self.invariants.count, hidden, classes])

    def levels(self, pos: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Positions ``(B, n_l, 3)`` of the levels of clouds ``pos`` ``(B, P, 3)``, and the indices
        ``(B, n_{l+1})`` of every level's points within the level before."""
        positions, picks = [pos], []
        with torch.no_grad():
            for _ in range(max(level for _, level in self.stages)):
                picks.append(farthest_point_sampling(positions[-1], max(1, positions[-1].shape[1] // self.reduction)))
                positions.append(gather_points(positions[-1], picks[-1]))
        return positions, picks

    def convolve(self, conv: PointConv, h: Tensor, pos: Tensor, targets: Tensor | None) -> Tensor:
        """``conv`` from the points ``pos`` ``(B, n, 3)`` with features ``h`` ``(B n, C)`` to the points
        ``targets`` ``(B, m)`` among them (all of them for ``None``): ``(B m, C_out)``. The clouds form
        one graph, nodes numbered cloud by cloud; messages run from the ``k`` nearest sources to every
        target."""
        batch, n, _ = pos.shape
        k = min(self.neighbours, n)
        with torch.no_grad():
            if targets is None:
                targets = torch.arange(n, device=pos.device).expand(batch, n)
            offset = n * torch.arange(batch, device=pos.device)[:, None]
            sources = nearest_neighbours(gather_points(pos, targets), pos, k) + offset[..., None]
            targets = targets + offset
            edges = torch.stack([sources.flatten(), targets[..., None].expand_as(sources).flatten()])
        unit = 2 * math.sqrt(k / n)
        return conv(h, pos.reshape(-1, 3) / unit, edges)[targets.flatten()]

    def forward(self, points: Tensor) -> Tensor:
        """Logits ``(B, classes)`` of clouds ``points`` ``(B, P, 3)``."""
        positions, picks = self.levels(points - points.mean(1, keepdim=True))
        clouds = points.shape[0]
        h = points.new_ones(clouds * points.shape[1], 1)
        for conv, (source, target) in zip(self.convs, self.stages):
            h = self.convolve(conv, h, positions[source], picks[source] if target > source else None)
            h = self.gate(h[:, self.gates_last])
        batch = torch.arange(clouds, device=h.device).repeat_interleave(len(h) // clouds)
        return self.head(global_pool(self.invariants(h), batch, "mean", num_graphs=clouds))


class PointNet(nn.Module):
    """Non-equivariant baseline: ``logits = head(max_i MLP(p_i - mean_j p_j))`` over the points ``p_i``
    of a cloud, with SiLU MLPs ``3 -> widths`` (applied pointwise) and ``widths[-1] -> hidden -> classes``."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 128), hidden: int = 64, classes: int = 16):
        super().__init__()
        self.pointwise = mlp([3, *widths])
        self.head = mlp([widths[-1], hidden, classes])

    def forward(self, points: Tensor) -> Tensor:
        """Logits ``(B, classes)`` of clouds ``points`` ``(B, P, 3)``."""
        return self.head(self.pointwise(points - points.mean(1, keepdim=True)).amax(1))


# implicit kernel networks narrower than the library's defaults (8 copies per irrep, 32 hidden
# units): about half the time per epoch (see the README)
IMPLICIT_KERNEL = {"copies": 4, "mlp_width": 16}


def _steerable(group_name: str, kernel_basis: str, **sizes) -> Callable[[], SteerableClassifier]:
    options = IMPLICIT_KERNEL if kernel_basis == "implicit" else {}
    return lambda: SteerableClassifier(group_name, kernel_basis, **sizes, **options)


MODELS: dict[str, Callable[[], nn.Module]] = {
    **{f"{basis}-{suffix}": _steerable(group_name, basis)
       for basis in ("implicit", "analytic")
       for suffix, group_name in (("o3", "O(3)"), ("so3", "SO(3)"), ("so2z", "SO(2)z"), ("octa", "Octa"))},
    # escnn's O(3) basis has fewer coefficients than the implicit kernel network has weights: with
    # 25 % more channels the analytic model about matches implicit-o3's parameter count (35k against 36k)
    "analytic-o3-wide": _steerable("O(3)", "analytic", scalars=20, vectors=10),
    # Clifford O(3,0) with 8 scalar and 4 multivector hidden fields: 40 channels, as the O(3) models'
    # 16 scalars and 8 vectors; "-single" with the Clifford-steerable CNN head
    **{name: (lambda head=head: SteerableClassifier("O(3,0)", scalars=8, vectors=4, field="multivector", head=head))
       for name, head in (("clifford-o3", "complete"), ("clifford-o3-single", "single"))},
    "pointnet": PointNet,
}

# Adam learning rates: 3e-3 for the steerable models (as for the N-body ones), PointNet's published
# 1e-3; neither was tuned on this task
LEARNING_RATES = {name: 1e-3 if name == "pointnet" else 3e-3 for name in MODELS}
