"""Implicit against analytic kernels: metrics, a comparison matrix and its report.

Each metric is a function; :func:`compare` runs them all for one group and rep pair, and
:func:`run_compare` is the ``python -m implicit_kernels compare`` command. The analytic side is
escnn's basis (:func:`implicit_kernels.analytic.analytic_basis`), for the compact family directly
and for the Clifford and matrix families through their change of basis to escnn irreps.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from groups import Rep, get_group
from implicit_kernels.analytic import (
    analytic_basis,
    implicit_rank,
    matrix_rank,
    span_residual,
    stabiliser_hom_dim,
)
from implicit_kernels.equivariance import check_equivariance, relative_error
from implicit_kernels.kernel import ImplicitKernel
from implicit_kernels.measure import seconds_and_peak_mb
from implicit_kernels.point import ball_samples
from implicit_kernels.rep_strings import parse_rep

COST_POINTS = (100, 1000, 10000, 100000)
BALL_RADIUS = 1.5
ANALYTIC_CHUNK = 1000  # points per sampling of the analytic basis in evaluation_cost

# the --all matrix: (group, rep_in, rep_out, kernel options, measure the evaluation cost)
ALL_CASES = [
    ("SO(2)", "2*trivial+standard", "trivial+2*standard", {}, True),
    ("O(2)", "2*trivial+standard", "trivial+2*standard", {}, False),
    ("C8", "2*trivial+standard", "trivial+2*standard", {}, False),
    ("D4", "2*trivial+standard", "trivial+2*standard", {}, False),
    ("SO(3)", "2*trivial+standard", "trivial+2*standard", {}, False),
    ("O(3)", "2*trivial+standard", "trivial+2*standard", {}, True),
    ("O(3)", "irrep(1,1)", "irrep(0,0)+irrep(0,2)", {}, False),
    ("O(3)", "irrep(1,1)", "irrep(0,0)+irrep(0,2)", {"harmonic_degree": 1}, False),
    ("SO(2)z", "2*trivial+standard", "trivial+2*standard", {}, False),
    ("O(3,0)", "grade(0)+grade(1)", "multivector", {}, True),
    ("O(3,0)", "grade(0)+grade(1)", "multivector", {"head": "single"}, False),
    ("O(3)-mat", "T(0,0)+T(1,0)", "T(1,0)+T(2,0)", {}, True),
]


@dataclass
class Comparison:
    """One row of the comparison (see the module's functions for each field's definition)."""

    group: str
    rep_in: str
    rep_out: str
    options: dict
    implicit_error_f32: float
    implicit_error_f64: float
    analytic_error_f32: float
    analytic_error_f64: float
    implicit_rank: int
    analytic_rank: int
    hom_dim: int
    span_residual: float
    fit_error: float
    implicit_params: int
    analytic_basis_size: int
    cost: list[dict] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.implicit_rank / self.hom_dim if self.hom_dim else float("nan")


def analytic_equivariance_error(rep_in: Rep, rep_out: Rep, dtype: torch.dtype, samples: int = 8,
                                seed: int = 0) -> float:
    """Relative error of ``B(g x) = rho_out(g) B(x) rho_in(g)^-1`` for every analytic basis element
    ``B`` at once, over ``samples`` random points and elements, with the basis sampled in ``dtype``."""
    group = rep_in.group
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, group.n, generator=generator, dtype=torch.float64)
    g = group.sample(samples, generator=generator)
    moved = analytic_basis(rep_in, rep_out, torch.einsum("kij,kj->ki", g, x).to(dtype), BALL_RADIUS)
    basis = analytic_basis(rep_in, rep_out, x.to(dtype), BALL_RADIUS).double()
    expected = rep_out(g)[:, None] @ basis @ torch.linalg.inv(rep_in(g))[:, None]
    return relative_error(moved.double(), expected)


def coverage_ranks(kernel: ImplicitKernel, x: torch.Tensor) -> tuple[int, int, int]:
    """At the point ``x``: rank of the implicit kernel over random parameters, rank of the analytic
    basis, and ``dim Hom_Stab(x)`` from the numerical solver."""
    analytic = analytic_basis(kernel.rep_in, kernel.rep_out, x.to(torch.float64)[None])[0]
    return implicit_rank(kernel, x), matrix_rank(analytic), stabiliser_hom_dim(kernel.rep_in, kernel.rep_out, x)


def kernel_span_residual(kernel: ImplicitKernel, points: int = 16, seed: int = 0) -> float:
    """Largest relative residual of the implicit kernel's values at random points (in the ball of
    radius 1.5) after projection onto the analytic basis' span at the same point."""
    x = ball_samples(points, kernel.group.n, BALL_RADIUS, seed)
    with torch.no_grad():
        values = kernel.double()(x)
    kernel.float()
    return span_residual(values, analytic_basis(kernel.rep_in, kernel.rep_out, x, BALL_RADIUS))


