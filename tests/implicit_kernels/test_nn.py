"""The nn building blocks: exactly equivariant for every family, complete, typed, and strict
about bad input."""

from __future__ import annotations

import pickle
from copy import deepcopy

import numpy as np
import pytest
import torch

from groups import get_group
from implicit_kernels import GridConv, PointConv
from implicit_kernels.equivariance import TOLERANCE, assert_equivariant
from implicit_kernels.nn import (
    BatchNorm,
    FieldDropout,
    FieldNorm,
    Gate,
    GlobalPool,
    GridAvgPool,
    Invariants,
    Linear,
    NormActivation,
    Sequential,
    SizeNorm,
    TensorProduct,
    TensorSquare,
    global_pool,
)
from tests.implicit_kernels.nn_families import FAMILIES, CyclicShift, Family

MODULES = {
    "Linear": lambda G, rep: Linear(rep, G.trivial + rep),
    "TensorProduct": lambda G, rep: TensorProduct(rep, G.standard + G.trivial, rep),
    "Invariants": lambda G, rep: Invariants(rep),
    "Gate": lambda G, rep: Gate(rep),
    "FieldNorm": lambda G, rep: FieldNorm(rep),
    "BatchNorm": lambda G, rep: BatchNorm(rep),
    "SizeNorm": lambda G, rep: SizeNorm(rep),
    "FieldDropout": lambda G, rep: FieldDropout(rep, p=0.5),
    "GateFromInputs": lambda G, rep: Gate(rep, gates="inputs"),
    "TensorSquare": lambda G, rep: TensorSquare(rep, G.trivial + rep),
    "Sequential": lambda G, rep: Sequential(Linear(rep, rep), Gate(rep), BatchNorm(rep), Linear(rep, G.standard)),
}


def randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values for every parameter (so zero-initialised biases and unit scales are tested too)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    return module


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@pytest.mark.parametrize("kind", MODULES)
def test_modules_are_exactly_equivariant(family: Family, kind: str):
    G, rep = family.build()
    module = randomise(MODULES[kind](G, rep))
    assert_equivariant(module, tolerance=family.tolerance, elements=family.elements(G))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_batch_norm_in_eval_mode_is_exactly_equivariant(family: Family):
    G, rep = family.build()
    norm = randomise(BatchNorm(rep))
    norm(torch.randn(64, rep.size))
    assert_equivariant(norm.eval(), tolerance=family.tolerance, elements=family.elements(G))


DEFINITE = [f for f in FAMILIES if f.name in ("O(3)", "O(3)-skewed", "user")]


@pytest.mark.parametrize("family", DEFINITE, ids=lambda f: f.name)
def test_norm_activation_is_exactly_equivariant_for_definite_forms(family: Family):
    G, rep = family.build()
    assert_equivariant(randomise(NormActivation(rep)), elements=family.elements(G))


@pytest.mark.parametrize("name", ["O(1,3)", "O(2,1)"])
def test_point_network_under_boosts(name):
    """A whole point network (convolutions, gates, norms, a tensor square of features) is exact in
    float64 under boosts of rapidity up to 2. In float32 the boosted positions and multivectors lose
    digits before the network sees them (measured 3e-5 to 1.2e-4), hence 1e-3 there."""
    G = get_group(name)
    hidden = G.multivector + G.grade(1)
    net = Sequential(
        PointConv(G.trivial + G.grade(1), hidden, radius=1.5, avg_degree=8),
        Gate(hidden),
        FieldNorm(hidden),
        TensorSquare(hidden, hidden),
        PointConv(hidden, G.grade(1), radius=1.5, avg_degree=8),
    )
    elements = G.sample(6, generator=torch.Generator().manual_seed(0), max_rapidity=2.0)
    assert_equivariant(net, tolerance={torch.float64: TOLERANCE[torch.float64], torch.float32: 1e-3},
                       elements=elements)


# ------------------------------------------------------------------------------------------------
# completeness against an oracle that shares no code with the modules: the null space of stacked
# constraints rho_out(g) W = W rho_in(g) over sampled elements, computed with numpy


def oracle_dimension(rep_in, rep_out, elements: torch.Tensor) -> int:
    return null_dimension(rep_in(elements).numpy(), rep_out(elements).numpy())


