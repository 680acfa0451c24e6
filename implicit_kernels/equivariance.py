"""Equivariance checks for kernels and for any :class:`~implicit_kernels.module.EquivariantModule`.

Every check transforms the inputs by a group element, runs the module, and compares with the
transformed outputs. The error is the largest componentwise deviation relative to the output's
scale, ``max |lhs - rhs| / max |rhs|``: a single wrong component cannot hide behind a norm over a
large batch. :data:`TOLERANCE` is the table :func:`assert_equivariant` holds modules to.
"""

from __future__ import annotations

import torch
from torch import nn

from groups import Group, Rep
from implicit_kernels.escnn_interop import from_escnn_layout, to_escnn_layout
from implicit_kernels.graph import complete_graph
from implicit_kernels.kernel import ImplicitKernel
from implicit_kernels.mesh_geometry import MeshGeometry, disc_geometry
from implicit_kernels.module import EquivariantModule

TOLERANCE: dict[torch.dtype, float] = {torch.float64: 1e-10, torch.float32: 1e-5}
"""Largest accepted equivariance error per dtype for exactly equivariant modules: float64 errors of
our modules are around 1e-14, float32 ones around 1e-7."""

_GRAPH_NODES = 24
_GRID_SIZE = 7
_FEATURE_BATCH = 16


def fixed_draws(module: nn.Module, seed: int = 0):
    """``module`` as a function whose every call starts from the same random state (the caller's
    is restored afterwards), so that a stochastic module such as
    :class:`~implicit_kernels.nn.FieldDropout` draws the same for the transformed and the original
    input."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []

    def call(*args):
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return module(*args)

    return call


def relative_error(lhs: torch.Tensor, rhs: torch.Tensor) -> float:
    """``max |lhs - rhs| / max |rhs|`` over all components, as a float."""
    lhs, rhs = lhs.detach(), rhs.detach()
    scale = rhs.abs().max().clamp_min(torch.finfo(rhs.dtype).tiny)
    return float((lhs - rhs).abs().max() / scale)


def act(rep: Rep, g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``rho(g) v`` for one element ``g`` ``(n, n)`` and vectors ``v`` ``(..., rep.size)``; ``rho(g)``
    is evaluated in float64 and then cast to ``v``'s dtype."""
    return v @ rep(g.to(torch.float64)).to(device=v.device, dtype=v.dtype).transpose(0, 1)


def transform_grid(f: torch.Tensor, g: torch.Tensor, rep: Rep) -> torch.Tensor:
    """``(g . f)(p) = rho(g) f(g^-1 p)`` for a grid signal ``f`` ``(B, C, *spatial)`` and a signed
    permutation ``g`` (``(n, n)``) on the centred grid of :class:`GridConv`'s axis convention."""
    n = g.shape[0]
    perm = g.abs().argmax(dim=1)  # output axis l reads input axis perm[l]
    signs = g[torch.arange(n), perm]
    if not torch.equal(g.abs(), (g.abs() == 1).to(g.dtype)) or not bool((g.abs().sum(dim=1) == 1).all()):
        raise ValueError(f"transform_grid needs a signed permutation matrix, got {g.tolist()}")
    moved = f.permute(0, 1, *[2 + int(k) for k in perm])
    flips = [2 + l for l in range(n) if signs[l] < 0]
    moved = moved.flip(flips) if flips else moved
    channels = rep(g.to(torch.float64)).to(device=f.device, dtype=f.dtype)
    return torch.einsum("oc,bc...->bo...", channels, moved)


def kernel_equivariance_error(
    kernel: ImplicitKernel, g: torch.Tensor, x: torch.Tensor, attr: torch.Tensor | None = None
) -> float:
    """Error of ``K(g x, rho_a(g) a) = rho_out(g) K(x, a) rho_in(g)^-1`` over points ``x`` ``(m, n)``,
    one element ``g`` per point (``(m, n, n)``)."""
    gd = g.to(torch.float64)
    gx = torch.einsum("kij,kj->ki", g.to(x.dtype), x)
    ga = None if attr is None else torch.einsum("kij,kj->ki", kernel.attr_rep(gd).to(x.dtype), attr)
    rho_out = kernel.rep_out(gd).to(x.dtype)
    rho_in_inv = torch.linalg.inv(kernel.rep_in(gd)).to(x.dtype)
    return relative_error(kernel(gx, ga), rho_out @ kernel(x, attr) @ rho_in_inv)


