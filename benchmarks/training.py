"""The training loop every benchmark shares: Adam (or AdamW) with a cosine (or constant) learning rate,
validation every few epochs, best-by-validation bookkeeping, checkpoint and resume, tqdm progress,
and DDP.

A benchmark script supplies two callables, ``loss(model, indices)`` for a batch of training
examples and ``evaluate()`` for the metrics (``"val"`` is the one to minimise), and :func:`fit`
does the rest. Scripts run single-process by default and unchanged under
``torchrun --nproc_per_node=K`` (gloo on CPU, nccl on GPU): every rank takes every K-th example
of each batch and DDP averages the gradients, so all ranks take the same steps. The returned state
is the same on every rank; only rank 0 writes checkpoints and results.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from benchmarks.results import machine

T = TypeVar("T")

# --optimizer: Adam with weight decay as an L2 penalty in the gradients, or decoupled (AdamW)
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def add_training_arguments(parser: argparse.ArgumentParser, *, epochs: int, batch_size: int,
                           eval_every: int = 5) -> None:
    """The options :func:`fit` reads: ``--epochs --batch-size --lr --optimizer --weight-decay
    --schedule --ema --swa-start --seed --eval-every --checkpoint --resume --out``."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, help="Adam learning rate (default: the model's)")
    parser.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam",
                        help="adam: --weight-decay is an L2 penalty added to the gradients; adamw: it shrinks "
                             "the weights by lr * weight_decay every step, apart from the adaptive step")
    parser.add_argument("--weight-decay", type=float, default=1e-12)
    parser.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                        help="learning rate over the epochs: cosine decay to zero at --epochs, or constant")
    parser.add_argument("--ema", type=float, default=None, metavar="DECAY",
                        help="validate (and keep) an exponential moving average of the weights, updated "
                             "after every step with this decay (e.g. 0.999); default: the raw weights")
    parser.add_argument("--swa-start", type=int, default=None, metavar="EPOCH",
                        help="stochastic weight averaging: from this epoch on, hold the learning rate at "
                             "the schedule's value there and validate (and keep) the plain mean of the "
                             "weights at the end of every later epoch; excludes --ema")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and batch order")
    parser.add_argument("--eval-every", type=int, default=eval_every, help="epochs between validations")
    parser.add_argument("--checkpoint", help="checkpoint file (written at every validation)")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--out", help="JSON results file")


@dataclass(frozen=True)
class Distributed:
    """The process group seen by one process: ``world`` processes, this one is ``rank``."""

    world: int = 1
    rank: int = 0

    @classmethod
    def from_environment(cls) -> Distributed:
        """Join the process group when started by ``torchrun`` (``WORLD_SIZE > 1``)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(world, dist.get_rank())

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` under DDP when there are several processes; the buffers are constants (bases,
        coefficients) identical on every rank, so they are not broadcast."""
        if self.world == 1:
            return model
        return nn.parallel.DistributedDataParallel(model, forward_sync_buffers=False)

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's share of a batch."""
        return indices[self.rank :: self.world]

    def rank_zero_first(self, load: Callable[[], T]) -> T:
        """``load()`` on rank 0, then on the other ranks once it has returned: data that is computed
        and cached on first use is computed once and read by the others."""
        if self.rank == 0:
            value = load()
        if self.world > 1:
            dist.barrier()
        return load() if self.rank != 0 else value

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


def cosine_factor(epochs: int) -> Callable[[int], float]:
    """Learning-rate factor after ``epoch`` epochs: ``(1 + cos(pi epoch / epochs)) / 2``."""
    return lambda epoch: 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))


def learning_rate_factor(args: argparse.Namespace) -> Callable[[int], float]:
    """The learning-rate factor after ``epoch`` epochs: ``args.schedule``, held at its value at
    ``args.swa_start`` from that epoch on."""
    schedule = cosine_factor(args.epochs) if args.schedule == "cosine" else (lambda epoch: 1.0)
    if args.swa_start is None:
        return schedule
    return lambda epoch: schedule(min(epoch, args.swa_start))


def weight_average(model: nn.Module, args: argparse.Namespace) -> AveragedModel | None:
    """The running average of ``model``'s weights that is validated instead of them: exponential
    (``--ema``, updated after every step), the plain mean of the epochs' last weights
    (``--swa-start``, updated after every epoch from then on), or ``None``."""
    if args.ema is not None and args.swa_start is not None:
        raise ValueError(f"--ema ({args.ema}) and --swa-start ({args.swa_start}) exclude each other")
    if args.ema is not None:
        return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
    if args.swa_start is not None:
        return AveragedModel(model, use_buffers=True)
    return None


