"""FeatureMonitor: per-type RMS sizes of the outputs of a network's equivariant modules."""

import math

import pytest
import torch
from torch import nn

from groups import get_group
from implicit_kernels import GridConv, PointConv, radius_graph
from implicit_kernels.nn import FeatureMonitor, Gate, GridAvgPool, Linear, Sequential

G = get_group("O(3)")


def degree(rep) -> str:
    return str((rep.size - 1) // 2)


def by_hand(x: torch.Tensor, irreps: list[tuple[int, int]], label=lambda j, l: repr(G.irrep(j, l))) -> dict:
    """``{label: (rms, count)}`` of channels-last ``x`` holding the irreps at consecutive offsets."""
    sums: dict[str, list] = {}
    offset = 0
    for j, l in irreps:
        block = x[..., offset:offset + 2 * l + 1]
        offset += 2 * l + 1
        entry = sums.setdefault(label(j, l), [0.0, 0])
        entry[0] += float(block.detach().square().sum())
        entry[1] += block.numel() // block.shape[-1]
    assert offset == x.shape[-1]
    return {key: (math.sqrt(total / count), count) for key, (total, count) in sums.items()}


def rows_of(monitor: FeatureMonitor, step=None) -> dict:
    return {(row["module"], row["label"]): row for row in monitor.history if step is None or row["step"] == step}


def point_net(rep_in, hidden, rep_out):
    layers = PointConv(rep_in, hidden, radius=2.0), Gate(hidden), PointConv(hidden, rep_out, radius=2.0)
    return Sequential(*layers).double()


def point_cloud(rep_in, n=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    f = torch.randn(n, rep_in.size, generator=generator, dtype=torch.float64)
    return f, pos, radius_graph(pos, 10.0)


def test_rms_per_irrep_matches_the_output():
    irreps = [(0, 0), (1, 1), (0, 0), (0, 2), (1, 1)]
    rep_out = G.irrep(0, 0) + G.irrep(1, 1) + G.irrep(0, 0) + G.irrep(0, 2) + G.irrep(1, 1)
    layer = Linear(G.trivial + G.standard, rep_out).double()
    x = torch.randn(4, 5, layer.rep_in.size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    monitor = FeatureMonitor(layer)
    assert monitor.module_names == [""]
    with monitor.recording(step=7):
        out = layer(x)
    expected = by_hand(out, irreps)
    rows = rows_of(monitor)
    assert set(rows) == {("", label) for label in expected}
    for (_, label), row in rows.items():
        assert row["step"] == 7
        assert row["count"] == expected[label][1]
        assert row["rms"] == pytest.approx(expected[label][0], rel=1e-12, abs=0)
    assert rows[("", repr(G.trivial))]["count"] == 2 * 20


def test_rms_of_a_permuted_basis_is_the_norm_of_the_raw_components():
    """``G.standard`` is an irrep in a permuted basis: its size is still that of its 3 numbers."""
    layer = Linear(G.standard, G.trivial + G.standard).double()
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with FeatureMonitor(layer) as monitor, monitor.recording(step=0):
        out = layer(x)
    rows = rows_of(monitor)
    assert rows[("", repr(G.irrep(1, 1)))]["rms"] == pytest.approx(float(out[:, 1:].square().sum(1).mean().sqrt()),
                                                                    rel=1e-12)


def test_recorded_sizes_are_invariant():
    rep_in = G.trivial + G.standard + G.irrep(0, 2)
    hidden = 2 * G.trivial + G.irrep(1, 1) + G.irrep(0, 1) + G.irrep(0, 2)
    net = point_net(rep_in, hidden, G.trivial + G.standard)
    f, pos, edges = point_cloud(rep_in)
    g = G.sample(1, generator=torch.Generator().manual_seed(3))[0]
    monitor = FeatureMonitor(net, modules=lambda name, module: name != "")
    with monitor.recording(step=0):
        out = net(f, pos, edges)
    with monitor.recording(step=1):
        moved = net(f @ rep_in.matrices(g[None])[0].T, pos @ g.T, edges)
    assert (moved - out).abs().max() > 1e-3  # the features themselves do change
    before, after = rows_of(monitor, 0), rows_of(monitor, 1)
    assert set(before) == set(after) and len(before) == 4 + 4 + 2  # the types of each layer's rep_out
    for key, row in before.items():
        assert after[key]["count"] == row["count"]
        assert after[key]["rms"] == pytest.approx(row["rms"], rel=1e-10, abs=1e-12)


def test_recording_is_off_by_default_and_rows_accumulate():
    rep = G.trivial + G.standard
    net = Sequential(Linear(rep, rep), Gate(rep)).double()
    x1, x2 = torch.randn(2, 8, rep.size, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    monitor = FeatureMonitor(net)
    # the Gate's own Invariants module is hooked too, but the Gate does not call its forward
    assert monitor.module_names == ["", "layers.0", "layers.1", "layers.1.invariants"]
    net(x1)
    assert monitor.history == []
    with monitor.recording(step=0):
        net(x1)
    with monitor.recording(step=1):
        net(x2)
    with monitor.recording(step=2):
        net(x1)
        net(x2)
    assert [row["step"] for row in monitor.history] == [0] * 6 + [1] * 6 + [2] * 6
    first, second, both = rows_of(monitor, 0), rows_of(monitor, 1), rows_of(monitor, 2)
    for key, row in both.items():
        assert row["count"] == first[key]["count"] + second[key]["count"]
        combined = (first[key]["rms"] ** 2 * first[key]["count"] + second[key]["rms"] ** 2 * second[key]["count"])
        assert row["rms"] ** 2 * row["count"] == pytest.approx(combined, rel=1e-12)

    series = monitor.series(module="layers.1")
    assert set(series) == {("layers.1", repr(G.trivial)), ("layers.1", repr(G.irrep(1, 1)))}
    steps, values = series[("layers.1", repr(G.trivial))]
    assert steps == [0, 1, 2] and values == [first[("layers.1", repr(G.trivial))]["rms"],
                                             second[("layers.1", repr(G.trivial))]["rms"],
                                             both[("layers.1", repr(G.trivial))]["rms"]]
    trivial = repr(G.trivial)
    assert set(monitor.series(label=trivial)) == {(name, trivial) for name in ("", "layers.0", "layers.1")}

    table = monitor.table()
    table[0]["rms"] = -1.0
    assert monitor.history[0]["rms"] >= 0

    resumed = FeatureMonitor(net)
    resumed.load_state_dict(monitor.state_dict())
    assert resumed.history == monitor.history
    with pytest.raises(ValueError, match="history"):
        resumed.load_state_dict({"history": [{"step": 0}]})

    monitor.remove()
    resumed.remove()
    with pytest.raises(RuntimeError, match="removed"):
        with monitor.recording(step=3):
            pass
    other = FeatureMonitor(net)
    with other.recording(step=3):
        net(x1)
    assert len(monitor.history) == 18 and len(other.history) == 6


def test_misuse_raises_clear_errors():
    net = Sequential(Linear(G.standard, G.standard))
    with pytest.raises(ValueError, match="Sequential"):
        FeatureMonitor(net, modules=lambda name, module: False)
    with pytest.raises(ValueError, match="ReLU"):
        FeatureMonitor(nn.ReLU())
    monitor = FeatureMonitor(net)
    with monitor.recording(step=0):
        with pytest.raises(RuntimeError, match="nested"):
            with monitor.recording(step=1):
                pass
    with pytest.raises(KeyError):
        with monitor.recording(step=2):
            net(torch.randn(3, 3))
            raise KeyError("training step failed")
    assert monitor.history == []  # a block that raises adds nothing, and leaves the monitor usable
    with monitor.recording(step=3):
        net(torch.randn(3, 3))
    assert {row["step"] for row in monitor.history} == {3}


def test_wrapped_models_are_monitored_under_their_own_names():
    rep = G.trivial + G.standard
    net = Sequential(Linear(rep, rep), Gate(rep)).double()
    x = torch.randn(5, rep.size, dtype=torch.float64)
    plain = FeatureMonitor(net)
    wrapped = FeatureMonitor(nn.DataParallel(net))
    assert wrapped.module_names == plain.module_names
    with plain.recording(step=0), wrapped.recording(step=0):
        nn.DataParallel(net)(x)
    assert wrapped.history == plain.history and len(plain.history) == 6


def test_label_function_groups_types_by_degree():
    rep_out = G.irrep(0, 0) + G.irrep(0, 1) + G.irrep(1, 1) + 2 * G.irrep(1, 2)
    layer = Linear(G.trivial + G.standard, rep_out).double()
    x = torch.randn(9, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    monitor = FeatureMonitor(layer, label=degree)
    with monitor.recording(step=0):
        out = layer(x)
    rows = rows_of(monitor)
    expected = by_hand(out, [(0, 0), (0, 1), (1, 1), (1, 2), (1, 2)], label=lambda j, l: str(l))
    assert {label for _, label in rows} == {"0", "1", "2"}
    for (_, label), row in rows.items():
        assert row["count"] == expected[label][1] and row["rms"] == pytest.approx(expected[label][0], rel=1e-12)
    assert rows[("", "1")]["count"] == 2 * 9  # both parities of degree 1 merged


def test_grid_modules_are_measured_along_the_channel_axis():
    rep_in, hidden = G.trivial, G.trivial + G.standard + G.irrep(0, 2)
    net = Sequential(GridConv(rep_in, hidden, kernel_size=3), Gate(hidden), GridAvgPool(hidden, 2)).double()
    f = torch.randn(2, rep_in.size, 4, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    outputs = {}
    for name, module in net.named_modules():
        if name:
            module.register_forward_hook(lambda module, args, out, name=name: outputs.setdefault(name, out))
    monitor = FeatureMonitor(net, label=degree)
    with monitor.recording(step=0):
        net(f)
    channels_last = {"layers.0": outputs["layers.0"].movedim(1, -1), "layers.1": outputs["layers.1"],
                     "layers.2": outputs["layers.2"].movedim(1, -1), "": outputs["layers.2"].movedim(1, -1)}
    assert channels_last["layers.1"].shape[-1] == hidden.size  # the Gate ran on channels-last features
    rows = rows_of(monitor)
    assert len(rows) == 4 * 3
    for name, x in channels_last.items():
        expected = by_hand(x, [(0, 0), (1, 1), (0, 2)], label=lambda j, l: str(l))
        for label, (rms, count) in expected.items():
            assert rows[(name, label)]["count"] == count
            assert rows[(name, label)]["rms"] == pytest.approx(rms, rel=1e-12)


def test_fields_without_a_definite_invariant_form_are_measured_by_their_invariant_forms():
    """A Lorentz vector has no invariant norm: its size is ``|x^T eta x|``, invariant under boosts."""
    H = get_group("SO+(1,3)-mat")
    layer = Linear(H.standard, H.standard).double()
    x = torch.randn(50, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    g = H.sample(1, generator=torch.Generator().manual_seed(7))[0]
    eta = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64)  # the metric, time first
    monitor = FeatureMonitor(layer)
    with monitor.recording(step=0):
        out = layer(x)
    with monitor.recording(step=1):
        layer(x @ g.T)
    before, after = (row["rms"] for row in monitor.history)
    assert before == pytest.approx(float((out.detach().square() * eta).sum(-1).abs().mean().sqrt()), rel=1e-12)
    assert before != pytest.approx(float(out.detach().square().sum(-1).mean().sqrt()), rel=1e-3)
    assert after == pytest.approx(before, rel=1e-9)
