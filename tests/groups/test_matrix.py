"""Matrix groups from generators: registry names, elements and membership, tensor and symmetric
power reps, the solver's rank and cache, and a group defined by a user."""

import math

import pytest
import torch
from conftest import MATRIX_GROUPS

from groups import MatrixGroup, get_group, list_groups, register_group
from groups.matrix.builtins import planar_rotation, reflection, rotation_generators
from groups.matrix.reps import SymmetricPowerRep
from groups.solver import intertwiner_basis
from implicit_kernels import ImplicitKernel, PointConv
from implicit_kernels.equivariance import TOLERANCE, assert_equivariant, relative_error


def test_builtin_names_carry_the_suffix_and_do_not_clash():
    names = list_groups()
    for name in ["SO(3)-mat", "O(5)-mat", "SO+(1,3)-mat", "O(1,3)-mat", "C<N>-mat", "D<N>z-mat", "S<N>-mat", "C4h-mat"]:
        assert name in names
    assert get_group("O(3)-mat") is not get_group("O(3)") and get_group("O(3)-mat") is not get_group("O(3,0)")
    with pytest.raises(KeyError, match="N = 2..5"):
        get_group("S7-mat")


@pytest.mark.parametrize("name", MATRIX_GROUPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_samples_are_members_and_other_matrices_are_not(name, dtype, generator):
    G = get_group(name)
    g = G.sample(32, generator=generator, dtype=dtype)
    assert g.shape == (32, G.n, G.n) and g.dtype == dtype
    assert bool(G.contains(g).all())
    scaled = 1.1 * g[:4].double()
    assert not bool(G.contains(scaled).any())


def test_membership_separates_subgroups():
    mirror = reflection(3, 2)[None]
    assert bool(get_group("O(3)-mat").contains(mirror).all())
    assert not bool(get_group("SO(3)-mat").contains(mirror).any())
    assert bool(get_group("C4h-mat").contains(mirror).all())
    assert not bool(get_group("C4h-mat").contains(planar_rotation(math.pi / 3, 3)[None]).any())
    time_reversal = reflection(4, 0)[None]
    assert bool(get_group("O(1,3)-mat").contains(time_reversal).all())
    assert not bool(get_group("SO+(1,3)-mat").contains(time_reversal).any())
    minus_one = -torch.eye(4, dtype=torch.float64)[None]  # det 1, preserves eta, but reverses time
    assert not bool(get_group("SO+(1,3)-mat").contains(minus_one).any())
    assert bool(get_group("S4-mat").contains(torch.eye(4, dtype=torch.float64)[[2, 0, 3, 1]][None]).all())
    D4 = get_group("D4-mat")
    assert bool(D4.contains(reflection(2, 1)[None]).all())
    assert not bool(D4.contains(planar_rotation(math.pi / 4)[None]).any())


def test_finite_groups_are_enumerated():
    assert len(get_group("C4h-mat").elements) == 8
    assert len(get_group("S4-mat").elements) == 24
    assert len(get_group("D4z-mat").elements) == 8
    assert len(get_group("C4h-mat").grid_elements()) == 8
    with pytest.raises(ValueError, match="more than"):
        _ = MatrixGroup(2, planar_rotation(1.0)[None], max_order=500).elements


def test_tensor_reps_transform_as_kronecker_products(generator):
    G = get_group("SO+(1,3)-mat")
    g = G.sample(3, generator=generator)
    T = G.T(1, 1)
    expected = torch.stack([torch.kron(m, torch.linalg.inv(m).T) for m in g])
    assert torch.allclose(T(g), expected, atol=1e-10)
    assert torch.allclose(G.standard(g), g) and torch.equal(G.trivial(g), torch.ones(3, 1, 1, dtype=torch.float64))
    A = G.lie[2]
    exp_A = torch.linalg.matrix_exp(A)[None]
    assert torch.allclose(torch.linalg.matrix_exp(T.differential(A)), T(exp_A)[0], atol=1e-10)
    # T(1,1) of the Lorentz group has one invariant: the identity map
    invariant = T.invariant_basis()
    assert invariant.shape == (16, 1)
    assert torch.allclose(invariant[:, 0].abs(), torch.eye(4, dtype=torch.float64).flatten() / 2)


@pytest.mark.parametrize("name", ["SO+(1,3)-mat", "D4z-mat"])
def test_symmetric_powers_carry_the_monomials(name, generator):
    G = get_group(name)
    g = G.sample(2, generator=generator)
    x = torch.randn(5, G.n, generator=generator, dtype=torch.float64)
    for k in range(5):
        power = SymmetricPowerRep(G, k)
        assert power.size == math.comb(G.n + k - 1, k)
        moved = power.monomials(x @ g[0].T)
        assert torch.allclose(moved, power.monomials(x) @ power.matrices(g)[0].T, rtol=1e-10, atol=1e-10)
    if len(G.lie):
        A = G.lie[1]
        power = SymmetricPowerRep(G, 3)
        assert torch.allclose(torch.linalg.matrix_exp(power.differential(A)),
                              power.matrices(torch.linalg.matrix_exp(A)[None])[0], atol=1e-9)


def test_solver_rank_does_not_depend_on_the_tolerance():
    G = get_group("SO(3)-mat")
    source, target = SymmetricPowerRep(G, 3), G.T(2, 1)
    lie, _ = G.generators()
    pairs = [(source.differential(A), target.differential(A)) for A in lie]
    dims = {intertwiner_basis(pairs, source.size, target.size, rtol).shape[1] for rtol in (1e-6, 1e-8, 1e-10, 1e-12)}
    assert len(dims) == 1
    basis = intertwiner_basis(pairs, source.size, target.size)
    W = basis.T.reshape(-1, target.size, source.size)
    g = G.sample(4, generator=torch.Generator().manual_seed(0))
    assert relative_error(target(g)[:, None] @ W[None], W[None] @ source(g)[:, None]) <= TOLERANCE[torch.float64]


def test_kernel_bases_are_cached_per_rep_pair():
    G = get_group("O(4)-mat")
    network = G.kernel_network(G.standard, G.T(2, 0))
    again = G.kernel_network(G.standard, G.T(2, 0))
    key = next(k for k in G._kernel_bases if k[0] == "T(1,0)" and k[1] == "T(2,0)")
    assert G._kernel_bases[key][2] == network.solve_seconds == again.solve_seconds


def test_a_user_group_from_generators():
    """Rotations about z with the mirror z -> -z (C_inf_h), from one Lie generator and one matrix."""
    generator = torch.zeros(3, 3, dtype=torch.float64)
    generator[0, 1], generator[1, 0] = -1.0, 1.0
    G = MatrixGroup(3, discrete_generators=reflection(3, 2), lie_algebra=generator, name="Cinfh")
    register_group("Cinfh-test", G, overwrite=True)
    assert get_group("Cinfh-test") is G
    g = G.sample(8, generator=torch.Generator().manual_seed(0))
    assert bool(G.contains(g).all())
    assert not bool(G.contains(reflection(3, 0)[None]).any())  # a vertical mirror is not in the group
    assert torch.allclose(g[:, 2, :2], torch.zeros(8, 2, dtype=torch.float64), atol=1e-12)
    with pytest.raises(ValueError, match="do not preserve the metric"):
        MatrixGroup(2, discrete_generators=torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"must be a \(k, 3, 3\)"):
        MatrixGroup(3, lie_algebra=rotation_generators(2))


def axis_rotation(axis: list[float], angle: float) -> torch.Tensor:
    """Float64 rotation of R^3 by ``angle`` about ``axis``."""
    u = torch.tensor(axis, dtype=torch.float64) / torch.tensor(axis, dtype=torch.float64).norm()
    cross = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]], dtype=torch.float64)
    return torch.linalg.matrix_exp(angle * cross)