@contextmanager
def weights_of(model: nn.Module, average: AveragedModel | None) -> Iterator[None]:
    """Inside the block ``model`` holds the averaged weights of ``average`` (its own ones when
    ``average`` is ``None``); they are restored on exit."""
    if average is None:
        yield
        return
    own = copy.deepcopy(model.state_dict())
    model.load_state_dict(average.module.state_dict())
    try:
        yield
    finally:
        model.load_state_dict(own)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fit(
    model: nn.Module,
    args: argparse.Namespace,
    *,
    lr: float,
    train_size: int,
    loss: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    evaluate: Callable[[], dict[str, float]],
    processes: Distributed,
    desc: str,
) -> dict:
    """Train ``model`` for ``args.epochs`` epochs (see :func:`add_training_arguments`).

    Args:
        loss: ``(module, indices) -> scalar``, the mean loss of the training examples ``indices``
            (this rank's share of a batch); ``module`` is ``model`` or its DDP wrapper.
        evaluate: metrics of the current model, called on every rank with the model in eval mode
            and without gradients; ``"val"`` is minimised, the others are recorded beside it.

    Returns the state: ``epoch``, ``seconds`` (training time, evaluation excluded), ``history``
    (one entry per validation: ``epoch``, mean ``train`` loss and the metrics), and ``best_epoch``
    with ``at_best``, the metrics of the validation with the lowest ``"val"``. On return ``model``
    holds the weights of that validation (kept in the checkpoint too, so a resumed run has them).
    With ``args.ema`` the validated (and returned) weights are the moving average
    ``w_avg <- ema w_avg + (1 - ema) w`` over the optimiser's steps instead of the raw ones; with
    ``args.swa_start`` they are the mean of the weights at the end of the epochs after it, once
    there is one.
    """
    trained = processes.wrap(model)
    optimiser = OPTIMIZERS[args.optimizer](model.parameters(), lr=lr, weight_decay=args.weight_decay)
    factor = learning_rate_factor(args)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    average = weight_average(model, args)
    state = {"epoch": 0, "seconds": 0.0, "history": [], "best_epoch": 0, "at_best": {"val": math.inf}}
    best_weights = None
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if args.resume and checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        # a checkpoint written without --ema has no average: it then starts from the resumed weights
        if average is not None and saved.get("average") is not None:
            average.load_state_dict(saved["average"])
        # checkpoints written before the best weights were kept lack them: the model then ends with
        # its final weights unless a later validation improves
        state, best_weights = saved["state"], saved.get("best_model")
        # the saved rate belongs to the saved run's length; continue on this run's schedule
        for group, base in zip(optimiser.param_groups, schedule.base_lrs):
            group["lr"] = base * factor(state["epoch"])
    batches = math.ceil(train_size / args.batch_size)
    progress = tqdm(range(state["epoch"], args.epochs), desc=desc, disable=processes.rank != 0,
                    initial=state["epoch"], total=args.epochs)
    for epoch in progress:
        start = time.perf_counter()
        order = torch.randperm(train_size, generator=torch.Generator().manual_seed(args.seed * 100003 + epoch))
        running = 0.0
        for b in range(batches):
            value = loss(trained, processes.shard(order[b * args.batch_size : (b + 1) * args.batch_size]))
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            if args.ema is not None:
                average.update_parameters(model)
            running += float(value.detach())
        schedule.step()
        if args.swa_start is not None and epoch + 1 > args.swa_start:
            average.update_parameters(model)
        state["seconds"] += time.perf_counter() - start
        state["epoch"] = epoch + 1
        if state["epoch"] % args.eval_every == 0 or state["epoch"] == args.epochs:
            # before its first update an average holds the initial weights: validate the raw ones
            with weights_of(model, average if average is not None and average.n_averaged > 0 else None):
                model.eval()
                with torch.no_grad():
                    metrics = evaluate()
                model.train()
                if metrics["val"] < state["at_best"]["val"]:
                    state.update(best_epoch=state["epoch"], at_best=metrics)
                    best_weights = copy.deepcopy(model.state_dict())
            state["history"].append({"epoch": state["epoch"], "train": running / batches, **metrics})
            progress.set_postfix({key: f"{value:.3g}" for key, value in metrics.items()})
            if checkpoint is not None and processes.rank == 0:
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                            "schedule": schedule.state_dict(), "state": state, "best_model": best_weights,
                            "average": None if average is None else average.state_dict()}, checkpoint)
    if best_weights is not None:
        model.load_state_dict(best_weights)
    return state


def write_json(path: str | Path | None, record: dict, processes: Distributed) -> None:
    """Write ``record`` to ``path`` (rank 0 only; nothing when ``path`` is ``None``), after adding
    to it the machine it ran on (:func:`benchmarks.results.machine`) unless it names one, so that
    the record a script returns is the one it wrote."""
    record.setdefault("machine", machine())
    if path is None or processes.rank != 0:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=2))
