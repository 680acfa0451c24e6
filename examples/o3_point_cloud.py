"""O(3) point clouds: tell cigar-shaped clouds from pancake-shaped ones, in any orientation.

Data. Each cloud is ``points`` samples of a centred Gaussian ``N(0, R diag(s)^2 R^T)`` with a
uniformly random rotation ``R``: class 0 is prolate (``s = (2.0, 0.5, 0.5)``, one long axis),
class 1 oblate (``s = (1.4, 1.4, 0.5)``, two long axes). Both have about the same mean squared
radius (4.5 and 4.2), so the class is a property of the cloud's shape, not of its size, and it is
unchanged by every ``g`` in O(3) and every translation: the classifier must be invariant.

Model. The point features start as one scalar (the constant 1, rep ``trivial``) per point. Two
:class:`~implicit_kernels.PointConv` layers, each followed by a :class:`~implicit_kernels.nn.Gate`
and a :class:`~implicit_kernels.nn.BatchNorm`, map them to ``hidden = 4 trivial + 2 standard``
(four scalars and two polar vectors per point); the kernels satisfy
``K(g x) = rho_out(g) K(x) rho_in(g)^-1`` exactly. :class:`~implicit_kernels.nn.GlobalPool`
averages each cloud's points (``(N, 10) -> (clouds, 10)``) and
:class:`~implicit_kernels.nn.Linear` keeps only the invariant part: two scalar logits per cloud.

Run ``python examples/o3_point_cloud.py`` (``--quick`` for a smoke run). It prints the training
loss (cross-entropy, fresh clouds every step) averaged over the first and the last tenth of the
steps, the accuracy on fresh clouds, and :func:`~implicit_kernels.check_equivariance` of the
trained network (largest relative error over random rotations, reflections and translations, in
float32 and float64).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from _shared import format_errors, loss_summary, run_arguments, seeded, step

from groups import get_group
from implicit_kernels import PointConv, check_equivariance, radius_graph
from implicit_kernels.nn import BatchNorm, Gate, GlobalPool, Linear, Sequential

SCALES = torch.tensor([[2.0, 0.5, 0.5], [1.4, 1.4, 0.5]])
"""Standard deviations along the principal axes: row 0 prolate (class 0), row 1 oblate (class 1)."""
RADIUS = 2.0
"""Graph cutoff and the kernels' length scale."""


def make_clouds(
    clouds: int, points: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``clouds`` random clouds of ``points`` points each, half of each class.

    Returns positions ``(clouds * points, 3)``, graph ids ``batch`` ``(clouds * points,)`` and
    labels ``(clouds,)`` (0 prolate, 1 oblate); every cloud is rotated by its own Haar-random
    ``R`` in SO(3) and shifted by a random translation.
    """
    labels = torch.arange(clouds) % 2
    rotations = get_group("SO(3)").sample(clouds, generator=generator).to(torch.float32)  # (clouds, 3, 3)
    local = torch.randn(clouds, points, 3, generator=generator) * SCALES[labels][:, None, :]
    shift = 3.0 * torch.randn(clouds, 1, 3, generator=generator)
    pos = torch.einsum("cij,cpj->cpi", rotations, local) + shift
    batch = torch.arange(clouds).repeat_interleave(points)
    return pos.reshape(-1, 3), batch, labels


def build_model() -> Sequential:
    """Point cloud ``(N, 1)`` scalars -> ``(clouds, 2)`` invariant logits (see the module docstring)."""
    G = get_group("O(3)")
    hidden = 4 * G.trivial + 2 * G.standard  # 10 channels per point
    conv = {"radius": RADIUS, "avg_degree": 6}
    return Sequential(
        PointConv(G.trivial, hidden, **conv), Gate(hidden), BatchNorm(hidden),
        PointConv(hidden, hidden, **conv), Gate(hidden), BatchNorm(hidden),
        GlobalPool(hidden, "mean"), Linear(hidden, 2 * G.trivial),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    run_arguments(parser, steps=150)
    parser.add_argument("--clouds", type=int, default=32, help="fresh clouds per step (default 32)")
    parser.add_argument("--points", type=int, default=24, help="points per cloud (default 24)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.clouds = 40, 16
    generator, device = seeded(args)
    start = time.perf_counter()

    model = build_model().to(device)
    print(f"O(3) point clouds: {args.steps} steps of {args.clouds} fresh clouds x {args.points} points, "
          f"{sum(p.numel() for p in model.parameters())} parameters")

    optimizer, losses = torch.optim.Adam(model.parameters(), lr=1e-2), []
    for _ in range(args.steps):
        pos, batch, labels = (t.to(device) for t in make_clouds(args.clouds, args.points, generator))
        edges = radius_graph(pos, RADIUS, batch=batch)
        logits = model(torch.ones(len(pos), 1, device=device), pos, edges, batch=batch)
        loss = F.cross_entropy(logits, labels)
        losses.append(step(optimizer, loss))
    print(loss_summary(losses))

    model.eval()
    test_pos, test_batch, test_labels = (t.to(device) for t in make_clouds(256, args.points, generator))
    with torch.no_grad():
        logits = model(torch.ones(len(test_pos), 1, device=device), test_pos,
                       radius_graph(test_pos, RADIUS, batch=test_batch), batch=test_batch)
    accuracy = (logits.argmax(1) == test_labels).float().mean().item()
    print(f"test accuracy on 256 fresh clouds: {accuracy:.3f}")

    errors = check_equivariance(model.cpu())
    print(format_errors("random rotations, reflections, translations", errors))
    print(f"time: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
