"""Models of the mesh benchmark: per-vertex features of a batch of surfaces -> per-vertex predictions.

Every model is called ``model(inputs, geometry, positions)`` with

* ``inputs`` ``(N, c_in)``: the vector task's tangent vectors as coordinates in each vertex's frame ``(X_i, Y_i)``
  (``c_in = 2``), or the scalar task's centred vertex positions (``c_in = 3``, three gauge-invariant scalars);
* ``geometry``: the batch's :class:`~implicit_kernels.MeshGeometry` (neighbours, log maps, transports, and the
  frames ``(N, 2, 3)``, rows ``X_i, Y_i`` in ``R^3``);
* ``positions`` ``(N, 3)``: the vertex positions, centred per surface;

and returns ``(N, 2)`` frame coordinates of tangent vectors (vector task) or ``(N, 1)`` scalars (scalar task).

* :class:`GaugeNet`: gauge-equivariant :class:`~implicit_kernels.MeshConv` layers for a structure group
  ``SO(2)`` or ``C_N`` (implicit kernels, or escnn's analytic ``SO(2)`` basis: GEM-CNN-like), gated
  nonlinearities and a pointwise self-interaction per layer. The input is ``irrep(1)`` (for ``SO(2)`` and ``C_N``
  the rotation matrix itself, so frame coordinates transform correctly) or ``3 trivial``; the output ``irrep(1)``
  or ``trivial``. Changing every frame by ``g_i`` changes the vector output by ``g_i^-1``, the scalar not at all.
* :class:`AmbientMessagePassing`: the non-equivariant baseline; it lifts the tangent vectors to ``R^3`` (one fixed
  global frame), passes messages ``MLP(x_j - x_i, h_j, h_i)`` over the same neighbour graph and projects its
  3D output back onto the tangent frames. Lifting and projecting make it gauge equivariant, but it is not
  invariant under rotations of the global frame (a rigid rotation of the surface).

``MODELS[name](task, **sizes)`` builds a model for ``task`` in ``("vector", "scalar")`` (default sizes: those of
the results; ``TINY[name]`` for tests).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from benchmarks.mlp import mlp
from groups import Rep, get_group
from implicit_kernels import MeshConv, MeshGeometry
from implicit_kernels.nn import Gate, Linear

TASKS = ("vector", "scalar")
KERNEL_RADIUS = 0.5  # length scale of the kernels: about the neighbourhood radius (0.3-0.6)


def hidden_rep(group_name: str, width: int) -> Rep:
    """``width (2 trivial + 2 irrep(1) + irrep(2) [+ irrep(3)])``; ``irrep(3)`` for ``C_N`` with ``N >= 7``
    (frequencies below ``N / 2`` only)."""
    G = get_group(group_name)
    rep = 2 * G.trivial + 2 * G.irrep(1) + G.irrep(2)
    if group_name.startswith("C") and int(group_name[1:]) >= 7:
        rep = rep + G.irrep(3)
    return width * rep


def task_reps(group_name: str, task: str) -> tuple[Rep, Rep]:
    """Input and output reps: ``irrep(1) -> irrep(1)`` (vector task) or ``3 trivial -> trivial`` (scalar task)."""
    G = get_group(group_name)
    if task == "vector":
        return G.irrep(1), G.irrep(1)
    if task == "scalar":
        return 3 * G.trivial, G.trivial
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


class GaugeNet(nn.Module):
    """Gauge-equivariant mesh network: ``layers`` blocks

        h <- Gate(MeshConv(h) + Linear(h)),

    ``MeshConv`` with mean aggregation over the neighbours (the vertex itself enters through the pointwise
    ``Linear``), then an output block ``MeshConv(h) + Linear(h) + Linear(inputs)`` into the output rep.
    ``Gate`` (``gates="invariants"``): SiLU on the scalars, sigmoid gates from the invariants on the other fields.

    Args:
        group_name: structure group of the frames, ``"SO(2)"`` or ``"C<N>"``.
        task: ``"vector"`` or ``"scalar"`` (:func:`task_reps`).
        width: multiplicity of the hidden rep (:func:`hidden_rep`).
        layers: hidden blocks.
        basis: ``"implicit"`` or ``"analytic"`` (escnn's basis), passed to every :class:`MeshConv`.
        **kernel_options: passed to every :class:`MeshConv` (``copies``, ``mlp_width`` of implicit kernels).
    """

    def __init__(self, group_name: str = "SO(2)", task: str = "vector", *, width: int = 4, layers: int = 3,
                 basis: str = "implicit", **kernel_options):
        super().__init__()
        self.group_name, self.task = group_name, task
        self.rep_in, self.rep_out = task_reps(group_name, task)
        hidden = hidden_rep(group_name, width)
        sizes = [self.rep_in] + [hidden] * layers
        options = dict(radius=KERNEL_RADIUS, aggregation="mean", basis=basis, **kernel_options)
        self.convs = nn.ModuleList(MeshConv(a, b, **options) for a, b in zip(sizes[:-1], sizes[1:]))
        self.selfs = nn.ModuleList(Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.gates = nn.ModuleList(Gate(hidden) for _ in range(layers))
        self.out_conv = MeshConv(hidden, self.rep_out, **options)
        self.out_self = Linear(hidden, self.rep_out)
        self.skip = Linear(self.rep_in, self.rep_out)

    def forward(self, inputs: Tensor, geometry: MeshGeometry, positions: Tensor | None = None) -> Tensor:
        """``(N, rep_in.size)`` frame coordinates -> ``(N, rep_out.size)``; ``positions`` are not used."""
        h = inputs
        for conv, self_interaction, gate in zip(self.convs, self.selfs, self.gates):
            h = gate(conv(h, geometry) + self_interaction(h))
        return self.out_conv(h, geometry) + self.out_self(h) + self.skip(inputs)


class AmbientMessagePassing(nn.Module):
    """Non-equivariant baseline in ambient coordinates.

    Vector task: the input vectors are lifted to ``R^3``, ``u_i = c_i @ frames_i`` (``(N, 3)``, one global frame);
    scalar task: the input is the centred positions. With ``x_i`` the centred positions,

        h_i = MLP([u_i, x_i]),   h_i <- h_i + mean_{j -> i} MLP([x_j - x_i, h_j, h_i])   (``layers`` times),

    and the output is ``Linear(h_i)`` in ``R^3`` projected onto the frame, ``frames_i @ out_i`` ``(N, 2)``
    (vector task), or a scalar ``(N, 1)``.
    """

    def __init__(self, task: str = "vector", *, width: int = 48, layers: int = 3):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.task = task
        self.embed = mlp([3 + 3, width, width])
        self.messages = nn.ModuleList(mlp([3 + 2 * width, width, width]) for _ in range(layers))
        self.out = mlp([width, width, 3 if task == "vector" else 1])

    def forward(self, inputs: Tensor, geometry: MeshGeometry, positions: Tensor) -> Tensor:
        frames = geometry.frames.to(inputs.dtype)
        ambient = torch.einsum("na,nax->nx", inputs, frames) if self.task == "vector" else inputs
        h = self.embed(torch.cat([ambient, positions], dim=1))
        src, dst = geometry.edge_index
        degree = torch.bincount(dst, minlength=len(h)).clamp_min(1).to(h.dtype)[:, None]
        for message in self.messages:
            m = message(torch.cat([positions[src] - positions[dst], h[src], h[dst]], dim=1))
            h = h + torch.zeros_like(h).index_add(0, dst, m) / degree
        out = self.out(h)
        return torch.einsum("nax,nx->na", frames, out) if self.task == "vector" else out


# implicit kernel networks narrower than the library's defaults, as in the point-cloud benchmark
IMPLICIT_KERNEL = {"copies": 4, "mlp_width": 16}

MODELS: dict[str, Callable[..., nn.Module]] = {
    "implicit-so2": lambda task, **sizes: GaugeNet("SO(2)", task, **{**IMPLICIT_KERNEL, **sizes}),
    "implicit-c8": lambda task, **sizes: GaugeNet("C8", task, **{**IMPLICIT_KERNEL, **sizes}),
    "analytic-so2": lambda task, **sizes: GaugeNet("SO(2)", task, basis="analytic", **sizes),
    "ambient-mpnn": lambda task, **sizes: AmbientMessagePassing(task, **sizes),
}

# small sizes for tests: MODELS[name](task, **TINY[name])
TINY = {"implicit-so2": {"width": 1, "layers": 1, "copies": 2, "mlp_width": 8},
        "implicit-c8": {"width": 1, "layers": 1, "copies": 2, "mlp_width": 8},
        "analytic-so2": {"width": 1, "layers": 1}, "ambient-mpnn": {"width": 8, "layers": 1}}

# structure group of each model's gauge-equivariance check (None: the baseline, checked with SO(2) elements)
GAUGE_GROUPS = {"implicit-so2": "SO(2)", "implicit-c8": "C8", "analytic-so2": "SO(2)", "ambient-mpnn": None}

LEARNING_RATES = {name: 3e-3 if name != "ambient-mpnn" else 1e-3 for name in MODELS}
