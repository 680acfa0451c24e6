"""Gauge-equivariant convolution on surface meshes.

Features live in the tangent frame (gauge) of each vertex: ``f_i`` is a vector of a rep ``rho_in``
of a structure group ``G <= O(2)`` (``SO(2)``, ``O(2)``, ``C_N``, ``D_N``, the planar matrix
groups). A neighbour's features are parallel transported into the vertex's frame before the kernel
acts, and the kernel is the ``G``-steerable kernel on the tangent plane evaluated at the log map:

    out_i = sum_{j -> i} K(log_i(j)) rho~_in(g_{i<-j}) f_j,     K(h x) = rho_out(h) K(x) rho_in(h)^-1.

Transport elements are arbitrary rotations (and reflections after a reflecting change of gauge),
not elements of a finite ``G``, so ``rho~_in`` is an extension of ``rho_in`` to them
(:meth:`groups.Rep.rotation_generator`). On an orientable surface the transports of
right-handed frames lie in ``SO(2)`` even when ``G`` holds reflections. Changing every frame by
``g_i`` in ``G`` (:meth:`MeshGeometry.change_gauge`) changes the output by
``out_i -> rho_out(g_i)^-1 out_i``, exactly.
"""

from __future__ import annotations

import torch

from groups import Rep
from groups.kernel_network import ConstantsModule
from implicit_kernels.mesh_geometry import MeshGeometry
from implicit_kernels.point import EdgeConvolution, _with_zero_row, refuse_tracing
from implicit_kernels.validation import check_dtypes, check_features