def fit_basis_element(rep_in: Rep, rep_out: Rep, target: torch.Tensor, x: torch.Tensor, steps: int = 300,
                      seed: int = 0, **options) -> ImplicitKernel:
    """A fresh implicit kernel trained (Adam, lr 1e-2, ``steps`` full-batch steps on the relative
    squared error) to take the values ``target`` ``(m, out, in)`` at the points ``x`` ``(m, n)``."""
    torch.manual_seed(seed)
    kernel = ImplicitKernel(rep_in, rep_out, **options)
    x, target = x.float(), target.float()
    optimiser = torch.optim.Adam(kernel.parameters(), lr=1e-2)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = (kernel(x) - target).pow(2).sum() / target.pow(2).sum()
        loss.backward()
        optimiser.step()
    return kernel


def fit_error(rep_in: Rep, rep_out: Rep, elements: int = 2, steps: int = 300, points: int = 256, seed: int = 0,
              **options) -> float:
    """Train a fresh implicit kernel (Adam, ``steps`` steps) to reproduce each of ``elements``
    randomly chosen analytic basis elements on points uniform in the ball of radius 1.5, and report
    the largest relative L2 error on held-out points of the ball."""
    group = rep_in.group
    train, test = (ball_samples(points, group.n, BALL_RADIUS, seed + k) for k in (1, 2))
    basis_train = analytic_basis(rep_in, rep_out, train, BALL_RADIUS).float()
    basis_test = analytic_basis(rep_in, rep_out, test, BALL_RADIUS).float()
    energy = basis_train.pow(2).sum(dim=(0, 2, 3))
    candidates = (energy > 1e-6 * energy.max()).nonzero().flatten()
    generator = torch.Generator().manual_seed(seed)
    chosen = candidates[torch.randperm(len(candidates), generator=generator)[:elements]]
    worst = 0.0
    for b in chosen.tolist():
        kernel = fit_basis_element(rep_in, rep_out, basis_train[:, b], train, steps, seed + b, **options)
        with torch.no_grad():
            worst = max(worst, relative_error(kernel(test.float()), basis_test[:, b]))
    return worst


def evaluation_cost(kernel: ImplicitKernel, counts=COST_POINTS, repeats: int = 3,
                    analytic_limit: int | None = None) -> list[dict]:
    """Median time (over ``repeats`` runs; one run when it takes over 2 s) and peak memory of
    evaluating the kernel at ``m`` points, for each ``m`` in
    ``counts`` (uniform in the ball of radius 1.5): the implicit kernel's forward pass against
    sampling escnn's analytic basis and contracting it with one weight per basis element (what an
    analytic layer does; escnn's own basis object is cached between calls). The basis is sampled
    in chunks of :data:`ANALYTIC_CHUNK` points, which bounds its ``(m, basis size, C_out, C_in)``
    tensor. Above ``analytic_limit`` points only the implicit kernel runs (the analytic entries
    are ``None``): chunked sampling costs the same per point at every size."""
    rows = []
    rep_in, rep_out, n = kernel.rep_in, kernel.rep_out, kernel.group.n
    for m in counts:
        x = ball_samples(m, n, BALL_RADIUS).float()

        def implicit(x: torch.Tensor = x) -> torch.Tensor:
            with torch.no_grad():
                return kernel(x)

        def analytic(x: torch.Tensor = x) -> torch.Tensor:
            values = []
            for part in x.split(ANALYTIC_CHUNK):
                basis = analytic_basis(rep_in, rep_out, part, BALL_RADIUS)
                values.append(torch.einsum("mboi,b->moi", basis, torch.ones(basis.shape[1])))
            return torch.cat(values)

        row = {"points": m, "analytic_ms": None, "analytic_mb": None}
        runs = [("implicit", implicit)]
        if analytic_limit is None or m <= analytic_limit:
            runs.append(("analytic", analytic))
        for name, run in runs:
            seconds, row[f"{name}_mb"] = seconds_and_peak_mb(run, repeats)
            row[f"{name}_ms"] = 1000 * seconds
        rows.append(row)
    return rows


def compare(group_name: str, rep_in_text: str, rep_out_text: str, options: dict | None = None,
            cost_points=COST_POINTS, fit_steps: int = 300, seed: int = 0) -> Comparison:
    """All metrics for one group and rep pair (and kernel-network options)."""
    options = options or {}
    group = get_group(group_name)
    rep_in, rep_out = parse_rep(group, rep_in_text), parse_rep(group, rep_out_text)
    torch.manual_seed(seed)
    kernel = ImplicitKernel(rep_in, rep_out, **options)
    errors = check_equivariance(kernel, n_samples=16, seed=seed)
    x = torch.tensor([0.43, -0.71, 0.55, 0.2, -0.3][: group.n], dtype=torch.float64)
    ranks = coverage_ranks(kernel, x)
    basis_size = analytic_basis(rep_in, rep_out, x[None], BALL_RADIUS).shape[1]
    return Comparison(
        group=group_name, rep_in=rep_in_text, rep_out=rep_out_text, options=options,
        implicit_error_f32=errors[torch.float32], implicit_error_f64=errors[torch.float64],
        analytic_error_f32=analytic_equivariance_error(rep_in, rep_out, torch.float32, seed=seed),
        analytic_error_f64=analytic_equivariance_error(rep_in, rep_out, torch.float64, seed=seed),
        implicit_rank=ranks[0], analytic_rank=ranks[1], hom_dim=ranks[2],
        span_residual=kernel_span_residual(kernel, seed=seed),
        fit_error=fit_error(rep_in, rep_out, steps=fit_steps, seed=seed, **options) if fit_steps else math.nan,
        implicit_params=sum(p.numel() for p in kernel.parameters() if p.requires_grad),
        analytic_basis_size=basis_size,
        cost=evaluation_cost(kernel, cost_points) if cost_points else [],
    )


