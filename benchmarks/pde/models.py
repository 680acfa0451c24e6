"""Forecasting models for the PDE tasks: multivector fields on a grid in, the next field out.

Every model maps ``x`` ``(B, inputs, 2^n, *grid)`` (``inputs`` multivector channels of Cl(p, q) in
the short-lex blade order of :mod:`benchmarks.pde.data`) to the prediction ``(B, 2^n, *grid)``::

    y = x[:, residual] + a P_grades(update(x)),

a residual on one input channel (the last history frame) plus an update projected onto the grades
the predicted field has (``P_grades`` zeroes the other blades; it commutes with ``rho(g)``, which
preserves grades). ``a`` is a learnable scalar starting at :data:`UPDATE_SCALE`: a step changes the
fields little, and a unit-variance update at initialisation (the steerable convolutions are
calibrated to it) slowed training down severalfold in trials. ``update`` is a ResNet of
``kernel_size``-wide convolutions, each padded circularly along periodic axes and with zeros along
the others (a spacetime grid's time axis)::

    h = conv_in(x);   h = h + conv_2(act(conv_1(act(h))))  (``blocks`` times);   update = conv_out(act(h)).

* :class:`CliffordResNet`: Clifford-steerable. Every hidden channel is a multivector (``rep =
  channels x G.multivector`` of ``O(p, q)``), the convolutions are :class:`GridConv` with the Clifford
  kernel network (``head="complete"``, or ``"single"``, the Clifford-steerable CNN head of coverage
  ``(3n + 1) / 4n``, fewer parameters), and ``act`` is :class:`ChannelGate`, library modules at
  every grid point: each grade of each channel divided by a learnable blend of 1 and
  ``sqrt(|q_k|)`` (:class:`implicit_kernels.nn.SizeNorm`), then SiLU on the scalars and every other
  grade scaled by the sigmoid of its channel's scalar (:class:`implicit_kernels.nn.Gate`).
  Spacetime grids ``(t, x, y)`` of ``O(1, 2)`` are sampled with ``c dt = dx`` (``time_step``), so the
  kernels' light cone is the grid diagonal. Exactly equivariant under the group's grid-preserving
  elements (metric-preserving signed permutations, time reversal included).
* :class:`SteerableResNet`: the same network for ``O(2, 0)`` / ``O(3, 0)`` built on escnn's compact
  ``O(2)`` / ``O(3)`` with each multivector replaced by its irreps (scalar, vector, and the
  pseudoscalar ``(1, 0)`` in 2D; ``0e + 1o + 1e + 0o`` in 3D), converted by the orthogonal change of
  basis ``Q`` of :meth:`PseudoOrthogonalGroup.escnn_equivalent`; the kernels come from the compact
  family's kernel network (exact harmonic embedding, complete). ``Q`` keeps the scalar first and
  every grade a block of the same size and norm; :class:`ChannelGate` acts on the escnn rep (each
  irrep of a channel normalised and gated by the channel's scalar).
* :class:`PlainResNet`: ordinary ``Conv2d`` / ``Conv3d`` and SiLU on the flattened channels, with a
  width chosen for a parameter count similar to the Clifford model's; not equivariant.

:data:`MODELS` maps a name to a constructor ``(io, **overrides) -> model`` with the default sizes
of :data:`SIZES` for the task's signature, and :data:`LEARNING_RATES` holds each model's default
Adam learning rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from groups import Rep, get_group
from groups.clifford.algebra import CliffordAlgebra
from implicit_kernels import GridConv
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn import Gate, SizeNorm

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
UPDATE_SCALE = 0.05  # initial factor of the update: one step changes a field little


@dataclass(frozen=True)
class FieldIO:
    """What a model maps: ``inputs`` multivector channels of Cl(``signature``) to one field.

    ``residual``: the input channel the prediction is an update of; ``grades``: the grades of the
    predicted field; ``periodic``: per grid axis, periodic (circular padding) or not (zero
    padding); ``time_step``: ``c dt / dx`` of a spacetime grid's time axis (``None`` for space
    grids)."""

    signature: tuple[int, int]
    inputs: int
    residual: int
    grades: tuple[int, ...]
    periodic: tuple[bool, ...]
    time_step: float | None = None

    @property
    def group_name(self) -> str:
        return f"O({self.signature[0]},{self.signature[1]})"

    @property
    def dim(self) -> int:
        """Grid dimension ``n = p + q``."""
        return sum(self.signature)


def pad(x: torch.Tensor, width: int, periodic: tuple[bool, ...]) -> torch.Tensor:
    """Pad every grid axis of ``x`` ``(B, C, *grid)`` by ``width`` on both sides: circularly where
    ``periodic``, with zeros elsewhere."""

    def sizes(axes: list[bool]) -> list[int]:
        return [w for keep in reversed(axes) for w in ((width, width) if keep else (0, 0))]

    if width == 0:
        return x
    if any(periodic):
        x = F.pad(x, sizes(list(periodic)), mode="circular")
    if not all(periodic):
        x = F.pad(x, sizes([not p for p in periodic]))
    return x


class PaddedConv(nn.Module):
    """``conv`` (unpadded) after :func:`pad` by ``kernel_size // 2``: keeps the grid's shape."""

    def __init__(self, conv: nn.Module, kernel_size: int, periodic: tuple[bool, ...]):
        super().__init__()
        self.conv, self.width, self.periodic = conv, kernel_size // 2, periodic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(pad(x, self.width, self.periodic))