_REFLECTIONS = torch.tensor([[[1.0, 0.0], [0.0, -1.0]], [[-1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)


class PlanarTransport(ConstantsModule):
    """``v -> rho~(m) v`` for elements ``m`` of ``O(2)`` and vectors ``v`` of a rep of ``G <= O(2)``.

    With ``X`` the rep's rotation generator (``rho~(R(t)) = exp(t X)``), whose eigenvalues are
    ``+-i nu`` for integer frequencies ``nu``, and ``P_nu`` the projector onto the frequency-``nu``
    subspace (a polynomial in ``X^2``):

        exp(t X) = sum_nu cos(nu t) P_nu + sin(nu t) X P_nu / nu.

    A reflection ``m = R(t) F``, with ``F`` a reflection of ``G`` (``diag(1, -1)`` or
    ``diag(-1, 1)``), acts as ``exp(t X) rho(F)``; this is a homomorphism of ``O(2)`` that agrees with
    ``rho`` on ``G``. The maps are float64 constants.

    ``forward(v, m)``: ``(..., rep.size)`` and ``(..., 2, 2)`` -> ``(..., rep.size)``.
    """

    def __init__(self, rep: Rep):
        super().__init__()
        self.rep = rep
        generator = rep.rotation_generator().to(torch.float64)
        square = generator @ generator
        values = (-torch.linalg.eigvals(square).real).clamp_min(0).sqrt()  # the frequencies, repeated
        if not bool(((values - values.round()).abs() < 1e-6).all()):
            raise ValueError(f"the rotation generator of {rep!r} has non-integer frequencies {values.tolist()}")
        frequencies = sorted({int(v) for v in values.round().tolist()})
        eye = torch.eye(rep.size, dtype=torch.float64)
        cos_maps, sin_maps = [], []
        for nu in frequencies:
            projector = eye
            for mu in frequencies:
                if mu != nu:
                    projector = projector @ (square + mu**2 * eye) / (mu**2 - nu**2)
            cos_maps.append(projector)
            sin_maps.append(generator @ projector / nu if nu else torch.zeros_like(eye))
        self.frequencies = tuple(frequencies)
        self.register_constant("cos_maps", torch.stack(cos_maps))
        self.register_constant("sin_maps", torch.stack(sin_maps))
        self.register_constant("frequency_values", torch.tensor(frequencies, dtype=torch.float64))
        inside = rep.group.contains(_REFLECTIONS)
        self.has_reflection = bool(inside.any())
        if self.has_reflection:
            reflection = _REFLECTIONS[int(inside.to(torch.int64).argmax())]
            self.register_constant("reflection", reflection)
            self.register_constant("reflection_rep", rep(reflection))

    def forward(self, v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        flipped = torch.linalg.det(m) < 0
        if bool(flipped.any()):
            if not self.has_reflection:
                raise ValueError(f"a transport element is a reflection, but {self.rep.group.name} holds neither "
                                 "diag(1, -1) nor diag(-1, 1)")
            reflection = self.constant("reflection", m)
            m = torch.where(flipped[..., None, None], m @ reflection, m)  # R(t) = m F for m = R(t) F
            v = torch.where(flipped[..., None], v @ self.constant("reflection_rep", v).transpose(0, 1), v)
        angle = torch.atan2(m[..., 1, 0], m[..., 0, 0])
        phase = angle[..., None] * self.constant("frequency_values", v)  # (..., frequencies)
        cos_part = torch.einsum("...f,fab,...b->...a", phase.cos(), self.constant("cos_maps", v), v)
        return cos_part + torch.einsum("...f,fab,...b->...a", phase.sin(), self.constant("sin_maps", v), v)

    def extra_repr(self) -> str:
        return f"frequencies={self.frequencies}, reflections={self.has_reflection}"


class MeshConv(EdgeConvolution):
    """Gauge-equivariant mesh convolution ``(f, geometry) -> (N, rep_out.size)`` for reps of a group
    ``G <= O(2)`` acting on the tangent planes (see the module docstring for the message).

    Args:
        rep_in, rep_out: feature reps of a group acting on ``R^2``; ``rep_in`` must extend to all
            rotations (:meth:`groups.Rep.rotation_generator`).
        **options: ``radius``, ``aggregation``, ``avg_degree``, ``bias``, ``chunk_size`` and the
            kernel's options, as for :class:`~implicit_kernels.point.EdgeConvolution`; ``radius``
            is the kernel's length scale, typically the neighbourhood radius of the
            :class:`MeshGeometry`.

    ``forward(f, geometry)``: features ``(N, rep_in.size)`` in each vertex's frame and a
    :class:`MeshGeometry` in the features' dtype. Features and geometry must have the dtype of the
    layer's parameters (``TypeError`` otherwise).
    """

    inputs = "mesh"

    def __init__(self, rep_in: Rep, rep_out: Rep, **options):
        if rep_in.group.n != 2:
            raise ValueError(f"MeshConv needs a group acting on the tangent plane R^2, {rep_in.group.name} acts "
                             f"on R^{rep_in.group.n}")
        super().__init__(rep_in, rep_out, None, **options)
        self.transport = PlanarTransport(rep_in)

    def forward(self, f: torch.Tensor, geometry: MeshGeometry) -> torch.Tensor:
        refuse_tracing(type(self).__name__)
        if not isinstance(geometry, MeshGeometry):
            raise TypeError(f"MeshConv needs a MeshGeometry, got {type(geometry).__name__}")
        check_features(f, self.rep_in, dim=1, what="MeshConv features")
        if f.dim() != 2:
            raise ValueError(f"MeshConv features must be (N, {self.rep_in.size}), got shape {tuple(f.shape)}")
        tables = self.tables(geometry.edge_index, f.shape[0])
        check_dtypes(self, f, "MeshConv features", log_map=geometry.log_map, transport=geometry.transport)
        src = tables.source
        padded_f, log_map = _with_zero_row(f), _with_zero_row(geometry.log_map)
        identity = torch.eye(2, dtype=f.dtype, device=f.device)[None]
        transport = torch.cat([geometry.transport, identity])
        return self.convolve(
            tables,
            offsets=lambda ids: log_map[ids],
            inputs=lambda ids: self.transport(padded_f[src[ids]], transport[ids]),
            attr=None,
        )
