"""Coverage of the Clifford kernel heads (``python -m implicit_kernels coverage``).

For each signature ``(p, q)`` and each head of :class:`groups.clifford.CliffordKernelNetwork`, a
multivector -> multivector kernel is evaluated at a generic point with ``q(x) > 0`` and one with
``q(x) < 0`` (where the signature has them) over random parameter draws. The rank of those values
is compared with ``dim Hom_H(Cl, Cl)``, ``H = Stab(x)``, solved numerically from the stabiliser's
generators (:func:`implicit_kernels.analytic.stabiliser_hom_dim`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from tqdm import tqdm

from groups import get_group
from groups.clifford.network import HEADS
from implicit_kernels.analytic import implicit_rank, stabiliser_hom_dim
from implicit_kernels.compare import UsageError
from implicit_kernels.kernel import ImplicitKernel

SIGNATURES = ((2, 0), (3, 0), (4, 0), (1, 1), (1, 2), (2, 1), (1, 3), (3, 1), (2, 2))


@dataclass
class CoverageRow:
    signature: str
    head: str
    point: str
    rank: int
    hom_dim: int

    @property
    def coverage(self) -> float:
        return self.rank / self.hom_dim


def generic_point(group, sign: int, generator: torch.Generator, min_abs_q: float = 0.1) -> torch.Tensor:
    """A random float64 point of ``R^{p,q}`` (Gaussian, scale 0.6) with ``sign * q(x) >= min_abs_q``."""
    metric = group.algebra.metric
    while True:
        x = 0.6 * torch.randn(group.n, generator=generator, dtype=torch.float64)
        if sign * float((x * x * metric).sum()) >= min_abs_q:
            return x


def clifford_coverage(signatures=SIGNATURES, heads=HEADS, seed: int = 0, progress: bool = False) -> list[CoverageRow]:
    """One :class:`CoverageRow` per signature, head and sign of ``q(x)`` the signature allows."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for p, q in signatures:
        group = get_group(f"O({p},{q})")
        for sign, label in ((1, "q(x) > 0"), (-1, "q(x) < 0")):
            if (p if sign > 0 else q) > 0:
                cases.append((group, label, generic_point(group, sign, generator)))
    rows = []
    for group, label, x in tqdm(cases, desc="coverage", disable=not progress):
        rep = group.multivector
        hom_dim = stabiliser_hom_dim(rep, rep, x)
        for head in heads:
            kernel = ImplicitKernel(rep, rep, head=head)
            rows.append(CoverageRow(group.name, head, label, implicit_rank(kernel, x, seed=seed), hom_dim))
    return rows


def format_table(rows: list[CoverageRow]) -> str:
    """Markdown table: signature, head, point, rank, dim Hom_H, coverage."""
    lines = ["| group | head | point | rank | dim Hom_H | coverage |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {r.signature} | {r.head} | {r.point} | {r.rank} | {r.hom_dim} | {r.coverage:.3f} |" for r in rows]
    return "\n".join(lines)


def parse_signature(text: str) -> tuple[int, int]:
    """``"1,3"`` -> ``(1, 3)``."""
    try:
        p, q = (int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"a signature is written p,q (e.g. 1,3), got {text!r}") from None
    return p, q


def run_coverage(json_path: str | None = None, signatures: list[str] | None = None) -> None:
    """Print the coverage table for ``signatures`` (``"p,q"`` strings; default :data:`SIGNATURES`)
    and write it as JSON when asked."""
    chosen = tuple(parse_signature(s) for s in signatures) if signatures else SIGNATURES
    rows = clifford_coverage(chosen, progress=True)
    print("Clifford kernels, multivector -> multivector, at generic points; rank over random parameters")
    print(format_table(rows))
    if json_path:
        with open(json_path, "w") as handle:
            json.dump([asdict(r) | {"coverage": r.coverage} for r in rows], handle, indent=2)