def null_dimension(ins: np.ndarray, outs: np.ndarray) -> int:
    """``dim {W : b W = W a}`` over the ``(k, ., .)`` matrices ``a`` of ``ins`` and ``b`` of ``outs``."""
    rows = [np.kron(b, np.eye(a.shape[0])) - np.kron(np.eye(b.shape[0]), a.T) for a, b in zip(ins, outs)]
    singular = np.linalg.svd(np.concatenate(rows), compute_uv=False)
    return int((singular < 1e-8 * max(singular[0], 1.0)).sum()) + max(0, rows[0].shape[1] - len(singular))


class TensorRepOf:
    """``rho_a (x) rho_b`` for the oracle, as a plain Kronecker product of the reps' matrices."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __call__(self, g):
        return torch.einsum("kij,kab->kiajb", self.a(g), self.b(g)).flatten(3, 4).flatten(1, 2)


def spanned_rank(matrices: list[torch.Tensor]) -> int:
    stacked = torch.stack([m.flatten() for m in matrices]).double()
    singular = torch.linalg.svdvals(stacked)
    return int((singular > 1e-9 * singular[0]).sum())


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_linear_is_complete(family: Family):
    G, rep = family.build()
    rep_out = G.standard + rep
    elements = family.elements(G, k=12, seed=5)
    dimension = oracle_dimension(rep, rep_out, elements)
    linear = Linear(rep, rep_out, bias=False).double()
    assert linear.parameter_count == dimension
    draws = [linear.weight_matrix() for _ in range(dimension + 3) if linear.reset_parameters() is None]
    assert spanned_rank(draws) == dimension


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_tensor_product_is_complete(family: Family):
    G, rep = family.build()
    rep_b, rep_out = G.standard + G.trivial, G.trivial + G.standard
    elements = family.elements(G, k=12, seed=6)
    dimension = oracle_dimension(TensorRepOf(rep, rep_b), rep_out, elements)
    product = TensorProduct(rep, rep_b, rep_out).double()
    assert sum(p.numel() for p in product.parameters()) == dimension
    eye_a = torch.eye(rep.size, dtype=torch.float64)
    eye_b = torch.eye(rep_b.size, dtype=torch.float64)

    def bilinear_map() -> torch.Tensor:
        product.reset_parameters()
        return product(eye_a[:, None, :].expand(-1, rep_b.size, -1), eye_b[None].expand(rep.size, -1, -1))

    assert spanned_rank([bilinear_map() for _ in range(dimension + 3)]) == dimension


def test_linear_bias_lies_in_the_invariant_directions():
    G = CyclicShift()
    rep = G.twisted(2) + G.trivial
    linear = randomise(Linear(rep, rep)).double()
    bias = linear(torch.zeros(1, rep.size, dtype=torch.float64))[0]
    g = G.elements[1:2]
    assert linear.bias.theta.numel() == 2
    assert torch.allclose(rep(g)[0] @ bias, bias, atol=1e-14)
    assert bias.abs().max() > 0.1


def test_invariants_are_finite_and_exact_on_null_vectors():
    """On the light cone the quadratic invariant vanishes: Invariants gives exactly 0, not NaN, and
    its gradient is finite."""
    G = get_group("O(1,3)")
    invariants = Invariants(G.grade(1)).double()
    null = torch.tensor([[1.0, 1.0, 0.0, 0.0], [2.0, 0.0, 1.2, 1.6]], dtype=torch.float64, requires_grad=True)
    values = invariants(null)
    values.sum().backward()
    assert values.abs().max() <= 1e-14 and torch.isfinite(null.grad).all()


def test_gate_keeps_the_invariant_part_of_a_lorentz_tensor_exact():
    """T(1,1) of O(1,3) holds an invariant (the identity map): the Gate applies its activation to
    that coordinate and gates only the traceless remainder."""
    G = get_group("O(1,3)-mat")
    gate = Gate(G.T(1, 1), activation=torch.tanh).double()
    identity = torch.eye(4, dtype=torch.float64).flatten()
    assert torch.allclose(gate(3.0 * identity[None])[0], np.tanh(3.0) * identity, atol=1e-14)


def test_gate_with_input_gates_scales_each_field_by_its_own_scalar():
    G = get_group("O(3)")
    gate = Gate(G.trivial + 2 * G.standard, gates="inputs").double()
    x = torch.randn(7 + 2, dtype=torch.float64)
    expected = torch.cat([torch.nn.functional.silu(x[:1]), x[1:4] * torch.sigmoid(x[7]), x[4:7] * torch.sigmoid(x[8])])
    assert gate.rep_in.size == 9 and torch.allclose(gate(x[None])[0], expected, atol=1e-15)


def test_invariants_are_squared_norms_or_norms_of_orthogonal_fields():
    G = get_group("O(3)")
    x = torch.randn(4, 1 + 6, dtype=torch.float64)
    squares = torch.stack([x[:, 1:4].square().sum(1), x[:, 4:].square().sum(1)], dim=1)
    assert torch.allclose(Invariants(G.trivial + 2 * G.standard).double()(x), torch.cat([x[:, :1], squares], 1))
    assert torch.allclose(Invariants(G.trivial + 2 * G.standard, norms=True).double()(x)[:, 1:], squares.sqrt())


# ------------------------------------------------------------------------------------------------
# typed modules, dtypes, pooling


def test_constants_stay_float64_when_the_module_moves_to_float32():
    G = get_group("Ico")
    rep = G.standard + G.standard.tensor(G.standard)
    module = Sequential(Linear(rep, rep), Gate(rep), TensorSquare(rep, rep)).to(torch.float32)
    constants = [b for name, b in module.named_buffers() if "basis" in name or name.split(".")[-1][:2] in ("L_", "U_")]
    assert constants and all(c.dtype == torch.float64 for c in constants)
    assert all(p.dtype == torch.float32 for p in module.parameters())
    assert_equivariant(module.double(), dtypes=(torch.float64,))


def test_state_dict_round_trip_reproduces_outputs():
    G = get_group("O(1,3)")
    rep = G.multivector + G.grade(1)
    source = randomise(Sequential(Linear(rep, rep), Gate(rep), BatchNorm(rep)))
    source(torch.randn(32, rep.size))
    target = Sequential(Linear(rep, rep), Gate(rep), BatchNorm(rep))
    target.load_state_dict(source.state_dict())
    x = torch.randn(5, rep.size)
    assert torch.equal(source.eval()(x), target.eval()(x))


def test_global_pool_sums_and_averages_per_graph():
    f = torch.arange(12.0).reshape(6, 2)
    batch = torch.tensor([0, 0, 1, 1, 1, 3])
    pooled = global_pool(f, batch, reduce="mean", num_graphs=4)
    assert torch.equal(pooled, torch.tensor([[1.0, 2.0], [6.0, 7.0], [0.0, 0.0], [10.0, 11.0]]))
    assert torch.equal(global_pool(f, batch, "sum")[1], f[2:5].sum(0))


def test_grid_network_is_exact_under_the_grid_symmetries():
    """Grid layers, pointwise modules (on the channel axis) and pooling in one chain, on a grid whose
    size the pooling divides (7 + 2 * 1 after two 'same' convolutions stays 7: pool by 7)."""
    G = get_group("O(2)")
    rep = G.standard + G.trivial
    net = Sequential(GridConv(rep, rep, 3), Gate(rep), FieldNorm(rep), GridConv(rep, rep, 3), GridAvgPool(rep, 7),
                     Linear(rep, G.standard))
    assert_equivariant(randomise(net))


def test_grid_pool_averages_blocks_and_rejects_sizes_it_does_not_divide():
    G = get_group("SO(2)")
    pool = GridAvgPool(G.standard, 2)
    f = torch.arange(32.0).reshape(1, 2, 4, 4)
    assert torch.equal(pool(f)[0, 0, 0, 0], f[0, 0, :2, :2].mean())
    with pytest.raises(ValueError, match=r"spatial sizes divisible by kernel_size = 2, got shape \(1, 2, 5, 4\)"):
        pool(torch.randn(1, 2, 5, 4))


# ------------------------------------------------------------------------------------------------
# bad input: each error names what was expected and what was received


def test_reps_of_different_groups_are_rejected():
    with pytest.raises(ValueError, match=r"expected a rep of O\(3\), got a rep of SO\(3\)"):
        Linear(get_group("O(3)").trivial, get_group("SO(3)").standard)


@pytest.mark.parametrize("make", [
    lambda G: Linear(G.standard, G.standard),
    lambda G: Gate(G.standard),
    lambda G: Invariants(G.standard),
    lambda G: FieldNorm(G.standard),
    lambda G: BatchNorm(G.standard),
    lambda G: TensorProduct(G.standard, G.standard, G.standard),
])
def test_features_of_the_wrong_size_are_rejected(make):
    module = make(get_group("SO(3)"))
    with pytest.raises(ValueError, match=r"must have 3 channels .* got shape \(5, 4\)"):
        module(torch.randn(5, 4), torch.randn(5, 4)) if isinstance(module, TensorProduct) else module(torch.randn(5, 4))


@pytest.mark.parametrize("kind", MODULES)
def test_features_in_another_dtype_than_the_parameters_are_rejected(kind):
    """A float32 module given float64 features raises a TypeError naming both dtypes when it has
    parameters; modules without any take any floating dtype. Float64 constants never count as the
    module's dtype."""
    G = get_group("O(3)")
    rep = G.trivial + G.standard + G.irrep(0, 2)
    module = MODULES[kind](G, rep).float()
    x = torch.randn(4, module.rep_in.size, dtype=torch.float64)  # TensorProduct splits it into its two inputs
    if next(module.parameters(), None) is not None:
        with pytest.raises(TypeError, match=r"\(torch.float64\) is not the dtype of the layer's parameters "
                                            r"\(torch.float32\)"):
            module(x)
    else:
        assert module(x).dtype == torch.float64
    assert module.double()(x).dtype == torch.float64


