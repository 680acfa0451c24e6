"""Steerable convolution on regular grids (images, volumes, spacetime grids).

Axis convention (``layout="ours"``): for input ``(B, C, s_0, ..., s_{n-1})`` spatial axis ``k`` is
coordinate ``k`` of ``R^n``; escnn arrays read their axes as ``[..., -Z, -Y, X]`` instead
(``layout="escnn"``, see :mod:`implicit_kernels.escnn_interop`). A kernel of size ``k`` is the
implicit kernel sampled at the points ``x`` that the layout assigns to the array offsets
``i - (k - 1) / 2``, scaled by the per-axis spacing ``h`` (``x = h * (i - (k - 1) / 2)`` in our
layout), and the layer computes the cross-correlation ``y(p) = sum_x K(x) f(p + x)``, i.e. the
message ``K(pos_j - pos_i) f_j`` of the point convolution. For ``g`` mapping the grid to itself
(signed permutations in the group, with equal spacing on permuted axes) this commutes exactly with
``f -> rho_in(g) f(g^-1 .)``; continuous elements are only approximately equivariant because of the
sampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from groups import Rep
from implicit_kernels.bias import InvariantBias
from implicit_kernels.escnn_interop import LAYOUTS, to_escnn_layout
from implicit_kernels.kernel import ImplicitKernel
from implicit_kernels.module import EquivariantModule
from implicit_kernels.validation import check_dtypes, check_features, check_reps

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


def grid_offsets(kernel_size: int, spacing: Sequence[float], layout: str = "ours") -> torch.Tensor:
    """``(kernel_size^n, n)`` points of ``R^n`` of the kernel taps, array axis 0 slowest.

    ``layout="ours"``: tap ``i`` is ``x_k = h_k (i_k - (kernel_size - 1) / 2)``. ``layout="escnn"``:
    the same points arranged as escnn arranges arrays, ``to_escnn_layout`` of the ``"ours"`` grid of
    points (in 2D, tap ``(a, b)`` is ``(h_0 (b - c), -h_1 (a - c))``); ``h_k`` is the spacing along
    coordinate ``k`` in both layouts.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    n = len(spacing)
    axes = [h * (torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2) for h in spacing]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0)  # (n, k, ..., k), ours
    if layout == "escnn":
        points = to_escnn_layout(points[None])[0]
    return points.reshape(n, -1).T.contiguous()