class ChannelsLast(nn.Module):
    """A pointwise module of :mod:`implicit_kernels.nn` (acting on ``(..., C)``) applied at every grid
    point of ``(B, C, *grid)``."""

    def __init__(self, module: EquivariantModule):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.movedim(1, -1)).movedim(-1, 1)


class ResidualBlock(nn.Module):
    """``h + conv_2(act_2(conv_1(act_1(h))))``."""

    def __init__(self, conv: Callable[[int, int], nn.Module], act: Callable[[int], nn.Module], channels: int):
        super().__init__()
        self.body = nn.Sequential(act(channels), conv(channels, channels), act(channels), conv(channels, channels))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class ForecastResNet(nn.Module):
    """The residual forecaster of the module docstring.

    Args:
        io: the task's inputs and output (:class:`FieldIO`).
        conv: ``(c_in, c_out) -> module``, a shape-preserving convolution from ``c_in`` to ``c_out``
            channels (multivector channels of ``2^n`` numbers, or plain ones if ``flat``).
        act: ``channels -> module``, the nonlinearity on ``channels`` hidden channels.
        channels, blocks: hidden channels and residual blocks.
        basis: ``(2^n, 2^n)`` orthogonal ``Q`` such that the network's features are ``Q^T x`` per
            multivector (``None``: the blade basis itself).
        flat: ``conv`` counts plain channels, so ``conv_in`` takes ``inputs 2^n`` and ``conv_out``
            gives ``2^n``; otherwise it counts multivector channels (``inputs`` in, one out).
    """

    def __init__(self, io: FieldIO, conv: Callable[[int, int], nn.Module], act: Callable[[int], nn.Module],
                 channels: int, blocks: int, basis: torch.Tensor | None = None, flat: bool = False):
        super().__init__()
        self.io = io
        per_multivector = 2**io.dim if flat else 1
        self.encoder = conv(io.inputs * per_multivector, channels)
        self.blocks = nn.Sequential(*[ResidualBlock(conv, act, channels) for _ in range(blocks)])
        self.decoder = nn.Sequential(act(channels), conv(channels, per_multivector))
        self.update_scale = nn.Parameter(torch.tensor(UPDATE_SCALE))
        algebra = CliffordAlgebra(*io.signature)
        mask = torch.isin(algebra.grades, torch.tensor(io.grades)).to(torch.get_default_dtype())
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("basis", basis.to(torch.get_default_dtype()) if basis is not None else None,
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, inputs, 2^n, *grid) -> (B, 2^n, *grid)``."""
        expected = (self.io.inputs, len(self.mask))
        if x.dim() != self.io.dim + 3 or tuple(x.shape[1:3]) != expected:
            raise ValueError(f"expected (B, {expected[0]}, {expected[1]}, *grid) with {self.io.dim} grid axes, "
                             f"got {tuple(x.shape)}")
        features = x if self.basis is None else torch.einsum("ba,ncb...->nca...", self.basis, x)
        update = self.decoder(self.blocks(self.encoder(features.flatten(1, 2))))
        if self.basis is not None:
            update = torch.einsum("ba,na...->nb...", self.basis, update)
        return x[:, self.io.residual] + self.update_scale * update * self.mask.view(-1, *([1] * self.io.dim))


class CliffordResNet(ForecastResNet):
    """Clifford-steerable ResNet of ``O(p, q)`` (see the module docstring): hidden ``channels x
    G.multivector``; ``head`` and ``**kernel_options`` (e.g. ``multivectors``, ``depth``) go to every
    :class:`GridConv`'s kernel network."""

    def __init__(self, io: FieldIO, channels: int = 8, blocks: int = 2, kernel_size: int = 5,
                 head: str = "complete", **kernel_options):
        group = get_group(io.group_name)
        spacetime = {"time_step": io.time_step, "signal_speed": 1.0} if io.time_step is not None else {}
        super().__init__(io, steerable_conv(group.multivector, kernel_size, io.periodic, head=head, **spacetime,
                                            **kernel_options),
                         gate(group.multivector), channels, blocks)


