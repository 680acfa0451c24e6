"""The one interface between a group family and the shared kernel builder.

A family builds, for given reps, a :class:`KernelNetwork`: a G-equivariant map from a position
``x`` (in ``R^n``, standard rep) and optional attributes ``a`` (rep ``attr``) to
``Hom(rho_in, rho_out)``. Its output, the kernel ``K`` as a ``(C_out, C_in)`` matrix, satisfies

    K(g x, rho_attr(g) a) = rho_out(g) K(x, a) rho_in(g)^-1.

How the network is built inside is the family's business: the compact family ends in a dense
linear head over features (:class:`LinearHeadKernelNetwork`, which point convolutions exploit),
the Clifford family in products of multivector-valued operators.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import nn

# (offsets, attributes or None, inputs) of w edges per node -> (nodes, out_size)
NeighbourMap = Callable[[torch.Tensor, "torch.Tensor | None", torch.Tensor], torch.Tensor]


class ConstantsModule(nn.Module):
    """A module whose float64 constants (Clebsch-Gordan coefficients, changes of basis) stay in
    float64 when the module is moved with ``.to(dtype)``; only their device follows. Use
    :meth:`constant` to read one in the working dtype.

    Rounding such constants to float32 would limit float64 equivariance to about 1e-7.
    """

    def register_constant(self, name: str, value) -> None:
        """Register ``value`` (array-like) as a non-persistent float64 buffer."""
        self.register_buffer(name, torch.as_tensor(value, dtype=torch.float64), persistent=False)
        self.__dict__.setdefault("_constant_names", set()).add(name)

    def constant(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """The constant ``name`` in ``like``'s dtype and device."""
        return getattr(self, name).to(device=like.device, dtype=like.dtype)

    def _apply(self, fn, recurse=True):
        names = self.__dict__.get("_constant_names", set())
        kept = {name: self._buffers[name] for name in names}
        super()._apply(fn, recurse)
        for name, value in kept.items():
            moved = self._buffers[name]
            self._buffers[name] = value.to(device=moved.device)
        return self


class KernelNetwork(ConstantsModule, ABC):
    """Equivariant ``(x, a) -> K(x, a)`` of shape ``(..., out_size, in_size)``.

    Subclasses set ``in_size``, ``out_size`` and ``attr_size`` (0 when no attributes) and implement
    :meth:`forward` and :meth:`reset_parameters`.
    """

    in_size: int
    out_size: int
    attr_size: int

    @abstractmethod
    def forward(self, x: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
        """``(..., n)`` positions (and ``(..., attr_size)`` attributes) -> ``(..., out_size, in_size)``."""

    @abstractmethod
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw fresh random parameters (from ``generator`` when given)."""


class LinearHeadKernelNetwork(KernelNetwork):
    """A kernel network whose last layer is linear: ``vec K(x, a) = head() @ features(x, a)``, with
    ``vec`` row-major over ``(C_out, C_in)``. Layers use the factorisation to sum
    ``features (x) input`` over edges before applying the head once per node, instead of building
    one ``(C_out, C_in)`` kernel per edge."""

    feature_size: int

    @abstractmethod
    def features(self, x: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
        """``(..., n)`` positions (and attributes) -> ``(..., feature_size)``."""

    @abstractmethod
    def head(self) -> torch.Tensor:
        """The last layer as a dense ``(out_size * in_size, feature_size)`` matrix."""

    def head_map(self, like: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The head applied to sums over neighbours: a function of features ``phi`` ``(m, w,
        feature_size)`` and inputs ``v`` ``(m, w, in_size)`` of ``w`` edges per node, returning
        ``out[o] = sum_{f, i} H[(o, i), f] sum_e phi[e, f] v[e, i]`` ``(m, out_size)`` in ``like``'s
        dtype. Layers build it once per call and apply it to every group of nodes. Default: through
        the dense :meth:`head`; families whose head is sparse contract block by block instead."""
        head = self.head().reshape(self.out_size, self.in_size, -1).to(like.dtype)
        return lambda phi, v: torch.einsum("nfi,oif->no", phi.transpose(1, 2) @ v, head)

    def neighbour_map(self, like: torch.Tensor) -> NeighbourMap:
        """What point layers apply per group of nodes: a function of offsets ``x`` ``(m, w, n)``,
        attributes ``(m, w, attr_size)`` (or ``None``) and inputs ``v`` ``(m, w, in_size)`` of ``w``
        edges per node, returning :meth:`head_map`'s ``out`` for the features of ``x``: ``(m,
        out_size)``. Default: :meth:`features`, then :meth:`head_map`; families may reorganise it
        (e.g. to keep less for the backward pass)."""
        head = self.head_map(like)
        return lambda x, attr, v: head(self.features(x, attr), v)

    def forward(self, x, attr=None):
        flat = self.features(x, attr) @ self.head().transpose(0, 1)
        return flat.unflatten(-1, (self.out_size, self.in_size))
