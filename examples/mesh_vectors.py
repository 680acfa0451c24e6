"""Tangent vector fields on a surface: a gauge-equivariant mesh network with the structure group C8.

The surface. An icosphere (162 vertices) with a few random Gaussian bumps, from trimesh; its
geometry (neighbours within geodesic distance ``RADIUS``, the log map ``log_i(j)`` of each
neighbour in the vertex's tangent frame, and the parallel transport ``g_{i<-j}`` in ``SO(2)``
between frames) from potpourri3d, through :meth:`~implicit_kernels.MeshGeometry.from_mesh`.

The features. A tangent vector at vertex ``i`` is stored as its two coordinates in ``i``'s frame.
The frame is arbitrary: turning it by ``g_i`` changes the coordinates by ``g_i^-1``. As a rep of
C8 (rotations by multiples of 45 degrees) the coordinates are the irrep of frequency 1, and
:class:`~implicit_kernels.MeshConv` transports a neighbour's vector by the rotation ``g_{i<-j}``
(any angle: the irrep extends to all rotations) before its kernel ``K(log_i(j))`` acts.

Task. Inputs: random smooth fields, the tangential part of ``a + B x`` (``a``, ``B`` random) at
every vertex. Target: their average over each vertex's neighbourhood after parallel transport,
``t_i = sum_j w_ij g_{i<-j} u_j / sum_j w_ij`` with ``w_ij = exp(-|log_i(j)|^2 / (2 s^2))``: a
step of smoothing that only makes sense with transport (the raw coordinates of neighbours are in
unrelated frames). Model: ``MeshConv -> Gate -> MeshConv``, C8 features of frequencies 0 to 3 in
between, ``(N, 2) -> (N, 2)``.

Run ``python examples/mesh_vectors.py`` (``--quick`` for a smoke run). It prints the relative
training loss (first and last tenth of the steps), the error under a random C8 change of frame
at every vertex of this surface, and :func:`~implicit_kernels.check_equivariance` (random gauge
fields on a random geometry).
"""

from __future__ import annotations

import argparse
import time

import torch
import trimesh
from _shared import format_errors, loss_summary, run_arguments, seeded, step

from groups import get_group
from implicit_kernels import MeshConv, MeshGeometry, check_equivariance
from implicit_kernels.equivariance import mesh_conv_equivariance_error
from implicit_kernels.nn import Gate, Sequential

RADIUS = 0.35  # neighbourhood (geodesic) and kernel length scale
SMOOTHING = 0.15  # s, the width of the target's averaging weights


def bumpy_sphere(generator: torch.Generator) -> trimesh.Trimesh:
    """An icosphere pushed out by four random Gaussian bumps of height up to 0.25."""
    sphere = trimesh.creation.icosphere(subdivisions=2)
    vertices = torch.as_tensor(sphere.vertices)
    centres = torch.nn.functional.normalize(torch.randn(4, 3, generator=generator, dtype=torch.float64), dim=1)
    heights = 0.25 * torch.rand(4, generator=generator, dtype=torch.float64)
    bumps = (heights * torch.exp(-((vertices[:, None] - centres) ** 2).sum(-1) / 0.3)).sum(-1)
    return trimesh.Trimesh((vertices * (1 + bumps[:, None])).numpy(), sphere.faces)


def random_fields(count: int, mesh: trimesh.Trimesh, geometry: MeshGeometry,
                  generator: torch.Generator) -> torch.Tensor:
    """``count`` fields ``(count, N, 2)``: the tangential part of ``a + B x`` in each vertex's frame."""
    x = torch.as_tensor(mesh.vertices)
    a = torch.randn(count, 1, 3, generator=generator, dtype=torch.float64)
    B = torch.randn(count, 3, 3, generator=generator, dtype=torch.float64)
    ambient = a + x @ B.transpose(1, 2)  # (count, N, 3)
    return torch.einsum("nab,knb->kna", geometry.frames, ambient).float()


def transported_average(fields: torch.Tensor, geometry: MeshGeometry) -> torch.Tensor:
    """``t_i = sum_j w_ij g_{i<-j} u_j / sum_j w_ij`` for fields ``(count, N, 2)``."""
    src, dst = geometry.edge_index
    weights = torch.exp(-geometry.log_map.pow(2).sum(-1) / (2 * SMOOTHING**2)).float()
    moved = torch.einsum("eab,keb->kea", geometry.transport.float(), fields[:, src]) * weights[:, None]
    total = torch.zeros_like(fields).index_add(1, dst, moved)
    return total / torch.zeros(fields.shape[1]).index_add(0, dst, weights)[:, None]


def build_model() -> Sequential:
    G = get_group("C8")
    hidden = 4 * G.trivial + 4 * G.irrep(1) + 2 * G.irrep(2) + 2 * G.irrep(3)
    return Sequential(MeshConv(G.irrep(1), hidden, radius=RADIUS, avg_degree=6), Gate(hidden),
                      MeshConv(hidden, G.irrep(1), radius=RADIUS, avg_degree=6))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    run_arguments(parser, steps=150)
    parser.add_argument("--fields", type=int, default=8, help="fresh fields per step (default 8)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.fields = 50, 4
    generator, device = seeded(args)
    start = time.perf_counter()

    mesh = bumpy_sphere(generator)
    geometry = MeshGeometry.from_mesh(mesh.vertices, mesh.faces, RADIUS, progress=False)
    print(f"surface: {len(mesh.vertices)} vertices, {geometry.num_edges / len(mesh.vertices):.1f} neighbours "
          "per vertex on average")
    model = build_model().to(device)
    print(f"{args.steps} steps of {args.fields} fresh fields, {sum(p.numel() for p in model.parameters())} parameters")
    on_device = geometry.to(device=device, dtype=torch.float32)
    optimizer, losses = torch.optim.Adam(model.parameters(), lr=1e-2), []
    for _ in range(args.steps):
        fields = random_fields(args.fields, mesh, geometry, generator)
        target = transported_average(fields, geometry).to(device)
        prediction = torch.stack([model(u, on_device) for u in fields.to(device)])
        loss = (prediction - target).pow(2).sum() / target.pow(2).sum()
        losses.append(step(optimizer, loss))
    print(loss_summary(losses))

    model = model.cpu()
    gauge = get_group("C8").sample(len(mesh.vertices), generator=generator)
    field = random_fields(1, mesh, geometry, generator)[0]
    on_surface = {dtype: mesh_conv_equivariance_error(model.to(dtype), gauge, field.to(dtype), geometry.to(dtype))
                  for dtype in (torch.float32, torch.float64)}
    print(format_errors("a random C8 frame at every vertex of this surface", on_surface))
    print(format_errors("random gauge fields on a random geometry", check_equivariance(model)))
    print(f"time: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