class SteerableResNet(ForecastResNet):
    """The :class:`CliffordResNet` architecture on escnn's ``O(2)`` / ``O(3)`` irreps of the
    multivector (Euclidean signatures only); ``**kernel_options`` go to every :class:`GridConv`."""

    def __init__(self, io: FieldIO, channels: int = 8, blocks: int = 2, kernel_size: int = 5, **kernel_options):
        if io.signature[1] != 0 or io.time_step is not None:
            raise ValueError(f"SteerableResNet needs a Euclidean space grid, got Cl{io.signature}")
        clifford = get_group(io.group_name)
        field, basis = clifford.escnn_equivalent(clifford.multivector)
        super().__init__(io, steerable_conv(field, kernel_size, io.periodic, **kernel_options),
                         gate(field), channels, blocks, basis=basis)


class PlainResNet(ForecastResNet):
    """Non-equivariant baseline: ``Conv{n}d`` with ``channels`` plain hidden channels and SiLU,
    inputs flattened to ``inputs x 2^n`` channels."""

    def __init__(self, io: FieldIO, channels: int = 32, blocks: int = 2, kernel_size: int = 5):
        def conv(c_in: int, c_out: int) -> nn.Module:
            return PaddedConv(_CONV[io.dim](c_in, c_out, kernel_size), kernel_size, io.periodic)

        super().__init__(io, conv, lambda width: nn.SiLU(), channels, blocks, flat=True)


def steerable_conv(field: Rep, kernel_size: int, periodic: tuple[bool, ...],
                   **options) -> Callable[[int, int], nn.Module]:
    """``(c_in, c_out) ->`` a padded :class:`GridConv` from ``c_in x field`` to ``c_out x field``."""

    def conv(c_in: int, c_out: int) -> nn.Module:
        layer = GridConv(c_in * field, c_out * field, kernel_size=kernel_size, padding="valid", **options)
        return PaddedConv(layer, kernel_size, periodic)

    return conv


class ChannelGate(nn.Module):
    """The Clifford-steerable CNNs' nonlinearity from library modules, on ``channels x field``
    features ``(..., channels * field.size)`` whose ``field`` starts with its scalar:
    :class:`~implicit_kernels.nn.SizeNorm` (each part of each channel divided by a learnable blend of
    1 and its invariant size), then :class:`~implicit_kernels.nn.Gate` with ``gates="inputs"``, fed
    each channel's scalar as the gate of every non-scalar part of that channel (SiLU on the scalars)."""

    def __init__(self, field: Rep, channels: int):
        super().__init__()
        rep = channels * field
        self.norm, self.gate = SizeNorm(rep), Gate(rep, gates="inputs")
        # gated parts come type by type, copy (= channel) by copy
        scalars = torch.arange(channels) * field.size
        self.register_buffer("gate_sources", scalars.repeat(self.gate.gate_count // channels), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.gate(torch.cat([x, x[..., self.gate_sources]], dim=-1))


def gate(field: Rep) -> Callable[[int], nn.Module]:
    """``channels ->`` a :class:`ChannelGate` on ``channels x field`` at every grid point."""
    return lambda channels: ChannelsLast(ChannelGate(field, channels))


@dataclass(frozen=True)
class Sizes:
    """Default sizes for one signature: ``kernel_size``, ``blocks``, the steerable models' hidden
    multivector ``channels`` and the plain ResNet's ``plain_width`` (chosen for a parameter count
    close to the complete-head Clifford model's)."""

    kernel_size: int
    blocks: int
    channels: int
    plain_width: int


SIZES = {
    (2, 0): Sizes(kernel_size=5, blocks=2, channels=8, plain_width=18),
    (3, 0): Sizes(kernel_size=3, blocks=2, channels=8, plain_width=20),
    (1, 2): Sizes(kernel_size=3, blocks=2, channels=8, plain_width=19),
}


def _with_defaults(cls: type[ForecastResNet], **fixed) -> Callable[..., ForecastResNet]:
    """``(io, **overrides) -> cls(io, ...)`` with the sizes of :data:`SIZES` for ``io``'s signature."""

    def build(io: FieldIO, **overrides) -> ForecastResNet:
        sizes = SIZES[io.signature]
        channels = sizes.plain_width if cls is PlainResNet else sizes.channels
        options = {"channels": channels, "blocks": sizes.blocks, "kernel_size": sizes.kernel_size, **fixed}
        return cls(io, **{**options, **overrides})

    return build


MODELS: dict[str, Callable[..., ForecastResNet]] = {
    "clifford": _with_defaults(CliffordResNet),
    "clifford-single": _with_defaults(CliffordResNet, head="single"),
    # the single head at about the complete head's parameter count (14 hidden multivectors instead of 8)
    "clifford-single-wide": _with_defaults(CliffordResNet, head="single", channels=14),
    "resnet": _with_defaults(PlainResNet),
    "steerable": _with_defaults(SteerableResNet),
}

LEARNING_RATES = {name: 2e-3 if name == "resnet" else 3e-3 for name in MODELS}
