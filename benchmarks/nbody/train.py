"""Train an N-body model: ``python -m benchmarks.nbody.train --model implicit-o3``.

Adam on the mean squared error of the predicted positions, best-by-validation checkpointing,
resume (``--resume``), seeds, and a JSON record with the test MSE at the best validation epoch.
Runs single-process by default and unchanged under ``torchrun --nproc_per_node=K`` (DDP; gloo on
CPU, nccl on GPU): every rank takes every K-th system of each batch and DDP averages the gradients,
so all ranks take the same steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from benchmarks.nbody.data import DEFAULT_CACHE, NBodySplit, batch_graph, load
from benchmarks.nbody.models import LEARNING_RATES, MODELS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nbody.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, help="Adam learning rate (default: the model's, see models.LEARNING_RATES)")
    parser.add_argument("--weight-decay", type=float, default=1e-12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs=3, default=(3000, 2000, 2000), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--data-seed", type=int, default=43)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="dataset cache directory")
    parser.add_argument("--eval-every", type=int, default=5, help="epochs between validations")
    parser.add_argument("--checkpoint", help="checkpoint file (written at every validation)")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--out", help="JSON results file")
    return parser.parse_args(argv)


def mse(model: torch.nn.Module, split: NBodySplit, batch_size: int = 500) -> float:
    """Mean squared error of the predicted positions over a split."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            part = split.subset(torch.arange(start, min(start + batch_size, len(split))))
            graph = batch_graph(part)
            total += float((model(graph) - graph["target"]).pow(2).sum())
    model.train()
    return total / (len(split) * split.charges.shape[1] * 3)


def equivariance_error(model: torch.nn.Module, split: NBodySplit, improper: bool, seed: int = 0) -> float:
    """Relative error of ``model(g x + t, g v) = g model(x, v) + t`` for random ``g`` and
    translations ``t`` (one per system) on up to 100 systems of ``split``: rotations
    (``improper=False``) or rotations times a reflection (``improper=True``)."""
    generator = torch.Generator().manual_seed(seed)
    part = split.subset(torch.arange(min(100, len(split))))
    q, r = torch.linalg.qr(torch.randn(len(part), 3, 3, generator=generator))
    q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]
    g = q * torch.linalg.det(q)[:, None, None] * (-1.0 if improper else 1.0)
    t = torch.randn(len(part), 1, 3, generator=generator)
    moved = NBodySplit(part.positions @ g.transpose(1, 2) + t, part.velocities @ g.transpose(1, 2), part.target,
                       part.charges)
    model.eval()
    with torch.no_grad():
        expected = model(batch_graph(part)).reshape(len(part), -1, 3) @ g.transpose(1, 2) + t
        actual = model(batch_graph(moved)).reshape(len(part), -1, 3)
    model.train()
    return float((actual - expected).norm() / expected.norm())


def main(argv=None) -> dict:
    args = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    torch.manual_seed(args.seed)
    data = load(tuple(args.sizes), args.data_seed, args.cache)
    model = MODELS[args.model]()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # the buffers are constants (bases, coefficients), identical on every rank
    trained = torch.nn.parallel.DistributedDataParallel(model, forward_sync_buffers=False) if world > 1 else model
    lr = args.lr if args.lr is not None else LEARNING_RATES[args.model]
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=args.weight_decay)
    state = {"epoch": 0, "best_val": math.inf, "best_epoch": 0, "test_at_best": math.nan, "history": [],
             "seconds": 0.0}
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if args.resume and checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        state = saved["state"]
    train = data["train"]
    batches = math.ceil(len(train) / args.batch_size)
    progress = tqdm(range(state["epoch"], args.epochs), desc=args.model, disable=rank != 0,
                    initial=state["epoch"], total=args.epochs)
    for epoch in progress:
        start = time.perf_counter()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed * 100003 + epoch))
        running = 0.0
        for b in range(batches):
            graph = batch_graph(train.subset(order[b * args.batch_size : (b + 1) * args.batch_size][rank::world]))
            loss = (trained(graph) - graph["target"]).pow(2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            running += float(loss.detach())
        state["seconds"] += time.perf_counter() - start
        state["epoch"] = epoch + 1
        if state["epoch"] % args.eval_every == 0 or state["epoch"] == args.epochs:
            val, test = mse(model, data["val"]), mse(model, data["test"])
            state["history"].append({"epoch": state["epoch"], "train": running / batches,
                                     "val": val, "test": test})
            if val < state["best_val"]:
                state.update(best_val=val, best_epoch=state["epoch"], test_at_best=test)
            progress.set_postfix(val=f"{val:.2e}", best_test=f"{state['test_at_best']:.2e}")
            if checkpoint is not None and rank == 0:
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                saved = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "state": state}
                torch.save(saved, checkpoint)
    result = {
        "model": args.model, "seed": args.seed, "lr": lr, "params": params, "epochs": state["epoch"],
        "world_size": world, "threads": torch.get_num_threads(), "best_epoch": state["best_epoch"],
        "best_val_mse": state["best_val"], "test_mse_at_best_val": state["test_at_best"],
        "seconds_per_epoch": state["seconds"] / max(1, state["epoch"]),
        "rotation_error": equivariance_error(model, data["test"], improper=False),
        "reflection_error": equivariance_error(model, data["test"], improper=True), "history": state["history"],
    }
    if rank == 0 and args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    if world > 1:
        dist.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
