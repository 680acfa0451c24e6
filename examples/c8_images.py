"""C8 on images: classify stars by their number of arms, whatever their orientation.

Data. A ``size x size`` image (one channel) holds a star centred near the middle: ``arms`` rays
of random length at angles ``theta + 2 pi k / arms`` for a uniformly random ``theta``, blurred
with a Gaussian profile across each ray, plus pixel noise. Class 0 stars have 3 arms, class 1
stars 5. The label does not change when the image is rotated, so the classifier should be
invariant; here it is built invariant under the cyclic group C8 (rotations by multiples of 45
degrees).

Model. Three :class:`~implicit_kernels.GridConv` layers (5 x 5 kernels, ``same`` padding) with a
:class:`~implicit_kernels.nn.Gate` after the first two map the image (rep ``trivial``) through
``hidden = 4 trivial + 2 standard + regular`` (16 channels: scalars, vectors and the 8-dim regular
rep of C8) to two scalar maps, ``(B, 1, H, W) -> (B, 2, H, W)``. Each kernel is the implicit kernel
``K(x)`` sampled at the grid offsets, with ``K(g x) = rho_out(g) K(x) rho_in(g)^-1`` for all g in
C8. Averaging the two maps over the image gives the logits ``(B, 2)``.

Which rotations are exact. Sampling commutes with ``g`` only when ``g`` maps the pixel grid to
itself: for C8 that is the quarter turns (C4). For those the network is equivariant to float
round-off, and :func:`~implicit_kernels.check_equivariance` tests them. A 45-degree turn moves
pixels off the grid, so for it the invariance is approximate; the script measures it on the data
(each test star is redrawn at ``theta + 45`` degrees and the predicted class probabilities are
compared).

Run ``python examples/c8_images.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from _shared import format_errors, loss_summary, run_arguments, seeded, step

from groups import get_group
from implicit_kernels import GridConv, check_equivariance
from implicit_kernels.nn import Gate, Sequential

ARMS = (3, 5)
"""Number of arms of the stars of class 0 and class 1."""


def draw_stars(
    labels: torch.Tensor, theta: torch.Tensor, length: torch.Tensor, centre: torch.Tensor, size: int,
    noise: torch.Tensor,
) -> torch.Tensor:
    """Images ``(B, 1, size, size)`` of stars: ``ARMS[label]`` rays from ``centre`` ``(B, 2)`` (pixels,
    relative to the image centre) at angles ``theta + 2 pi k / arms`` (``theta`` ``(B,)``), each of
    length ``length`` ``(B,)`` and Gaussian width 0.8 pixels across, plus ``noise`` ``(B, size, size)``.

    Array axis ``k`` is coordinate ``k`` (GridConv's layout): pixel ``(i, j)`` is the point
    ``(i - c, j - c)`` with ``c = (size - 1) / 2``.
    """
    axis = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1)  # (size, size, 2)
    p = grid[None] - centre[:, None, None, :]  # (B, size, size, 2)
    image = torch.zeros(len(labels), size, size)
    for index, arms in enumerate(ARMS):
        chosen = labels == index
        for k in range(arms):
            angle = theta[chosen] + 2 * math.pi * k / arms
            direction = torch.stack([angle.cos(), angle.sin()], dim=-1)[:, None, None, :]
            along = (p[chosen] * direction).sum(-1).clamp(min=0.0)
            along = torch.minimum(along, length[chosen][:, None, None])
            across = (p[chosen] - along[..., None] * direction).norm(dim=-1)
            image[chosen] = torch.maximum(image[chosen], torch.exp(-0.5 * (across / 0.8) ** 2))
    return (image + noise)[:, None]


def random_stars(batch: int, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The random parameters of ``batch`` stars, half of each class (see :func:`draw_stars`)."""
    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    return {
        "labels": torch.arange(batch) % 2,
        "theta": 2 * math.pi * uniform(batch),
        "length": size / 4 + size / 8 * uniform(batch),
        "centre": 2.0 * (uniform(batch, 2) - 0.5),
        "noise": 0.1 * torch.randn(batch, size, size, generator=generator),
    }


def build_model() -> Sequential:
    """Image ``(B, 1, H, W)`` -> two C8-invariant maps ``(B, 2, H, W)`` (see the module docstring)."""
    G = get_group("C8")
    hidden = 4 * G.trivial + 2 * G.standard + G.regular  # 4 + 4 + 8 = 16 channels
    return Sequential(
        GridConv(G.trivial, hidden, 5), Gate(hidden),
        GridConv(hidden, hidden, 5), Gate(hidden),
        GridConv(hidden, 2 * G.trivial, 5),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    run_arguments(parser, steps=150)
    parser.add_argument("--batch", type=int, default=32, help="fresh images per step (default 32)")
    parser.add_argument("--size", type=int, default=24, help="image side in pixels (default 24)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.batch = 40, 16
    generator, device = seeded(args)
    start = time.perf_counter()

    model = build_model().to(device)
    print(f"C8 images: {args.steps} steps of {args.batch} fresh {args.size}x{args.size} images, "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    optimizer, losses = torch.optim.Adam(model.parameters(), lr=3e-3), []
    for _ in range(args.steps):
        stars = random_stars(args.batch, args.size, generator)
        logits = model(draw_stars(**stars, size=args.size).to(device)).mean(dim=(2, 3))
        loss = F.cross_entropy(logits, stars["labels"].to(device))
        losses.append(step(optimizer, loss))
    print(loss_summary(losses))

    model.eval()
    stars = random_stars(256, args.size, generator)
    turned = dict(stars, theta=stars["theta"] + math.pi / 4)
    with torch.no_grad():
        probs = model(draw_stars(**stars, size=args.size).to(device)).mean(dim=(2, 3)).softmax(1)
        probs_turned = model(draw_stars(**turned, size=args.size).to(device)).mean(dim=(2, 3)).softmax(1)
    labels = stars["labels"].to(device)
    accuracy = (probs.argmax(1) == labels).float().mean().item()
    print(f"test accuracy on 256 fresh stars: {accuracy:.3f}")
    print("stars turned by 45 degrees (off the grid, approximate): mean |p - p_turned| "
          f"{(probs - probs_turned).abs()[:, 0].mean().item():.3g}")

    errors = check_equivariance(model.cpu())
    print(format_errors("quarter turns, exact on the grid", errors))
    print(f"time: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
