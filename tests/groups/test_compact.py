"""Group elements and the rep algebra of the escnn-backed compact family."""

import math

import numpy as np
import pytest
import torch
from conftest import mixed_reps
from escnn import gspaces
from escnn.nn import FieldType, GeometricTensor, NormNonLinearity

from groups import get_group
from groups.compact import network as compact_network
from implicit_kernels import ImplicitKernel


def rotation_2d(theta: float) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def test_sample_shapes_dtypes_and_reproducibility(group):
    g = group.sample(6, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    assert g.shape == (6, group.n, group.n) and g.dtype == torch.float32
    again = group.sample(6, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    assert torch.equal(g, again)
    assert group.sample(0).shape == (0, group.n, group.n)


def test_samples_are_orthogonal_members_in_both_dtypes(group, generator):
    g = group.sample(16, generator=generator)
    eye = torch.eye(group.n, dtype=torch.float64)
    assert torch.allclose(g @ g.transpose(1, 2), eye.expand_as(g), atol=1e-12)
    assert group.contains(g).all() and group.contains(g.float()).all()


def test_standard_rep_is_the_identity_map(group, generator):
    g = group.sample(8, generator=generator)
    assert torch.allclose(group.standard(g), g, atol=1e-12)


def test_reps_are_homomorphisms(group, generator):
    rep_in, rep_out = group.trivial + group.standard, group.standard.tensor(group.standard)
    g, h = group.sample(8, generator=generator), group.sample(8, generator=generator)
    for rep in (rep_in, rep_out, rep_in.dual(), 3 * group.standard):
        assert torch.allclose(rep(g @ h), rep(g) @ rep(h), atol=1e-10)


def test_rep_algebra_matrices(group, generator):
    g = group.sample(4, generator=generator)
    a, b = group.trivial, group.standard
    summed = (2 * a + b)(g)
    assert summed.shape == (4, 2 + group.n, 2 + group.n)
    assert torch.allclose(summed[:, 2:, 2:], g)
    assert torch.allclose(summed[:, :2, :2], torch.eye(2, dtype=g.dtype).expand(4, 2, 2))
    assert torch.count_nonzero(summed[:, :2, 2:]) == 0
    kron = torch.stack([torch.kron(x, x) for x in g])
    assert torch.allclose(b.tensor(b)(g), kron, atol=1e-12)
    assert torch.allclose(b.dual()(g), torch.linalg.inv(g).transpose(1, 2), atol=1e-12)
    assert (a + b).size == 1 + group.n and (a + b).group is group


def test_dual_with_non_orthogonal_change_of_basis():
    from escnn.group import Representation

    G = get_group("SO(2)")
    escnn_G = G.escnn_group
    q = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.5, 3.0]])
    skewed = G.rep(Representation(escnn_G, "skewed-test", [(0,), (1,)], change_of_basis=q))
    g = G.sample(5, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(skewed.dual()(g), torch.linalg.inv(skewed(g)).transpose(1, 2), atol=1e-12)


def test_non_members_are_rejected():
    so3, o3, c8, d4, so2z = (get_group(n) for n in ["SO(3)", "O(3)", "C8", "D4", "SO(2)z"])
    reflection = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    assert not so3.contains(reflection[None]) and o3.contains(reflection[None])
    assert c8.contains(rotation_2d(math.pi / 4)[None]) and not c8.contains(rotation_2d(0.3)[None])
    assert d4.contains(torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))[None])
    generator = torch.tensor([[0.0, 0.0, 0.4], [0.0, 0.0, 0.0], [-0.4, 0.0, 0.0]], dtype=torch.float64)
    tilted = torch.linalg.matrix_exp(generator)  # a rotation about y: in SO(3), not about z
    assert so3.contains(tilted[None]) and not so2z.contains(tilted[None])
    assert not so3.contains(2 * torch.eye(3, dtype=torch.float64)[None])
    with pytest.raises(ValueError, match="not an element of SO\\(3\\)"):
        so3.standard(reflection[None])
    with pytest.raises(ValueError, match="must be a \\(k, 3, 3\\) tensor"):
        so3.standard(torch.eye(2, dtype=torch.float64)[None])


