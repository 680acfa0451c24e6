"""Pictures for ``python -m implicit_kernels compare --plot DIR``: an analytic kernel, the implicit
kernel trained to reproduce it, and their difference, on a 2D slice."""

from __future__ import annotations

from pathlib import Path

import torch

from groups import get_group
from implicit_kernels.analytic import analytic_basis
from implicit_kernels.compare import BALL_RADIUS, fit_basis_element
from implicit_kernels.point import ball_samples
from implicit_kernels.rep_strings import parse_rep

SLICE_PIXELS = 41
ENTRIES = 4


def slice_points(n: int, pixels: int = SLICE_PIXELS) -> torch.Tensor:
    """``(pixels^2, n)`` float64 points of the square ``[-1.5, 1.5]^2`` in the plane of the first
    two axes (the other coordinates 0.3, so that 3D slices avoid the symmetric plane z = 0); the
    plots show the part inside the ball of radius 1.5 the kernels are fitted on."""
    axis = torch.linspace(-BALL_RADIUS, BALL_RADIUS, pixels, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    rest = torch.full((len(grid), n - 2), 0.3, dtype=torch.float64)
    return torch.cat([grid, rest], dim=1)


def plot_case(group_name: str, rep_in_text: str, rep_out_text: str, options: dict, directory: str,
              steps: int = 400) -> Path:
    """Write ``DIR/<group>_<in>_<out>.png``: the analytic basis element with the most energy on the
    slice (top row, its ``ENTRIES`` strongest matrix entries), the implicit kernel trained on
    points of the ball to reproduce it (middle) and the difference (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    group = get_group(group_name)
    rep_in, rep_out = parse_rep(group, rep_in_text), parse_rep(group, rep_out_text)
    x = slice_points(group.n)
    inside = x.norm(dim=1) <= BALL_RADIUS
    basis = analytic_basis(rep_in, rep_out, x, BALL_RADIUS)
    basis[~inside] = float("nan")
    element = int(basis[inside].pow(2).sum(dim=(0, 2, 3)).argmax())
    train = ball_samples(1024, group.n, BALL_RADIUS, seed=3)
    target = analytic_basis(rep_in, rep_out, train, BALL_RADIUS)[:, element]
    kernel = fit_basis_element(rep_in, rep_out, target, train, steps=steps, **options)
    with torch.no_grad():
        implicit = kernel(x.float()).double()
    analytic = basis[:, element]
    implicit[~inside] = float("nan")
    strongest = analytic[inside].pow(2).sum(0).flatten().argsort(descending=True)[:ENTRIES].tolist()
    rows = [("analytic (escnn)", analytic), ("implicit, trained", implicit), ("difference", implicit - analytic)]
    figure, axes = plt.subplots(3, len(strongest), figsize=(2.6 * len(strongest), 7.5), squeeze=False)
    limit = float(analytic[inside].abs().max())
    for r, (label, values) in enumerate(rows):
        for c, flat in enumerate(strongest):
            o, i = divmod(flat, rep_in.size)
            image = values[:, o, i].reshape(SLICE_PIXELS, SLICE_PIXELS).numpy()
            ax = axes[r, c]
            ax.imshow(image, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit,
                      extent=(-BALL_RADIUS, BALL_RADIUS, -BALL_RADIUS, BALL_RADIUS))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}\nK[{o},{i}]", fontsize=8)
    error = float((implicit - analytic)[inside].norm() / analytic[inside].norm())
    figure.suptitle(f"{group_name}: {rep_in_text} -> {rep_out_text}, basis element {element}; "
                    f"relative error on the slice {error:.3f}", fontsize=9)
    figure.tight_layout()
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    label = "_".join([group_name, rep_in_text, rep_out_text] + [f"{k}{v}" for k, v in options.items()])
    name = "_".join(filter(None, "".join(ch if ch.isalnum() else "_" for ch in label).split("_")))
    out = path / f"{name}.png"
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