def format_markdown(rows: list[Comparison]) -> str:
    """The comparison table (one row per case) and the cost table (one row per case and size)."""
    lines = [
        "| group | in -> out | options | equiv. f32 implicit / analytic | equiv. f64 implicit / analytic "
        "| rank implicit / analytic / dim Hom_H | coverage | span residual | fit error | params / basis size |",
        "|---|---|---|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        options = ", ".join(f"{k}={v}" for k, v in r.options.items()) or "default"
        lines.append(
            f"| {r.group} | `{r.rep_in}` -> `{r.rep_out}` | {options} "
            f"| {r.implicit_error_f32:.1e} / {r.analytic_error_f32:.1e} "
            f"| {r.implicit_error_f64:.1e} / {r.analytic_error_f64:.1e} "
            f"| {r.implicit_rank} / {r.analytic_rank} / {r.hom_dim} | {r.coverage:.3f} | {r.span_residual:.1e} "
            f"| {r.fit_error:.3f} | {r.implicit_params} / {r.analytic_basis_size} |"
        )
    cost_rows = [(r, c) for r in rows if not r.options for c in r.cost]
    if cost_rows:
        lines += ["", "| group | in -> out | points | implicit ms | analytic ms | implicit MB | analytic MB |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r, c in cost_rows:
            mb = [f"{c[k]:.0f}" if c[k] is not None else "n/a" for k in ("implicit_mb", "analytic_mb")]
            lines.append(f"| {r.group} | `{r.rep_in}` -> `{r.rep_out}` | {c['points']} | {c['implicit_ms']:.1f} "
                         f"| {c['analytic_ms']:.1f} | {mb[0]} | {mb[1]} |")
    return "\n".join(lines)


class UsageError(ValueError):
    """A command-line input that a command refuses. ``python -m implicit_kernels`` reports it as
    argparse reports its own errors: usage and one ``error: ...`` line on stderr, exit code 2."""


def check_case(group_name: str, rep_in_text: str, rep_out_text: str, options: dict) -> None:
    """Refuse, as a :class:`UsageError` with the reason, an unknown group, a rep string the group
    cannot parse (see :func:`~implicit_kernels.rep_strings.parse_rep`) or kernel options that
    :class:`ImplicitKernel` does not take, before any metric runs (it builds the kernel once)."""
    try:
        group = get_group(group_name)
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    try:
        rep_in, rep_out = parse_rep(group, rep_in_text), parse_rep(group, rep_out_text)
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        ImplicitKernel(rep_in, rep_out, **options)
    except (TypeError, ValueError) as error:
        raise UsageError(f"no kernel for {group_name} with options {options}: {error}") from None


def run_compare(args) -> None:
    """The ``compare`` command (see ``python -m implicit_kernels compare --help``). Bad command-line
    input (missing arguments, a bad ``--option``, group or rep string) is a :class:`UsageError`."""
    options = dict(_parse_option(o) for o in args.option or [])
    if args.all:
        cases = ALL_CASES
    elif args.group and args.rep_in and args.rep_out:
        check_case(args.group, args.rep_in, args.rep_out, options)
        cases = [(args.group, args.rep_in, args.rep_out, options, True)]
    else:
        raise UsageError("compare needs --group, --in and --out, or --all")
    rows = []
    for g, i, o, opts, cost in tqdm(cases, desc="compare", disable=len(cases) == 1):
        points = COST_POINTS if cost and not args.no_cost else ()
        rows.append(compare(g, i, o, opts, cost_points=points, fit_steps=args.fit_steps))
    table = format_markdown(rows)
    print(table)
    if args.report:
        report = Path(args.report)
        report.mkdir(parents=True, exist_ok=True)
        (report / "compare.md").write_text(table + "\n")
        (report / "compare.json").write_text(json.dumps([asdict(r) | {"coverage": r.coverage} for r in rows], indent=2))
    if args.plot:
        from implicit_kernels.compare_plots import plot_case

        for g, i, o, opts, _ in cases:
            print("wrote", plot_case(g, i, o, opts, args.plot, steps=max(args.fit_steps, 1)))


def _parse_option(text: str) -> tuple[str, object]:
    """``key=value`` with the value read as an int, a float or else a string (else a
    :class:`UsageError`)."""
    key, _, value = text.partition("=")
    if not key or not value:
        raise UsageError(f"a kernel option is written key=value, got {text!r}")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value