def test_sequential_names_both_reps_when_they_do_not_chain():
    G = get_group("O(3)")
    with pytest.raises(ValueError, match=r"module 1 \(Gate\) expects rep_in .*\(0, 0\).* module 0 \(Linear\) produces "
                                         r"rep_out .*\(1, 1\)"):
        Sequential(Linear(G.trivial, G.standard), Gate(G.trivial))


def test_sequential_rejects_modules_without_reps():
    with pytest.raises(TypeError, match="module 0 must be an EquivariantModule .* got Linear"):
        Sequential(torch.nn.Linear(3, 3))


def test_norm_activation_names_the_field_without_a_definite_form():
    G = get_group("O(1,3)")
    with pytest.raises(ValueError, match=r"the field grade\(1\) of grade\(0\) \+ grade\(1\) has none"):
        NormActivation(G.trivial + G.grade(1))


def test_global_pool_rejects_max_and_float_batches():
    with pytest.raises(ValueError, match="a max is not equivariant"):
        global_pool(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), "max")
    with pytest.raises(ValueError, match="batch must be an integer tensor of shape \\(4,\\), got torch.float32"):
        global_pool(torch.randn(4, 3), torch.zeros(4))


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.name in ("O(3)", "O(1,3)", "SO+(1,3)-mat")],
                         ids=lambda f: f.name)