def test_grid_elements_are_the_signed_permutations_in_the_group():
    counts = {"SO(2)": 4, "O(2)": 8, "C8": 4, "C6": 2, "D4": 8, "SO(3)": 24, "O(3)": 48}
    counts.update({"SO(2)z": 4, "O(2)z": 8, "Octa": 24, "Ico": 12})
    for name, count in counts.items():
        elements = get_group(name).grid_elements()
        assert len(elements) == count, name
        assert get_group(name).contains(elements).all()


def test_reps_of_different_groups_do_not_mix():
    with pytest.raises(ValueError, match="different groups"):
        get_group("SO(3)").standard + get_group("O(3)").standard


def test_irreps_use_escnn_ids():
    o3 = get_group("O(3)")
    vector = o3.irrep(1, 1)
    g = o3.sample(4, generator=torch.Generator().manual_seed(0))
    # the polar vector "1o" is the standard rep up to escnn's change of basis: same characters
    assert torch.allclose(torch.einsum("kii->k", vector(g)), torch.einsum("kii->k", g), atol=1e-12)
    inversion = -torch.eye(3, dtype=torch.float64)[None]
    assert torch.allclose(o3.irrep(0, 1)(inversion), torch.eye(3, dtype=torch.float64))  # pseudovector "1e"


def test_field_type_round_trip():
    G = get_group("O(3)")
    rep = 2 * G.trivial + G.standard
    field_type = rep.field_type()
    assert isinstance(field_type, FieldType) and field_type.size == rep.size
    assert G.from_escnn(field_type) == rep
    assert G.from_escnn(field_type).field_type() == field_type
    so3_type = FieldType(gspaces.rot3dOnR3(), [gspaces.rot3dOnR3().trivial_repr])
    with pytest.raises(ValueError, match="belongs to SO\\(3\\)"):
        G.from_escnn(so3_type)


def test_field_type_keeps_one_field_per_summand():
    """Summands survive ``+``, ``*`` and ``from_escnn``, so escnn's per-field modules see them."""
    G = get_group("O(3)")
    tensor = G.standard.tensor(G.standard)
    rep = 3 * (G.trivial + G.standard) + tensor
    assert len(rep.field_type().representations) == len(rep.parts) == 7
    assert [part.size for part in rep.parts] == [1, 3, 1, 3, 1, 3, 9]
    escnn_type = FieldType(G.gspace, [G.gspace.irrep(1, 1), G.gspace.trivial_repr, G.gspace.irrep(0, 2)])
    assert G.from_escnn(escnn_type).field_type() == escnn_type
    assert G.from_escnn(escnn_type.representation).field_type() == FieldType(G.gspace, [escnn_type.representation])
    norm = NormNonLinearity((2 * G.standard).field_type())  # one norm per vector field
    x = torch.randn(2, 6, 3, 3, 3)
    other = torch.cat([x[:, :3], 2 * x[:, 3:]], dim=1)
    out, out_other = (norm(GeometricTensor(v, norm.in_type)).tensor for v in (x, other))
    assert torch.equal(out[:, :3], out_other[:, :3])  # one field holding both vectors would mix them
    with pytest.raises(ValueError, match="at least one escnn representation"):
        G.rep([])


def test_invariant_basis_is_fixed_by_the_group(group, generator):
    rep = 2 * group.trivial + group.standard.tensor(group.standard)
    basis = rep.invariant_basis()
    g = group.sample(6, generator=generator)
    assert basis.shape[0] == rep.size and basis.shape[1] >= 2
    assert torch.allclose(rep(g) @ basis, basis.expand(6, -1, -1), atol=1e-10)


