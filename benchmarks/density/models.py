"""Models of the density task: atoms of a batch of clusters -> per-atom density-fitting
coefficients (standardised, :class:`benchmarks.density.train.Standardiser`) of the degrees
``l <= output_lmax``.

* :class:`DensityNet`: steerable point convolutions with implicit ``O(3)`` kernels (library
  modules only: :class:`~implicit_kernels.PointConv` and :class:`~implicit_kernels.nn.Gate`).
* :class:`E3nnGatePoints`: e3nn's ``gate_points_2101`` network, the peer, on the same inputs and
  targets (its irreps' bases mapped to ours, :func:`e3nn_change_of_basis`).

Both read the element of every atom as a one-hot scalar input and output one coefficient vector
per element, of which each atom keeps its own element's: the readout is element-specific and
still equivariant (the choice depends on an invariant).
"""

from __future__ import annotations

from functools import cache
from unittest.mock import patch

import torch
from torch import nn

from benchmarks.density.data import ELEMENTS
from benchmarks.density.quantum import ShellLayout
from benchmarks.o3 import degree_rep, irrep, orthogonal_intertwiner
from groups import Rep, get_group
from implicit_kernels import PointConv
from implicit_kernels.graph import radius_graph
from implicit_kernels.nn import Gate

CUTOFF = 3.5  # Angstrom: the O-O distances of hydrogen-bonded neighbours
AVG_DEGREE = 6.0  # about the mean number of neighbours (self included) within CUTOFF


def hidden_rep(lmax: int, scalars: int, per_degree: int) -> Rep:
    """``scalars`` invariants and ``per_degree`` copies of the degree-``l`` irrep of parity ``(-1)^l``
    for every ``1 <= l <= lmax`` (:func:`benchmarks.o3.degree_rep` of ``O(3)``)."""
    return degree_rep("O(3)", lmax, scalars, per_degree)


def select_element(out: torch.Tensor, species: torch.Tensor, size: int) -> torch.Tensor:
    """``(A, len(ELEMENTS) * size)`` per-element outputs -> ``(A, size)``, each atom its element's."""
    return out.unflatten(-1, (len(ELEMENTS), size))[torch.arange(len(out)), species]


class DensityNet(nn.Module):
    """Implicit-kernel ``O(3)`` point-convolution network for per-atom coefficients.

    ``layers`` convolutions over the radius graph of the atoms (cutoff :data:`CUTOFF`, self-loops
    included, messages summed over about :data:`AVG_DEGREE` neighbours), each to the hidden rep
    (:func:`hidden_rep`) and one gate scalar per non-scalar field, followed by
    :class:`~implicit_kernels.nn.Gate` (SiLU on the scalars, sigmoid gates on the rest), with
    residuals from the second layer on; a last convolution reads out the coefficients of every
    element (:func:`select_element`).

    Args:
        layout: the per-atom coefficient layout of the targets.
        output_lmax: the degrees predicted, ``0..output_lmax``.
        hidden_lmax: the highest degree of the hidden features (0: invariants only).
        scalars, per_degree: hidden invariants and copies of the irrep of every higher degree.
        layers: hidden convolutions.
        **kernel_options: passed to every :class:`PointConv` (e.g. ``copies``, ``mlp_width`` of the
            kernel network, or ``basis="analytic"`` for escnn's kernels).
    """

    def __init__(self, layout: ShellLayout, output_lmax: int, hidden_lmax: int, scalars: int = 16,
                 per_degree: int = 8, layers: int = 3, **kernel_options):
        super().__init__()
        G = get_group("O(3)")
        self.rep_out = layout.rep(output_lmax)
        hidden = hidden_rep(hidden_lmax, scalars, per_degree)
        gated = hidden + per_degree * hidden_lmax * G.trivial if hidden_lmax else hidden

        def conv(a: Rep, b: Rep) -> PointConv:
            return PointConv(a, b, radius=CUTOFF, avg_degree=AVG_DEGREE, **kernel_options)

        self.convs = nn.ModuleList(conv(len(ELEMENTS) * G.trivial if i == 0 else hidden, gated)
                                   for i in range(layers))
        self.gate = Gate(hidden, gates="inputs")
        self.readout = conv(hidden, len(ELEMENTS) * self.rep_out)

    def forward(self, atoms: dict[str, torch.Tensor]) -> torch.Tensor:
        """``positions`` ``(A, 3)`` (Angstrom), ``species`` ``(A,)`` and ``batch`` ``(A,)`` ->
        ``(A, rep_out.size)``."""
        pos, species = atoms["positions"], atoms["species"]
        edges = radius_graph(pos, CUTOFF, atoms["batch"], loop=True)
        h = nn.functional.one_hot(species, len(ELEMENTS)).to(pos.dtype)
        for i, conv in enumerate(self.convs):
            update = self.gate(conv(h, pos, edges))
            h = update if i == 0 else (h + update) / 2**0.5
        return select_element(self.readout(h, pos, edges), species, self.rep_out.size)