class GridConv(EquivariantModule):
    """Steerable convolution ``(B, rep_in.size, *spatial) -> (B, rep_out.size, *spatial')``.

    Args:
        rep_in, rep_out: reps of a group acting on ``R^n``; ``len(spatial) == n``.
        kernel_size: kernel width along every axis.
        spacing: grid spacing ``h``, one float or one per axis.
        time_step, signal_speed: for groups with time axes (``group.time_axes``, e.g. axis 0 of
            O(1,2)): the grid's time step ``dt`` and the speed ``c`` that makes time a length;
            the time axes get spacing ``c * dt`` (overriding ``spacing`` there), so that the light
            cone ``q(x) = 0`` of the kernel is the physical one.
        padding: ``"same"`` (odd kernel sizes), ``"valid"`` or an int per side.
        padding_mode: ``"zeros"``, ``"circular"``, ``"reflect"`` or ``"replicate"``.
        stride: convolution stride.
        layout: how spatial array axes map to ``R^n``, for inputs, outputs and kernel taps alike.
            ``"ours"``: axis ``k`` is coordinate ``k``. ``"escnn"``: escnn's convention (axes
            ``[..., -Z, -Y, X]``; in 2D array index ``(a, b)`` is the point ``(b - c, -(a - c))``),
            so the layer takes and returns the arrays of escnn ``GeometricTensor`` s of
            ``rep.field_type()`` and chains with ``R2Conv``/``R3Conv``, equivariantly under escnn's
            ``GeometricTensor.transform``. Both layouts compute the same map up to
            :func:`~implicit_kernels.escnn_interop.to_escnn_layout`: ``escnn_conv(to_escnn_layout(f))
            == to_escnn_layout(conv(f))`` for equal kernels. :func:`~implicit_kernels.check_equivariance`
            moves signals in the layer's layout.
        bias: learnable bias on the invariant part of ``rep_out``.
        **kernel_options: passed to :class:`ImplicitKernel` (e.g. ``mlp_width``, ``depth``).

    The kernel grid is the buffer ``offsets``; in eval mode the sampled weight is cached (and
    rebuilt when parameters, dtype or device change) and treated as a constant. The input must have
    the dtype of the layer's parameters (``TypeError`` otherwise; nothing is cast): ``.to(dtype)``
    converts the layer.
    """

    inputs = "grid"

    def __init__(
        self,
        rep_in: Rep,
        rep_out: Rep,
        kernel_size: int = 5,
        *,
        spacing: float | Sequence[float] = 1.0,
        time_step: float | None = None,
        signal_speed: float = 1.0,
        padding: str | int = "same",
        padding_mode: str = "zeros",
        stride: int = 1,
        layout: str = "ours",
        bias: bool = True,
        **kernel_options,
    ):
        super().__init__()
        group = check_reps(rep_in, rep_out)
        if group.n not in _CONV:
            raise ValueError(f"GridConv supports groups acting on R^1..R^3, {group.name} acts on R^{group.n}")
        if not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive int, got {kernel_size!r}")
        if padding == "same" and kernel_size % 2 == 0:
            raise ValueError(f"padding='same' needs an odd kernel_size, got {kernel_size}")
        if not (padding in ("same", "valid") or (isinstance(padding, int) and padding >= 0)):
            raise ValueError(f"padding must be 'same', 'valid' or a non-negative int, got {padding!r}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        spacing = [float(spacing)] * group.n if isinstance(spacing, (int, float)) else [float(h) for h in spacing]
        if len(spacing) != group.n or min(spacing) <= 0:
            raise ValueError(f"spacing must be positive, one value or {group.n} values, got {spacing}")
        if time_step is not None:
            if not group.time_axes:
                raise ValueError(f"time_step was given but {group.name} has no time axes")
            if not (time_step > 0 and signal_speed > 0):
                raise ValueError(f"time_step and signal_speed must be positive, got {time_step}, {signal_speed}")
            for axis in group.time_axes:
                spacing[axis] = float(signal_speed * time_step)
        self.rep_in, self.rep_out = rep_in, rep_out
        self.kernel_size, self.stride, self.spacing = kernel_size, stride, tuple(spacing)
        self.padding, self.padding_mode, self.layout = padding, padding_mode, layout
        offsets = grid_offsets(kernel_size, spacing, layout)
        self.register_buffer("offsets", offsets.to(torch.get_default_dtype()), persistent=False)
        radius = max(spacing) * max((kernel_size - 1) / 2, 1.0)
        self.kernel = ImplicitKernel(rep_in, rep_out, radius=radius, **kernel_options)
        self.kernel.calibrate_(self.offsets)
        self.bias = InvariantBias(rep_out) if bias else None
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def weight(self) -> torch.Tensor:
        """The sampled kernel as a conv weight ``(C_out, C_in, k, ..., k)``."""
        kernel = self.kernel.evaluate(self.offsets)  # (k^n, C_out, C_in)
        shape = (self.rep_out.size, self.rep_in.size) + (self.kernel_size,) * self.group.n
        return kernel.permute(1, 2, 0).reshape(shape)

    def _weight_for_forward(self) -> torch.Tensor:
        if self.training:
            self._cache = None
            return self.weight()
        tensors = list(self.kernel.parameters()) + list(self.kernel.buffers()) + [self.offsets]
        key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                self._cache = (key, self.weight())
        return self._cache[1]

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """``(B, rep_in.size, *spatial)`` in the parameters' dtype (else ``TypeError``) ->
        ``(B, rep_out.size, *spatial')``."""
        n = self.group.n
        check_features(f, self.rep_in, dim=1, what="GridConv input")
        if f.dim() != n + 2:
            raise ValueError(
                f"GridConv input must be (B, {self.rep_in.size}, *spatial) with {n} spatial axes "
                f"for {self.group.name}, got shape {tuple(f.shape)}"
            )
        check_dtypes(self, f, "GridConv input")
        pad = {"same": self.kernel_size // 2, "valid": 0}.get(self.padding, self.padding)
        if self.padding_mode != "zeros" and pad:
            f = F.pad(f, (pad,) * (2 * n), mode=self.padding_mode)
            pad = 0
        bias = self.bias().to(f.dtype) if self.bias is not None else None  # fused: one pass less over the output
        return _CONV[n](f, self._weight_for_forward(), bias, stride=self.stride, padding=pad)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, spacing={self.spacing}, padding={self.padding!r}, "
            f"padding_mode={self.padding_mode!r}, stride={self.stride}, layout={self.layout!r}"
        )