def test_networks_pickle_and_deepcopy_with_identical_outputs(family: Family):
    G, rep = family.build()
    net = randomise(Sequential(Linear(rep, rep), Gate(rep), BatchNorm(rep), TensorSquare(rep, G.standard))).eval()
    x = torch.randn(4, rep.size)
    for copy in (pickle.loads(pickle.dumps(net)), deepcopy(net)):
        assert torch.equal(copy(x), net(x))
        assert copy.rep_out + get_group(G.name).trivial == net.rep_out + G.trivial


def test_graph_network_with_a_pooled_readout_is_exact_and_pools_per_graph():
    G = get_group("SO(3)")
    hidden = 2 * G.trivial + 2 * G.standard
    net = randomise(Sequential(PointConv(G.trivial, hidden, radius=1.5, avg_degree=6), Gate(hidden),
                               GlobalPool(hidden, "sum"), Linear(hidden, G.standard)))
    assert_equivariant(net)
    # float64: the randomised weights amplify float32 round-off to 1e-6..5e-4, depending on the draw
    net = net.double()
    f, pos = torch.randn(10, 1, dtype=torch.float64), torch.randn(10, 3, dtype=torch.float64)
    edges = torch.tensor([[0, 1, 5, 6], [1, 0, 6, 5]])
    batch = torch.tensor([0] * 5 + [1] * 5)
    both = net(f, pos, edges, batch=batch)
    first = net(f[:5], pos[:5], edges[:, :2])
    assert both.shape == (2, 3) and torch.allclose(both[0], first[0], atol=1e-10)