@pytest.mark.parametrize("name", ["SO(2)", "O(3)", "C8"])
def test_kernels_of_reps_with_a_non_orthogonal_change_of_basis(name):
    """escnn reps ``Q (irreps) Q^-1`` with a non-orthogonal ``Q`` on either side of the kernel: the Hom
    rep acts by ``rho_out (x) rho_in^-T``, which differs from ``rho_out (x) rho_in`` only here, so the
    kernel must stay exactly equivariant and complete (rank = dim Hom_Stab(x) from the reps' matrices)."""
    from escnn.group import Representation

    from implicit_kernels import ImplicitKernel
    from implicit_kernels.analytic import implicit_rank, stabiliser_hom_dim
    from implicit_kernels.equivariance import assert_equivariant

    G = get_group(name)
    irreps = G.trivial.representation.irreps + G.standard.representation.irreps
    size = 1 + G.n
    q = np.eye(size) + 0.5 * np.random.default_rng(7).normal(size=(size, size))
    assert not np.allclose(q @ q.T, np.eye(size))
    skewed = G.from_escnn(Representation(G.escnn_group, f"skewed-kernel-{name}", irreps, change_of_basis=q))
    x = torch.tensor([0.7, -0.4, 1.1][: G.n], dtype=torch.float64)
    for rep_in, rep_out in [(skewed, G.standard + G.trivial), (G.trivial + G.standard, skewed), (skewed, skewed)]:
        kernel = ImplicitKernel(rep_in, rep_out)
        assert_equivariant(kernel, n_samples=16)
        assert implicit_rank(kernel, x) == stabiliser_hom_dim(rep_in, rep_out, x) > 0


@pytest.mark.parametrize("name", ["SO(2)", "O(3)", "D6", "Ico"])
def test_hom_basis_intertwines_the_hom_rep_with_its_irreps(name, generator):
    """The blockwise change of basis ``Q`` of ``Hom = rho_out (x) rho_in^*`` is invertible and
    satisfies ``(rho_out(g) (x) rho_in(g)^-T) Q = Q (irreps(g))`` for random elements, also with a
    non-orthogonal change of basis on the input (where ``rho_in^-T`` differs from ``rho_in``)."""
    from escnn.group import Representation
    from scipy.linalg import block_diag

    from groups.compact.hom import HomBasis, hom_irreps
    from groups.compact.layers import IrrepLayout

    G = get_group(name)
    irreps = G.trivial.representation.irreps + G.standard.representation.irreps
    size = 1 + G.standard.size
    q = np.eye(size) + 0.4 * np.random.default_rng(3).normal(size=(size, size))
    rep_in = G.from_escnn(Representation(G.escnn_group, f"skewed-hom-{name}", irreps, change_of_basis=q))
    rep_out = G.trivial + G.standard + G.standard.tensor(G.standard)
    layout = IrrepLayout.from_counts((psi, 1) for psi in hom_irreps(rep_in, rep_out))
    basis = HomBasis(rep_in, rep_out, layout).double()(torch.eye(layout.size, dtype=torch.float64))
    assert basis.shape == (rep_out.size * rep_in.size, layout.size) == (basis.shape[0], basis.shape[0])
    assert torch.linalg.matrix_rank(basis) == layout.size
    g = G.sample(4, generator=generator)
    for matrix, element in zip(g, G.to_escnn_elements(g)):
        hom = torch.kron(rep_out(matrix[None])[0], torch.linalg.inv(rep_in(matrix[None])[0]).T)
        irreps_g = block_diag(*[np.kron(np.eye(m), psi(element)) for psi, m, _ in layout.blocks()])
        assert (hom @ basis - basis @ torch.as_tensor(irreps_g)).abs().max() < 1e-10


@pytest.mark.parametrize("factored", [True, False])
def test_head_map_is_the_dense_head_on_neighbour_sums(group, generator, factored, monkeypatch):
    """Wide heads contract neighbour sums irrep triple by irrep triple (complex-type endomorphisms
    for the planar rotations, repeated irreps in the tensor products of the finite groups, dense
    changes of basis from the rank-2 tensor), narrow ones through the dense head; either must
    equal the dense head applied to the same sums."""
    monkeypatch.setattr(compact_network, "FACTORED_HEAD_ENTRIES", 0 if factored else 10**12)
    rep_in, rep_out = mixed_reps(group)
    network = ImplicitKernel(rep_in, rep_out).network.double()
    assert (network.contraction is not None) == factored
    phi = torch.randn(4, 5, network.feature_size, generator=generator, dtype=torch.float64)
    v = torch.randn(4, 5, rep_in.size, generator=generator, dtype=torch.float64)
    head = network.head().reshape(rep_out.size, rep_in.size, -1)
    expected = torch.einsum("nfi,oif->no", phi.transpose(1, 2) @ v, head)
    assert (network.head_map(phi)(phi, v) - expected).abs().max() <= 1e-12 * expected.abs().max()
