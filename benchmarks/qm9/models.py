"""Models of the QM9 task: a batch of molecules -> per-molecule predictions.

Every model ends in the same readout (:func:`molecule_outputs`) of per-atom quantities given in
Cartesian form, so that the tasks are read out alike:

* an invariant target (a key of :data:`benchmarks.qm9.data.TARGETS`): the sum of one scalar per
  atom, divided by :data:`AVG_ATOMS` (standardised units, :class:`benchmarks.qm9.train.Standardiser`);
* ``"dipole"``: ``mu = e sum_i c (q_i - mean_j q_j) (x_i - centroid) + sum_i v_i / sqrt(AVG_ATOMS)``
  in debye, from a charge ``q_i`` (units of :data:`CHARGE_UNIT` ``c``) and a vector ``v_i`` per
  atom; equivariant, translation invariant and, with the charges made neutral, independent of the
  origin;
* ``"polarizability"``: ``(a I + sum_i T_i) / AVG_ATOMS`` (standardised units) from an invariant
  ``a`` (a sum over atoms) and a symmetric traceless ``3 x 3`` tensor ``T_i`` per atom: the
  ``0e + 2e`` decomposition of a symmetric rank-2 tensor.

The scales keep outputs of unit size per atom at the size of the targets.

The models:

* :class:`SteerableQM9`: steerable point convolutions (:class:`~implicit_kernels.PointConv`,
  :class:`~implicit_kernels.nn.Gate`) with implicit ``O(3)`` or ``SO(3)`` kernels, or escnn's
  analytic ones; kernels optionally conditioned on bond features and on both atoms' elements.
  The per-atom vectors and tensors are its degree-1 and degree-2 outputs in Cartesian form
  (:func:`benchmarks.o3.vector_change_of_basis`, :func:`benchmarks.o3.rank2_change_of_basis`).
* :class:`EGNN`: the invariant EGNN of the QM9 experiments (no coordinate updates, edge gates);
  its per-atom vectors are ``sum_j (x_i - x_j) phi(m_ij)``; it has no rank-2 output.
* :class:`MessagePassing`: non-equivariant baseline on raw relative positions.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.mlp import mlp
from benchmarks.o3 import degree_irrep, degree_rep, rank2_change_of_basis, vector_change_of_basis
from benchmarks.qm9.data import ELEMENTS, TARGETS
from groups import Rep, get_group
from implicit_kernels import PointConv
from implicit_kernels.graph import radius_graph
from implicit_kernels.nn import Gate

CUTOFF = 5.0  # Angstrom
AVG_ATOMS = 18.0  # about the mean number of atoms of a QM9 molecule
# single-bond covalent radii in Angstrom (Cordero et al., Dalton Trans. 2008)
COVALENT_RADII = (0.31, 0.76, 0.71, 0.66, 0.57)
BONDED = 1.15  # two atoms are bonded when closer than BONDED times the sum of their radii
E_ANGSTROM_IN_DEBYE = 4.803204
CHARGE_UNIT = 0.1  # e: about the size of QM9's partial (Mulliken) charges
TENSOR_TASKS = ("dipole", "polarizability")


def check_tasks(tasks: tuple[str, ...], supported: tuple[str, ...] = TENSOR_TASKS) -> None:
    """``ValueError`` unless ``tasks`` are distinct invariant targets or ``supported`` tensor tasks."""
    known = (*TARGETS, *supported)
    unknown = [task for task in tasks if task not in known]
    if unknown or not tasks or len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks must be distinct names among {known}, got {tasks}")


def scalar_tasks(tasks: tuple[str, ...]) -> list[str]:
    """The invariant targets among ``tasks`` (the polarizability's isotropic part not included)."""
    return [task for task in tasks if task in TARGETS]


def atom_output_sizes(tasks: tuple[str, ...]) -> dict[str, int]:
    """Per-atom invariants each readout needs: one per invariant target, the charge of the dipole
    and the isotropic part of the polarizability."""
    return {"scalars": len(scalar_tasks(tasks)), "charge": int("dipole" in tasks),
            "isotropic": int("polarizability" in tasks)}


def split_invariants(sizes: dict[str, int], out: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The per-atom invariants of :func:`atom_output_sizes` (``sizes``) from the first columns of
    ``out`` ``(A, C)``, and the columns after them."""
    count = sum(sizes.values())
    return dict(zip(sizes, out[:, :count].split(list(sizes.values()), dim=-1))), out[:, count:]


def molecule_outputs(tasks: tuple[str, ...], atom: dict[str, torch.Tensor], positions: torch.Tensor,
                     batch: torch.Tensor, count: int) -> dict[str, torch.Tensor]:
    """The module docstring's readout. ``atom`` holds per-atom ``scalars`` ``(A, T)``, and for the
    tensor tasks ``charge`` and ``isotropic`` ``(A, 1)``, ``vector`` ``(A, 3)``, ``tensor``
    ``(A, 3, 3)``; ``positions`` ``(A, 3)`` Angstrom, ``batch`` ``(A,)``. Returns ``scalars``
    ``(count, T)`` and, when asked for, ``dipole`` ``(count, 3)`` and ``polarizability``
    ``(count, 3, 3)``."""

    def total(values: torch.Tensor) -> torch.Tensor:
        return values.new_zeros(count, *values.shape[1:]).index_add(0, batch, values)

    atoms = total(torch.ones_like(batch, dtype=positions.dtype))[:, None]
    out = {"scalars": total(atom["scalars"]) / AVG_ATOMS}
    if "dipole" in tasks:
        centred = positions - (total(positions) / atoms)[batch]
        charge = atom["charge"] - (total(atom["charge"]) / atoms)[batch]
        dipole = E_ANGSTROM_IN_DEBYE * CHARGE_UNIT * total(charge * centred)
        out["dipole"] = dipole + total(atom["vector"]) / AVG_ATOMS**0.5
    if "polarizability" in tasks:
        tensor = total(atom["isotropic"])[:, :, None] * torch.eye(3, dtype=positions.dtype) + total(atom["tensor"])
        out["polarizability"] = tensor / AVG_ATOMS
    return out


def one_hot(species: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return nn.functional.one_hot(species, len(ELEMENTS)).to(dtype)


def bond_features(positions: torch.Tensor, species: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """``(E, 2)`` invariants of every edge ``j -> i``: whether the atoms are bonded (closer than
    :data:`BONDED` times the sum of their covalent radii; self-loops are not) and the distance
    over that sum (which tells single, double and triple bonds apart)."""
    src, dst = edges
    radii = torch.tensor(COVALENT_RADII, dtype=positions.dtype)[species]
    ratio = (positions[src] - positions[dst]).norm(dim=-1) / (radii[src] + radii[dst])
    bonded = (ratio < BONDED) & (src != dst)
    return torch.stack([bonded.to(positions.dtype), ratio], dim=-1)


class SteerableQM9(nn.Module):
    """Steerable point-convolution network for molecular properties.

    The elements enter as ``len(ELEMENTS)`` invariants per atom. ``layers`` convolutions over the
    radius graph (:data:`CUTOFF`, self-loops included; messages averaged over the neighbours,
    which are many and alike in a molecule: summed, they grew fourfold per layer at
    initialisation) each output the hidden rep
    (``scalars`` invariants and ``per_degree`` copies of every degree ``1..hidden_lmax``) plus one
    gate scalar per non-scalar copy, followed by a :class:`~implicit_kernels.nn.Gate`, with
    residual connections from the second layer on; a last convolution gives the per-atom outputs
    of the readout (:func:`molecule_outputs`).

    The kernels ``K(x_ij, a_ij)`` see the offset and, as attributes ``a_ij`` (invariant, so any
    function of them keeps the layer equivariant):

    * ``edge_features``: :func:`bond_features` of the edge;
    * ``atom_features``: the one-hot elements of both atoms.

    Args:
        tasks: what to predict (module docstring).
        group: ``"O(3)"`` or ``"SO(3)"``.
        basis: ``"implicit"`` or ``"analytic"`` (escnn's kernel basis), see
            :class:`~implicit_kernels.ImplicitKernel`.
        **kernel_options: passed to every :class:`~implicit_kernels.PointConv`.
    """

    def __init__(self, tasks: tuple[str, ...], group: str = "O(3)", hidden_lmax: int = 1, scalars: int = 32,
                 per_degree: int = 8, layers: int = 4, basis: str = "implicit", edge_features: bool = False,
                 atom_features: bool = False, **kernel_options):
        super().__init__()
        check_tasks(tasks)
        G = get_group(group)
        self.tasks, self.group_name = tuple(tasks), group
        self.edge_features, self.atom_features = edge_features, atom_features
        self.sizes = atom_output_sizes(tasks)
        invariants = sum(self.sizes.values())
        self.rep_out = invariants * G.trivial
        if "dipole" in tasks:
            self.rep_out = self.rep_out + degree_irrep(group, 1)
        if "polarizability" in tasks:
            self.rep_out = self.rep_out + degree_irrep(group, 2)
        hidden = degree_rep(group, hidden_lmax, scalars, per_degree)
        gated = hidden + per_degree * hidden_lmax * G.trivial if hidden_lmax else hidden
        attributes = 2 * edge_features + 2 * len(ELEMENTS) * atom_features
        attr = attributes * G.trivial if attributes else None

        def conv(a: Rep, b: Rep) -> PointConv:
            return PointConv(a, b, attr, radius=CUTOFF, aggregation="mean", basis=basis, **kernel_options)

        self.convs = nn.ModuleList(conv(len(ELEMENTS) * G.trivial if i == 0 else hidden, gated) for i in range(layers))
        self.gate = Gate(hidden, gates="inputs")
        self.readout = conv(hidden, self.rep_out)

    def attributes(self, positions: torch.Tensor, species: torch.Tensor, edges: torch.Tensor) -> torch.Tensor | None:
        parts = []
        if self.edge_features:
            parts.append(bond_features(positions, species, edges))
        if self.atom_features:
            elements = one_hot(species, positions.dtype)
            parts += [elements[edges[0]], elements[edges[1]]]
        return torch.cat(parts, dim=-1) if parts else None

    def forward(self, molecules: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``positions`` ``(A, 3)`` (Angstrom), ``species`` and ``batch`` ``(A,)`` -> the readout of
        :func:`molecule_outputs` for ``batch.max() + 1`` molecules."""
        pos, species, batch = molecules["positions"], molecules["species"], molecules["batch"]
        edges = radius_graph(pos, CUTOFF, batch, loop=True)
        attr = self.attributes(pos, species, edges)
        h = one_hot(species, pos.dtype)
        for i, conv in enumerate(self.convs):
            update = self.gate(conv(h, pos, edges, attr))
            h = update if i == 0 else (h + update) / 2**0.5
        out = self.readout(h, pos, edges, attr)
        atom, rest = split_invariants(self.sizes, out)
        if "dipole" in self.tasks:
            # the changes of basis are cached in float64 and rounded to the features' dtype here
            atom["vector"], rest = rest[:, :3] @ vector_change_of_basis(self.group_name).to(rest).T, rest[:, 3:]
        if "polarizability" in self.tasks:
            atom["tensor"] = torch.einsum("ak,kxy->axy", rest, rank2_change_of_basis(self.group_name).to(rest))
        return molecule_outputs(self.tasks, atom, pos, batch, int(batch.max()) + 1)


def complete_edges(batch: torch.Tensor) -> torch.Tensor:
    """``(2, E)`` all ordered pairs ``j -> i``, ``i != j``, of atoms of the same molecule."""
    same = batch[:, None] == batch[None, :]
    same.fill_diagonal_(False)
    return same.nonzero().flip(1).T


class EGNN(nn.Module):
    """The invariant EGNN of the QM9 experiments (Satorras, Hoogeboom, Welling 2021): on the
    complete graph of each molecule, ``m_ij = phi_e(h_i, h_j, |x_i - x_j|^2)``, gated by
    ``sigmoid(w . m_ij)``, ``h_i <- h_i + phi_h(h_i, sum_j gate_ij m_ij)``; coordinates stay fixed.
    Per atom: the invariants of the readout from an MLP of ``h_i``, and for the dipole the vector
    ``sum_j (x_i - x_j) phi_x(m_ij)`` of the last layer (EGNN's coordinate update, used as an
    output)."""

    def __init__(self, tasks: tuple[str, ...], hidden: int = 128, layers: int = 7):
        super().__init__()
        check_tasks(tasks, supported=("dipole",))
        self.tasks = tuple(tasks)
        self.sizes = atom_output_sizes(tasks)
        self.embed = nn.Linear(len(ELEMENTS), hidden)
        self.edge = nn.ModuleList(mlp([2 * hidden + 1, hidden, hidden], last_activation=True) for _ in range(layers))
        self.gate = nn.ModuleList(nn.Linear(hidden, 1) for _ in range(layers))
        self.node = nn.ModuleList(mlp([2 * hidden, hidden, hidden]) for _ in range(layers))
        self.head = mlp([hidden, hidden, sum(self.sizes.values())])
        self.vector = mlp([hidden, hidden, 1]) if "dipole" in tasks else None

    def forward(self, molecules: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, batch = molecules["positions"], molecules["batch"]
        src, dst = complete_edges(batch)
        h = self.embed(one_hot(molecules["species"], x.dtype))
        diff = x[dst] - x[src]  # x_i - x_j for the message j -> i
        distance2 = diff.square().sum(-1, keepdim=True)
        for edge, gate, node in zip(self.edge, self.gate, self.node):
            m = edge(torch.cat([h[dst], h[src], distance2], -1))
            m = m * torch.sigmoid(gate(m))
            h = h + node(torch.cat([h, torch.zeros_like(h).index_add(0, dst, m)], -1))
        atom, _ = split_invariants(self.sizes, self.head(h))
        if self.vector is not None:
            atom["vector"] = torch.zeros_like(x).index_add(0, dst, diff * self.vector(m))
        return molecule_outputs(self.tasks, atom, x, batch, int(batch.max()) + 1)


class MessagePassing(nn.Module):
    """Non-equivariant baseline on the complete graph: ``m_ij = MLP(h_i, h_j, x_j - x_i)``,
    ``h_i <- h_i + MLP(h_i, sum_j m_ij)``; the per-atom invariants, vectors and (symmetrised,
    traceless) tensors of the readout are linear maps of ``h_i``: nothing ties them to the
    molecule's orientation."""

    def __init__(self, tasks: tuple[str, ...], hidden: int = 128, layers: int = 7):
        super().__init__()
        check_tasks(tasks)
        self.tasks = tuple(tasks)
        self.sizes = atom_output_sizes(tasks)
        self.embed = nn.Linear(len(ELEMENTS), hidden)
        self.edge = nn.ModuleList(mlp([2 * hidden + 3, hidden, hidden], last_activation=True) for _ in range(layers))
        self.node = nn.ModuleList(mlp([2 * hidden, hidden, hidden]) for _ in range(layers))
        outputs = sum(self.sizes.values()) + 3 * ("dipole" in tasks) + 9 * ("polarizability" in tasks)
        self.head = mlp([hidden, hidden, outputs])

    def forward(self, molecules: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, batch = molecules["positions"], molecules["batch"]
        src, dst = complete_edges(batch)
        h = self.embed(one_hot(molecules["species"], x.dtype))
        for edge, node in zip(self.edge, self.node):
            m = edge(torch.cat([h[dst], h[src], x[src] - x[dst]], -1))
            h = h + node(torch.cat([h, torch.zeros_like(h).index_add(0, dst, m)], -1))
        atom, rest = split_invariants(self.sizes, self.head(h))
        if "dipole" in self.tasks:
            atom["vector"], rest = rest[:, :3], rest[:, 3:]
        if "polarizability" in self.tasks:
            t = rest.unflatten(-1, (3, 3))
            t = (t + t.transpose(-1, -2)) / 2
            atom["tensor"] = t - t.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None] * torch.eye(3, dtype=t.dtype)
        return molecule_outputs(self.tasks, atom, x, batch, int(batch.max()) + 1)
