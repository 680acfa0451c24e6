"""What every example shares: its command-line options, the seeds, and how it reports losses and
equivariance errors (the tests parse these lines)."""

from __future__ import annotations

import argparse

import torch


def run_arguments(parser: argparse.ArgumentParser, steps: int) -> None:
    """``--steps`` (Adam steps, default ``steps``), ``--quick`` (a smoke run), ``--seed``,
    ``--threads`` (torch CPU threads, default 1) and ``--device``."""
    parser.add_argument("--steps", type=int, default=steps, help=f"Adam steps (default {steps})")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer steps and smaller batches")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")


def seeded(args: argparse.Namespace) -> tuple[torch.Generator, torch.device]:
    """Set the threads and torch's seed; the data's generator and the device."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return torch.Generator().manual_seed(args.seed), torch.device(args.device)


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One optimiser step on ``loss``; returns its value."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def loss_summary(losses: list[float]) -> str:
    """The mean loss over the first and over the last tenth of the steps (fresh data every step
    makes single steps noisy)."""
    k = max(1, len(losses) // 10)
    return f"loss: first {sum(losses[:k]) / k:.4g}, last {sum(losses[-k:]) / k:.4g} (means over {k} steps)"


def format_errors(what: str, errors: dict[torch.dtype, float]) -> str:
    """``equivariance error (what): float32 E, float64 E`` from :func:`check_equivariance`'s dict."""
    return f"equivariance error ({what}): " + ", ".join(
        f"{str(dtype).removeprefix('torch.')} {error:.2g}" for dtype, error in errors.items()
    )