def feature_equivariance_error(module: nn.Module, g: torch.Tensor, f: torch.Tensor) -> float:
    """Error of ``module(rho_in(g) f) = rho_out(g) module(f)`` for a pointwise module."""
    run = fixed_draws(module)
    return relative_error(run(act(module.rep_in, g, f)), act(module.rep_out, g, run(f)))


def point_conv_equivariance_error(
    conv: nn.Module,
    g: torch.Tensor,
    translation: torch.Tensor,
    f: torch.Tensor,
    pos: torch.Tensor,
    edge_index: torch.Tensor,
    attr: torch.Tensor | None = None,
) -> float:
    """Error of ``conv(rho_in(g) f, g pos + t, rho_a(g) a) = rho_out(g) conv(f, pos, a)`` for a graph
    module (a :class:`PointConv` or a network of them)."""
    moved_pos = pos @ g.to(pos.dtype).transpose(0, 1) + translation.to(pos.dtype)
    moved_attr = None if attr is None else act(conv.attr_rep, g, attr)
    run = fixed_draws(conv)
    lhs = run(act(conv.rep_in, g, f), moved_pos, edge_index, moved_attr)
    return relative_error(lhs, act(conv.rep_out, g, run(f, pos, edge_index, attr)))


def mesh_conv_equivariance_error(conv: nn.Module, gauge: torch.Tensor, f: torch.Tensor,
                                 geometry: MeshGeometry) -> float:
    """Error of ``conv(rho_in(g_i)^-1 f_i, geometry in frames e_i g_i) = rho_out(g_i)^-1 conv(f, geometry)_i``
    for a mesh module and a change of gauge ``g`` ``(N, 2, 2)``, one element per vertex."""
    gauge = gauge.to(torch.float64)
    inverse_in = torch.linalg.inv(conv.rep_in(gauge)).to(f.dtype)
    inverse_out = torch.linalg.inv(conv.rep_out(gauge)).to(f.dtype)
    run = fixed_draws(conv)
    lhs = run(torch.einsum("nab,nb->na", inverse_in, f), geometry.change_gauge(gauge))
    return relative_error(lhs, torch.einsum("nab,nb->na", inverse_out, run(f, geometry)))


def grid_conv_equivariance_error(conv: nn.Module, g: torch.Tensor, f: torch.Tensor) -> float:
    """Error of ``conv(g . f) = g . conv(f)`` for a grid module and a grid-preserving ``g`` (see
    :func:`transform_grid`), in the module's grid layout (``conv.layout``, ours by default)."""
    escnn = getattr(conv, "layout", "ours") == "escnn"

    def move(signal: torch.Tensor, rep: Rep) -> torch.Tensor:
        if not escnn:
            return transform_grid(signal, g, rep)
        return to_escnn_layout(transform_grid(from_escnn_layout(signal), g, rep))

    run = fixed_draws(conv)
    return relative_error(run(move(f, conv.rep_in)), move(run(f), conv.rep_out))



def _working_dtype(module: nn.Module) -> torch.dtype:
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


