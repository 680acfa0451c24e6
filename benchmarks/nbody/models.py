"""Models for the N-body task. Each maps a batch graph (see :func:`benchmarks.nbody.data.batch_graph`)
to predicted positions ``(B n, 3)`` at the target frame.

* :class:`SteerableNBody`: steerable point convolutions with implicit kernels for any group whose
  reps have ``trivial`` and ``standard`` in Cartesian coordinates (escnn ``O(3)``, Clifford
  ``O(3,0)``, matrix ``O(3)-mat``). Node
  inputs: centred position and velocity (vectors), ``|v|`` and 1 (scalars); edge attributes
  ``q_i q_j`` and ``|x_ij|``; scalar/vector hidden features with residuals, each convolution
  followed by a gated nonlinearity (:class:`implicit_kernels.nn.Gate` with gate scalars from the
  convolution); the output
  is a displacement vector added to the input position. With ``moving=True`` every layer also moves the
  positions its successors' kernels see (EGNN-style coordinate updates, steerable messages).
* :class:`EGNN`: E(n)-equivariant graph network with velocities, from Satorras et al. (2021).
* :class:`MessagePassing`: a non-equivariant message-passing baseline of similar size.
* :class:`Ensemble`: the mean prediction of several trained networks.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from benchmarks.channels import gates_last
from benchmarks.mlp import mlp
from groups import get_group
from implicit_kernels import PointConv
from implicit_kernels.nn import FieldDropout, FieldNorm, Gate, TensorProduct


class SteerableNBody(nn.Module):
    """Steerable point-convolution network (see the module docstring).

    Args:
        group: registry name of an O(3) family member (``"O(3)"``, ``"O(3,0)"``, ``"O(3)-mat"``,
            or a subgroup such as ``"SO(3)"``).
        scalars, vectors: hidden scalar and vector channels.
        layers: number of hidden convolutions (with residuals).
        node_scalars: also feed each kernel the scalar features of both nodes of the edge (``|v|``
            in the first layer, the layer-normalised hidden scalars after it), so that messages
            depend non-linearly on both nodes' invariants (still equivariant: the kernel's
            attributes are invariant).
        moving: every hidden convolution also outputs one vector ``d_i`` that moves the positions
            the next layers' kernels see, ``x_i <- x_i + s_l d_i`` (``s_l`` learned), as EGNN
            moves its coordinates; messages then depend non-linearly on both nodes' features
            through the kernel's argument ``x_j - x_i`` (still equivariant: ``d_i`` is a vector).
            The readout's displacement is added to the moved positions.
        messages: what a hidden layer sums over the edges ``j -> i``: ``"linear"``, the
            convolution's ``K(x_ij, a_ij) h_j`` (linear in the sender's features); ``"product"``,
            ``B(s_ij, n_i)`` with ``B`` a learnable :class:`~implicit_kernels.nn.TensorProduct`
            (every equivariant bilinear map), ``n = FieldNorm(h)`` and the sender's side
            ``s_ij = n_j (+) x_ij / sqrt(1 + |x_ij|^2) (+) q_i q_j (+) |x_ij| / (1 + |x_ij|)``
            (``x_ij = x_j - x_i``): bilinear in the two nodes' normalised features, as SEGNN's and
            CGENN's messages are, with bounded geometric inputs (unnormalised products grow
            quadratically from layer to layer and diverged with moving positions); ``"both"``,
            their sum. Products are summed over the incoming edges (self-loops included) and
            divided by the square root of the kernels' ``avg_degree``.
        dropout: probability with which each hidden field (a scalar or a vector of a node) of every
            layer's update is dropped in training (:class:`~implicit_kernels.nn.FieldDropout`).
        **kernel_options: passed to every :class:`PointConv` (e.g. ``copies``, or
            ``basis="analytic"`` for escnn's analytic kernels in the same network).
    """

    def __init__(self, group: str = "O(3)", scalars: int = 16, vectors: int = 8, layers: int = 4,
                 node_scalars: bool = False, moving: bool = False, messages: str = "linear", dropout: float = 0.0,
                 **kernel_options):
        super().__init__()
        if messages not in ("linear", "product", "both"):
            raise ValueError(f"messages must be 'linear', 'product' or 'both', got {messages!r}")
        G = get_group(group)
        self.layers = layers
        self.scalars, self.vectors, self.node_scalars = scalars, vectors, node_scalars
        rep_in = 2 * G.trivial + 2 * G.standard  # |v|, 1, centred x, v
        hidden = scalars * G.trivial + vectors * G.standard
        # the convolutions output one extra scalar per vector (after the hidden scalars), the gates
        # of the vectors; `gates_last` moves them behind the vectors, where Gate(gates="inputs") reads them
        gated = (scalars + vectors) * G.trivial + vectors * G.standard
        self.register_buffer("gates_last", gates_last(scalars, vectors, gated.size), persistent=False)

        self.avg_degree = 4.0

        def conv(a, b, n_scalars):
            # q_i q_j, |x_ij| and, with node_scalars, the scalar features of both nodes
            attr = (2 + 2 * n_scalars * node_scalars) * G.trivial
            return PointConv(a, b, attr, radius=3.0, avg_degree=self.avg_degree, **kernel_options)

        # node scalars each kernel sees: |v| in the first layer, the hidden scalars after it
        self.node_scalar_counts = [1] + [scalars] * layers
        conv_out = gated + G.standard if moving else gated
        layer_in = [rep_in] + [hidden] * (layers - 1)
        self.convs = None if messages == "product" else nn.ModuleList(
            conv(layer_in[i], conv_out, self.node_scalar_counts[i]) for i in range(layers))
        self.products = self.product_norms = None
        if messages != "linear":
            self.product_norms = nn.ModuleList(FieldNorm(r) for r in layer_in)
            self.products = nn.ModuleList(TensorProduct(r + G.standard + 2 * G.trivial, r, conv_out) for r in layer_in)
        # the moves' step sizes (None: static positions); they start small next to the inter-particle
        # distances (the convolutions' outputs have unit variance)
        self.steps = nn.Parameter(torch.full((layers,), 0.1)) if moving else None
        # SiLU on the scalars, each vector scaled by the sigmoid of its gate scalar
        self.gate = Gate(hidden, gates="inputs")
        self.dropout = FieldDropout(hidden, dropout)
        self.readout = conv(hidden, G.standard, scalars)
        # hidden scalars are layer-normalised before they enter a kernel (unnormalised ones made
        # training diverge); |v| is of order one already
        self.norms = nn.ModuleList([nn.Identity()] + [nn.LayerNorm(scalars) for _ in range(layers)]
                                   if node_scalars else [])
        # the displacement starts small (the convolutions keep unit variance, displacements are ~0.5)
        self.readout_scale = nn.Parameter(torch.tensor(0.1))

    def forward(self, graph: dict[str, torch.Tensor]) -> torch.Tensor:
        x, v, batch, edges = graph["positions"], graph["velocities"], graph["batch"], graph["edge_index"]
        centre = x.new_zeros(int(batch.max()) + 1, 3).index_reduce(0, batch, x, "mean", include_self=False)
        speed = v.norm(dim=-1, keepdim=True)
        h = torch.cat([speed, torch.ones_like(speed), x - centre[batch], v], dim=-1)
        # self-loops: K(0) is an equivariant linear map, so every layer also mixes a node's own features
        nodes = torch.arange(len(x))
        edges = torch.cat([edges, torch.stack([nodes, nodes])], dim=1)
        charge = torch.cat([graph["edge_charge"], graph["charges"] ** 2])

        def attr(h: torch.Tensor, x: torch.Tensor, layer: int) -> torch.Tensor:
            edge_attr = torch.stack([charge, (x[edges[0]] - x[edges[1]]).norm(dim=-1)], dim=-1)
            if not self.node_scalars:
                return edge_attr
            # the trivial fields come first (|v| first in the input)
            invariant = self.norms[layer](h[:, : self.node_scalar_counts[layer]])
            return torch.cat([edge_attr, invariant[edges[0]], invariant[edges[1]]], dim=-1)

        for i in range(self.layers):
            out = 0 if self.convs is None else self.convs[i](h, x, edges, attr(h, x, i))
            if self.products is not None:
                out = out + self.product_messages(i, h, x, edges, charge)
            if self.steps is not None:
                out, move = out[:, : -x.shape[1]], out[:, -x.shape[1]:]
                x = x + self.steps[i] * move
            update = self.dropout(self.gate(out[:, self.gates_last]))
            h = update if i == 0 else (h + update) / 2**0.5
        return x + self.readout_scale * self.readout(h, x, edges, attr(h, x, self.layers))

    def product_messages(self, layer: int, h: torch.Tensor, x: torch.Tensor, edges: torch.Tensor,
                         charge: torch.Tensor) -> torch.Tensor:
        """``sum_{j -> i} B(s_ij, n_i) / sqrt(avg_degree)`` per node (see ``messages``)."""
        src, dst = edges
        n = self.product_norms[layer](h)
        offset = x[src] - x[dst]
        distance = offset.norm(dim=-1, keepdim=True)
        sender = torch.cat([n[src], offset * (1 + distance**2).rsqrt(), charge[:, None], distance / (1 + distance)],
                           dim=-1)
        messages = self.products[layer](sender, n[dst])
        return messages.new_zeros(len(x), messages.shape[1]).index_add(0, dst, messages) / self.avg_degree**0.5


class EGNN(nn.Module):
    """E(n)-equivariant GNN with velocities (Satorras, Hoogeboom, Welling 2021), N-body variant:
    ``m_ij = phi_e(h_i, h_j, |x_i - x_j|^2, a_ij)``,
    ``v_i <- phi_v(h_i) v_i^0 + C sum_j (x_i - x_j) phi_x(m_ij)``, ``x_i <- x_i + v_i``,
    ``h_i <- h_i + phi_h(h_i, sum_j m_ij)``, with ``C = 1 / (n - 1)``."""

    def __init__(self, hidden: int = 64, layers: int = 4):
        super().__init__()
        self.embed = nn.Linear(1, hidden)
        self.edge = nn.ModuleList([mlp([2 * hidden + 2, hidden, hidden], last_activation=True) for _ in range(layers)])
        self.coord = nn.ModuleList([mlp([hidden, hidden, 1]) for _ in range(layers)])
        self.vel = nn.ModuleList([mlp([hidden, hidden, 1]) for _ in range(layers)])
        # the last layer's node update would feed nothing: positions are the output
        self.node = nn.ModuleList([mlp([2 * hidden, hidden, hidden]) for _ in range(layers - 1)] + [nn.Identity()])

    def forward(self, graph):
        x, v0, edges = graph["positions"], graph["velocities"], graph["edge_index"]
        src, dst = edges
        h = self.embed(v0.norm(dim=-1, keepdim=True))
        degree = torch.bincount(dst, minlength=len(x)).clamp_min(1).to(x.dtype)[:, None]
        for layer, (edge, coord, vel, node) in enumerate(zip(self.edge, self.coord, self.vel, self.node)):
            diff = x[dst] - x[src]  # x_i - x_j for the message j -> i
            m = edge(torch.cat([h[dst], h[src], diff.pow(2).sum(-1, keepdim=True), graph["edge_charge"][:, None]], -1))
            pull = torch.zeros_like(x).index_add(0, dst, diff * coord(m)) / degree
            x = x + vel(h) * v0 + pull
            if layer < len(self.node) - 1:
                h = h + node(torch.cat([h, torch.zeros_like(h).index_add(0, dst, m)], -1))
        return x


class MessagePassing(nn.Module):
    """Non-equivariant baseline: ``h_i^0 = MLP(x_i, v_i, |v_i|)``,
    ``m_ij = MLP(h_i, h_j, x_j - x_i, a_ij)``, ``h_i <- h_i + MLP(h_i, sum_j m_ij)``; the output is
    ``x + Linear(h)``."""

    def __init__(self, hidden: int = 64, layers: int = 4):
        super().__init__()
        self.embed = mlp([7, hidden, hidden])
        self.edge = nn.ModuleList([mlp([2 * hidden + 4, hidden, hidden], last_activation=True) for _ in range(layers)])
        self.node = nn.ModuleList([mlp([2 * hidden, hidden, hidden]) for _ in range(layers)])
        self.out = nn.Linear(hidden, 3)

    def forward(self, graph):
        x, v, edges = graph["positions"], graph["velocities"], graph["edge_index"]
        src, dst = edges
        h = self.embed(torch.cat([x, v, v.norm(dim=-1, keepdim=True)], -1))
        for edge, node in zip(self.edge, self.node):
            m = edge(torch.cat([h[dst], h[src], x[src] - x[dst], graph["edge_charge"][:, None]], -1))
            h = h + node(torch.cat([h, torch.zeros_like(h).index_add(0, dst, m)], -1))
        return x + self.out(h)


class Ensemble(nn.Module):
    """The mean of the positions ``(B n, 3)`` that several networks predict. Equivariant when every
    member is: ``g y + t`` averages to ``g mean(y) + t``."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, graph: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([member(graph) for member in self.members]).mean(dim=0)


def load_member(model: str, checkpoint: str) -> nn.Module:
    """A ``model`` network with the best-by-validation weights saved in ``checkpoint`` (a
    training checkpoint of :mod:`benchmarks.nbody.train`), in eval mode."""
    saved = torch.load(checkpoint)
    if saved.get("best_model") is None:
        raise ValueError(f"{checkpoint} holds no best-by-validation weights (no validation ran)")
    member = MODELS[model]()
    member.load_state_dict(saved["best_model"])
    return member.eval()


# half the hidden channels (8 scalars, 4 vectors)
SMALL = {"scalars": 8, "vectors": 4}

# the steerable networks: registry group and options of SteerableNBody
STEERABLE = {
    "implicit-o3": {"group": "O(3)"},
    "implicit-so3": {"group": "SO(3)"},
    # escnn's basis with coefficients c(q_i q_j, |x_ij|) from a width-8 MLP: 2.4x the implicit
    # model's parameters (the basis has one coefficient per irrep copy pair and basis element)
    "analytic-o3": {"group": "O(3)", "basis": "analytic", "mlp_width": 8},
    "clifford-o3": {"group": "O(3,0)"},
    "matrix-o3": {"group": "O(3)-mat"},
    "implicit-o3-small": {"group": "O(3)", **SMALL},
    "clifford-o3-small": {"group": "O(3,0)", **SMALL},
    "implicit-o3-nodes": {"group": "O(3)", "node_scalars": True},
}
# networks that also run with moving positions, as "<name>-moving"
MOVING = ("implicit-o3", "implicit-so3", "analytic-o3", "implicit-o3-small", "clifford-o3", "clifford-o3-small")
# the half-width moving network with messages bilinear in both nodes' features, instead of the
# convolution's ("product-") or added to them ("both-")
PRODUCT_MESSAGES = ("product", "both")

MODELS = {
    **{name: partial(SteerableNBody, **options) for name, options in STEERABLE.items()},
    **{f"{name}-moving": partial(SteerableNBody, moving=True, **STEERABLE[name]) for name in MOVING},
    **{f"{messages}-o3-small-moving": partial(SteerableNBody, moving=True, messages=messages,
                                              **STEERABLE["implicit-o3-small"]) for messages in PRODUCT_MESSAGES},
    "egnn": EGNN,
    "mpnn": MessagePassing,
}
# the registry names of SteerableNBody networks (which take its options, e.g. dropout)
STEERABLE_MODELS = tuple(name for name, make in MODELS.items() if getattr(make, "func", None) is SteerableNBody)

# Adam learning rates: EGNN's published 5e-4 for the two message-passing networks (EGNN diverges at
# 3e-3 here); the steerable models learn several times faster at 3e-3 (validation MSE after 20
# epochs on 500 systems: 0.024 against 0.096 at 5e-4)
LEARNING_RATES = {name: 5e-4 if name in ("egnn", "mpnn") else 3e-3 for name in MODELS}