GOLDEN = (1 + math.sqrt(5)) / 2
FLOAT32_GROUPS = {
    # rotation by 2 pi / 7: cos and sin are irrational, so g^7 = 1 fails by ~1e-7 in float32
    "C7": (planar_rotation(2 * math.pi / 7)[None].float(), 7),
    # a 5-fold rotation about a vertex (0, 1, phi) and a 3-fold one about a face centre (1, 1, 1) of
    # the icosahedron: no proper subgroup of the icosahedral group (order 60) holds both orders
    "Ico": (torch.stack([axis_rotation([0.0, 1.0, GOLDEN], 2 * math.pi / 5),
                         axis_rotation([1.0, 1.0, 1.0], 2 * math.pi / 3)]).float(), 60),
}


@pytest.mark.parametrize("name", FLOAT32_GROUPS)
def test_float32_generators_with_irrational_entries_snap_to_the_exact_group(name):
    """float32 generators are accepted at their precision and snapped onto an exact group in float64
    (orthogonal and closed to ~1e-15, within ~1e-7 of the input), whose kernels and layers then meet
    the float64 tolerance 1e-10."""
    given, order = FLOAT32_GROUPS[name]
    G = MatrixGroup(given.shape[-1], discrete_generators=given, name=f"{name}-float32")
    assert G.discrete.dtype == torch.float64 and len(G.elements) == order
    assert (G.discrete - given.double()).abs().max() < 1e-6
    eye = torch.eye(G.n, dtype=torch.float64)
    assert (G.elements.transpose(1, 2) @ G.elements - eye).abs().max() < 1e-14
    products = G.discrete[:, None] @ G.elements[None]  # closed: every s g is an element, exactly
    assert (products[:, :, None] - G.elements[None, None]).abs().amax((-1, -2)).amin(-1).max() < 1e-14
    assert bool(G.contains(given).all())  # the float32 input is a member at float32 tolerance
    rep_in, rep_out = G.trivial + G.standard, G.standard
    assert_equivariant(ImplicitKernel(rep_in, rep_out))
    assert_equivariant(PointConv(rep_in, rep_out, radius=1.0, avg_degree=8), n_samples=4)