@torch.no_grad()
def check_equivariance(
    module: ImplicitKernel | EquivariantModule,
    n_samples: int = 8,
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64),
    seed: int = 0,
    elements: torch.Tensor | None = None,
) -> dict[torch.dtype, float]:
    """Largest equivariance error of ``module`` per dtype on random inputs (see the module
    docstring for the error).

    ``module`` is an :class:`ImplicitKernel` or any :class:`EquivariantModule`, whole networks
    included; its ``inputs`` decides the test:

    * ``"features"``: a batch of random features, ``n_samples`` random group elements;
    * ``"graph"``: a complete graph on 24 random points (random edge attributes where the module
      declares ``attr_rep``), random elements and random translations;
    * ``"grid"``: a random signal on a ``7^n`` grid and the group's grid-preserving elements (all
      of them if ``n_samples`` allows), the only ones that commute exactly with sampling;
    * ``"mesh"``: ``n_samples`` random changes of gauge (one element per vertex) of a random
      geometry on the complete graph of 24 vertices (:func:`disc_geometry`).

    Elements come from ``group.sample`` unless ``elements`` ``(k, n, n)`` are given (e.g. boosts of
    a chosen rapidity). The module is left as it was: its dtype and its state (running statistics
    of batch norms) are restored.
    """
    kernel_check = isinstance(module, ImplicitKernel)
    kind = "kernel" if kernel_check else getattr(module, "inputs", None)
    if kind not in ("kernel", "features", "graph", "grid", "mesh"):
        raise TypeError(
            "check_equivariance needs an ImplicitKernel or an EquivariantModule (with rep_in, rep_out and "
            f"inputs), got {type(module).__name__}"
        )
    group: Group = module.group
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    if elements is None:
        count = n_samples * _GRAPH_NODES if kind == "mesh" else n_samples
        elements = group.grid_elements() if kind == "grid" else group.sample(count, generator=generator)
        if kind == "grid":
            elements = elements[torch.randperm(len(elements), generator=generator)[:n_samples]]
    elements = elements.to(torch.float64)
    attr_rep = getattr(module, "attr_rep", None)
    original = _working_dtype(module)
    state = {name: value.clone() for name, value in module.state_dict().items()}  # e.g. running statistics
    errors = {}
    try:
        for dtype in dtypes:
            module.to(dtype)
            if kind == "grid":
                f = randn(2, module.rep_in.size, *([_GRID_SIZE] * group.n)).to(dtype)
                errs = [grid_conv_equivariance_error(module, g, f) for g in elements]
            elif kind == "graph":
                edges = complete_graph(_GRAPH_NODES)
                f, pos = randn(_GRAPH_NODES, module.rep_in.size), randn(_GRAPH_NODES, group.n)
                attr = None if attr_rep is None else randn(edges.shape[1], attr_rep.size).to(dtype)
                errs = [
                    point_conv_equivariance_error(module, g, randn(group.n), f.to(dtype), pos.to(dtype), edges, attr)
                    for g in elements
                ]
            elif kind == "mesh":
                geometry = disc_geometry(_GRAPH_NODES, generator, dtype)
                f = randn(_GRAPH_NODES, module.rep_in.size).to(dtype)
                pick = torch.randint(len(elements), (n_samples, _GRAPH_NODES), generator=generator)
                errs = [mesh_conv_equivariance_error(module, elements[gauge], f, geometry) for gauge in pick]
            elif kind == "features":
                f = randn(_FEATURE_BATCH, module.rep_in.size).to(dtype)
                errs = [feature_equivariance_error(module, g, f) for g in elements]
            else:
                x = randn(len(elements), group.n).to(dtype)
                attr = None if attr_rep is None else randn(len(elements), attr_rep.size).to(dtype)
                errs = [kernel_equivariance_error(module, elements, x, attr)]
            errors[dtype] = max(errs)
    finally:
        module.to(original)
        module.load_state_dict(state)
    return errors


def assert_equivariant(
    module: ImplicitKernel | EquivariantModule,
    tolerance: dict[torch.dtype, float] | None = None,
    **options,
) -> dict[torch.dtype, float]:
    """:func:`check_equivariance` (``options`` are passed on) that raises ``AssertionError`` when an
    error exceeds ``tolerance`` (default :data:`TOLERANCE`) for its dtype; returns the errors."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    errors = check_equivariance(module, **options)
    failed = {dtype: err for dtype, err in errors.items() if not err <= tolerance[dtype]}
    if failed:
        detail = ", ".join(f"{dtype}: {err:.3g} > {tolerance[dtype]:.1g}" for dtype, err in failed.items())
        raise AssertionError(f"{type(module).__name__} is not equivariant: {detail}")
    return errors