def test_point_layers_cannot_follow_a_graph_readout():
    G = get_group("SO(3)")
    with pytest.raises(ValueError, match=r"module 0 \(GlobalPool\) pools the nodes of each graph"):
        Sequential(GlobalPool(G.standard), PointConv(G.standard, G.standard))


def test_check_equivariance_leaves_running_statistics_alone():
    G = get_group("O(3)")
    norm = BatchNorm(G.trivial + G.standard)
    before = {name: value.clone() for name, value in norm.state_dict().items()}
    assert_equivariant(norm)
    assert all(torch.equal(before[name], value) for name, value in norm.state_dict().items())


@pytest.mark.parametrize("name", ["O(2,0)", "O(3,0)", "O(1,2)", "O(1,3)", "O(2,2)"])
def test_clifford_closed_forms_have_the_oracle_dimensions(name):
    """The Clifford family's closed forms (identity between equal grades, the geometric product's
    grade projection between a product of two grades and a third) against the dimensions the numpy
    oracle solves from sampled elements, for every triple of grades; the closed-form maps are
    themselves equivariant."""
    G = get_group(name)
    elements = G.sample(6, generator=torch.Generator().manual_seed(7), max_rapidity=1.0)
    grades = [G.grade(k) for k in range(G.n + 1)]
    mats = [grade(elements).numpy() for grade in grades]
    for i, a in enumerate(grades):
        for k, c in enumerate(grades):
            assert G.solve_intertwiners(a, c).shape[0] == null_dimension(mats[i], mats[k])
            for j, b in enumerate(grades):
                product = np.einsum("gab,gcd->gacbd", mats[i], mats[j]).reshape(len(elements), a.size * b.size, -1)
                basis = G.solve_intertwiners(a.tensor(b), c).numpy()
                assert basis.shape[0] == null_dimension(product, mats[k])
                for W in basis:
                    assert np.abs(mats[k] @ W - W @ product).max() <= 1e-12 * (1 + np.abs(product).max())


def test_field_dropout_keeps_or_drops_each_field_whole_and_keeps_the_mean():
    """In training every field (a copy of a part type) is either zero or scaled by ``1 / (1 - p)``
    as a whole, and about a fraction ``p`` of them is dropped; in evaluation it is the identity."""
    G = get_group("O(3)")
    rep = 3 * G.irrep(0, 0) + 2 * G.irrep(1, 1) + G.irrep(0, 2)  # fields of sizes 1, 3 and 5
    dropout = FieldDropout(rep, p=0.3)
    x = torch.randn(2000, rep.size, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 3.0
    y = dropout(x)
    sizes = [1, 1, 1, 3, 3, 5]
    kept = []
    for block_x, block_y in zip(x.split(sizes, dim=1), y.split(sizes, dim=1)):
        zero = (block_y == 0).all(dim=1)
        scaled = (block_y - block_x / 0.7).abs().max(dim=1).values <= 1e-12 * block_x.abs().max()
        assert bool((zero ^ scaled).all())
        kept.append(scaled)
    dropped = 1 - torch.stack(kept).double().mean()
    assert abs(float(dropped) - 0.3) < 4 * (0.3 * 0.7 / (2000 * len(sizes))) ** 0.5
    assert torch.equal(dropout.eval()(x), x)


def test_field_dropout_checks_are_replayed_and_leave_the_random_state_alone():
    """``check_equivariance`` gives a stochastic module the same draws for the transformed and the
    original input, and restores the caller's random state."""
    G = get_group("O(3)")
    dropout = FieldDropout(2 * G.irrep(1, 1) + G.irrep(0, 0), p=0.5)
    before = torch.get_rng_state()
    assert_equivariant(dropout)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_field_dropout_rejects_probabilities_outside_zero_one(p):
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\)"):
        FieldDropout(get_group("O(3)").irrep(1, 1), p=p)