@cache
def e3nn_change_of_basis(l: int) -> torch.Tensor:
    """The orthogonal ``(2l+1, 2l+1)`` matrix ``M`` with ``M D_l(R) M^T = D^e3nn_l(R)`` for all
    rotations ``R``: our irrep's coordinates ``v`` are e3nn's ``M v``. Measured from both
    libraries' matrices at two random rotations (:func:`~benchmarks.density.benchmarks.o3.orthogonal_intertwiner`)."""
    from e3nn import o3

    rotations = get_group("SO(3)").sample(2, generator=torch.Generator().manual_seed(l))
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds its matrices in the default dtype
    try:
        pairs = [(irrep(l)(R).numpy(), o3.Irrep(l, (-1) ** l).D_from_matrix(R).numpy()) for R in rotations]
    finally:
        torch.set_default_dtype(default)
    return torch.from_numpy(orthogonal_intertwiner(pairs))


class E3nnGatePoints(nn.Module):
    """e3nn's ``gate_points_2101.Network`` as the peer: the same one-hot inputs (also as node
    attributes), hidden irreps ``scalars x 0e + per_degree x (1o + 2e + ...)`` up to ``hidden_lmax``,
    spherical harmonics of the edges up to ``output_lmax`` (so that every output degree can be
    reached from invariant hidden features, as the implicit kernels reach it), the same cutoff and
    element-specific readout; its outputs are mapped from e3nn's irrep bases to ours
    (:func:`e3nn_change_of_basis`)."""

    def __init__(self, layout: ShellLayout, output_lmax: int, hidden_lmax: int, scalars: int = 16,
                 per_degree: int = 8, layers: int = 3):
        super().__init__()
        from e3nn import o3
        from e3nn.nn.models.gate_points_2101 import Network

        self.rep_out = layout.rep(output_lmax)
        multiplicity = layout.multiplicity[: output_lmax + 1]
        out = o3.Irreps([(m, (l, (-1) ** l)) for l, m in enumerate(multiplicity)])
        hidden = o3.Irreps([(scalars, (0, 1))] + [(per_degree, (l, (-1) ** l)) for l in range(1, hidden_lmax + 1)])
        self.network = Network(
            irreps_in=f"{len(ELEMENTS)}x0e", irreps_hidden=hidden, irreps_out=len(ELEMENTS) * out,
            irreps_node_attr=f"{len(ELEMENTS)}x0e", irreps_edge_attr=o3.Irreps.spherical_harmonics(output_lmax),
            layers=layers, max_radius=CUTOFF, number_of_basis=10, radial_layers=1, radial_neurons=32,
            num_neighbors=AVG_DEGREE, num_nodes=6.0, reduce_output=False)
        blocks = [e3nn_change_of_basis(l) for l, m in enumerate(multiplicity) for _ in range(m)]
        # per-element outputs are concatenated copies of `out`; ours = M^T e3nn block by block
        self.register_buffer("to_ours", torch.block_diag(*blocks).T.to(torch.get_default_dtype()),
                             persistent=False)

    def forward(self, atoms: dict[str, torch.Tensor]) -> torch.Tensor:
        from e3nn.nn.models import gate_points_2101

        one_hot = nn.functional.one_hot(atoms["species"], len(ELEMENTS)).to(atoms["positions"].dtype)
        # without torch_cluster e3nn builds the graph from torch.cdist, whose float32 rounding gives
        # some atoms a spurious self-edge (distance > 0) that comes and goes as the molecule moves
        # (relative equivariance errors of 0.3 measured); the library's radius graph is exact
        with patch.object(gate_points_2101, "radius_graph", radius_graph):
            out = self.network({"pos": atoms["positions"], "x": one_hot, "z": one_hot, "batch": atoms["batch"]})
        out = select_element(out, atoms["species"], self.rep_out.size)
        return out @ self.to_ours.to(out.dtype).T