def test_float32_generators_are_checked_at_their_precision():
    c, s = math.cos(2 * math.pi / 7), math.sin(2 * math.pi / 7)
    stretched = torch.tensor([[c, -s], [s, c]], dtype=torch.float32) * 1.0001
    with pytest.raises(ValueError, match=r"do not preserve the metric.*reach 0.0002.*more than the 1.9e-06 accepted"):
        MatrixGroup(2, discrete_generators=stretched)
    # so(3) on a tilted 3-space of R^4: in float64 a Lie algebra, rounded to float32 its brackets
    # leave the span by ~1e-7, so the group it generates would be all of SO(4)
    angles = torch.tensor([0.3, -0.7, 1.1, 0.2, 0.5, -0.4], dtype=torch.float64)
    tilt = torch.linalg.matrix_exp(torch.einsum("d,dij->ij", angles, rotation_generators(4)))
    tilted = tilt @ torch.nn.functional.pad(rotation_generators(3), (0, 1, 0, 1)) @ tilt.T
    assert len(MatrixGroup(4, lie_algebra=tilted).lie) == 3
    with pytest.raises(ValueError, match=r"not closed under the bracket.*give them in float64"):
        MatrixGroup(4, lie_algebra=tilted.float())
    with pytest.raises(ValueError, match=r"does not normalise the lie_algebra"):  # a tilt of the spin axis
        MatrixGroup(3, discrete_generators=axis_rotation([1.0, 0.0, 0.0], 0.3), lie_algebra=rotation_generators(3)[:1])


def test_memoised_differentials_match_fresh_ones_and_stay_bounded():
    """A rep keeps the images of the Lie-algebra elements it was asked for (at most
    ``DIFFERENTIAL_MEMO_SIZE``); every answer equals that of a rep object with no memo."""
    from groups.derived_reps import DIFFERENTIAL_MEMO_SIZE, TensorProductRep

    G = get_group("SO+(1,3)-mat")
    generator = torch.Generator().manual_seed(0)
    rep = TensorProductRep(G.T(2, 0), G.T(0, 1))
    elements = torch.randn(DIFFERENTIAL_MEMO_SIZE + 20, 4, 4, generator=generator, dtype=torch.float64)
    for A in list(elements) + list(elements[:5]):
        fresh = TensorProductRep(G.T(2, 0), G.T(0, 1)).differential(A)
        assert torch.equal(rep.differential(A), fresh)
    assert len(rep.__dict__["_differential_memo"]) == DIFFERENTIAL_MEMO_SIZE
