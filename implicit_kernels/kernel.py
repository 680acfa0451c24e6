"""The shared implicit-kernel builder.

``ImplicitKernel(rep_in, rep_out, attr)`` asks the reps' group for its kernel network
``phi`` (see :class:`groups.KernelNetwork`) and returns

    K(x, a) = gain * shell(x) * phi(x / radius, a),      shell(x) = exp(-s(x) / (2 sigma^2))

with ``s`` the group's invariant ``Group.invariant_norm2`` (``|x|^2`` for subgroups of O(n)) and a
learnable width ``sigma``. ``shell`` is invariant and ``phi`` equivariant, so ``K`` satisfies the
steerability constraint

    K(g x, rho_attr(g) a) = rho_out(g) K(x, a) rho_in(g)^-1.

``gain`` is a fixed buffer set by :meth:`ImplicitKernel.calibrate_` so that a layer's outputs have
unit variance at initialisation when its inputs do. The builder knows nothing group-specific.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from groups import Rep
from implicit_kernels.validation import check_attr, check_positions, check_reps


class ImplicitKernel(nn.Module):
    """A steerable kernel ``x -> K(x)`` of shape ``(..., rep_out.size, rep_in.size)``.

    Args:
        rep_in, rep_out: input and output reps (of the same group).
        attr: rep of optional attributes ``a`` the kernel also depends on (e.g. edge features),
            or ``None``.
        radius: length scale: the network sees ``x / radius`` and the shell width starts at
            ``sigma = radius / 2`` (so the shell is ``exp(-2)`` at ``|x| = radius``).
        learn_sigma: whether ``sigma`` is trained.
        basis: ``"implicit"`` (default): ``phi`` is the group family's equivariant kernel network;
            ``"analytic"``: ``phi`` is :func:`~implicit_kernels.escnn_basis.analytic_kernel_network`,
            learned coefficients over escnn's analytic basis (groups escnn covers, invariant
            attributes), for side-by-side comparisons in the same layers.
        **network_options: passed to the kernel network (e.g. ``copies``, ``mlp_width``, ``depth``;
            ``rings`` for the analytic one); the options of every family are tabulated in
            ``docs/options.rst``.

    Shapes: ``x`` is ``(..., n)``, ``attr`` is ``(..., attr.size)``; the output is
    ``(..., rep_out.size, rep_in.size)``.
    """

    def __init__(
        self,
        rep_in: Rep,
        rep_out: Rep,
        attr: Rep | None = None,
        *,
        radius: float = 1.0,
        learn_sigma: bool = True,
        basis: str = "implicit",
        **network_options,
    ):
        super().__init__()
        self.group = check_reps(rep_in, rep_out, attr)
        if not radius > 0:
            raise ValueError(f"radius must be positive, got {radius}")
        self.rep_in, self.rep_out, self.attr_rep = rep_in, rep_out, attr
        self.radius = float(radius)
        if basis == "implicit":
            self.network = self.group.kernel_network(rep_in, rep_out, attr, **network_options)
        elif basis == "analytic":
            from implicit_kernels.escnn_basis import analytic_kernel_network  # imports escnn

            self.network = analytic_kernel_network(rep_in, rep_out, attr, **network_options)
        else:
            raise ValueError(f"basis must be 'implicit' or 'analytic', got {basis!r}")
        log_sigma = torch.tensor(math.log(self.radius / 2))
        self.log_sigma = nn.Parameter(log_sigma, requires_grad=learn_sigma)
        self.register_buffer("gain", torch.tensor(1.0))

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def shell(self, x: torch.Tensor) -> torch.Tensor:
        """The invariant radial shell ``exp(-s(x) / (2 sigma^2))``, shape ``x.shape[:-1]``."""
        return torch.exp(-0.5 * self.group.invariant_norm2(x) / self.sigma.to(x.dtype) ** 2)

    def envelope(self, x: torch.Tensor) -> torch.Tensor:
        """The invariant factor ``gain * shell(x)``, shape ``x.shape[:-1]``: ``K(x, a)`` is
        ``envelope(x)`` times the network's output at ``x / radius``."""
        return self.gain.to(x.dtype) * self.shell(x)

    def forward(self, x: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
        check_positions(x, self.group)
        check_attr(attr, self.attr_rep, x.shape[:-1])
        return self.evaluate(x, attr)

    def evaluate(self, x: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` without the input checks, for layers that validated their inputs already."""
        return self.network(x / self.radius, attr) * self.envelope(x)[..., None, None]

    @torch.no_grad()
    def calibrate_(self, x: torch.Tensor, attr: torch.Tensor | None = None, fan: float = 1.0) -> None:
        """Set ``gain`` so that ``sum_x sum_i K_oi(x)^2 / fan``, averaged over the output channels
        ``o`` the kernel can reach, is 1: then ``y_o = sum_x K(x) f(x)`` over the offsets ``x``
        (divided by ``sqrt(fan)``) has unit variance for i.i.d. unit-variance inputs ``f``.

        Args:
            x: ``(m, n)`` offsets the layer sums over (a grid) or samples of them (points).
            fan: ``m`` for the sum over all of ``x``; the number of samples divided by the
                expected neighbour count when ``x`` are samples of a point layer's offsets.
        """
        self.gain.fill_(1.0)
        kernel = self(x, attr)
        energy = kernel.pow(2).sum(dim=(0, 2)) / fan
        reached = energy > 1e-12 * energy.max().clamp_min(1e-300)
        if reached.any():
            self.gain.fill_(float(energy[reached].mean().rsqrt()))

    def extra_repr(self) -> str:
        return (
            f"group={self.group.name}, in={self.rep_in.size}, out={self.rep_out.size}, "
            f"attr={self.attr_rep.size if self.attr_rep is not None else None}, radius={self.radius}"
        )
