"""The Lorentz group O(1,3) on particle events: learn the invariant mass of a set of particles.

Data. An event is a set of ``particles`` on-shell four-momenta ``p = (E, p_x, p_y, p_z)`` in units
with ``c = 1``: masses uniform in ``[0.1, 1]``, 3-momenta Gaussian, ``E = sqrt(m^2 + |p|^2)``. As in
a collider, each event is then boosted along the beam axis ``z`` by its own random rapidity in
``[-1, 1]``. The target is the event's invariant mass squared
``M^2 = (sum_i E_i)^2 - |sum_i p_i|^2 = <P, P>`` with the Minkowski metric ``diag(+1, -1, -1, -1)``:
the same in every inertial frame, so the model should be invariant under O(1,3).

Model. The four-momenta are both the features (rep ``grade(1)``, the vectors of the Clifford
algebra Cl(1,3), on which O(1,3) acts by ``g`` itself) and the positions of the points. A
:class:`~implicit_kernels.PointConv` maps them to ``hidden = 4 grade(0) + 4 grade(1)`` (20
channels) with kernels ``K(g x) = rho_out(g) K(x) rho_in(g)^-1`` for every Lorentz transformation
``g``, boosts included; a :class:`~implicit_kernels.nn.Gate`, a
:class:`~implicit_kernels.nn.FieldNorm` and a :class:`~implicit_kernels.nn.Linear` follow, then
:class:`~implicit_kernels.nn.GlobalPool` sums each event's points ``(N, 20) -> (events, 20)`` and
:class:`~implicit_kernels.nn.TensorSquare` forms the bilinear invariants of the sum, one scalar
per event. The graph is the complete graph within each event: a Euclidean radius or kNN graph of
momenta would change under boosts and break the invariance.

Run ``python examples/lorentz_events.py`` (``--quick`` for a smoke run). It prints the relative
training loss ``mean (y - M^2)^2 / var(M^2)`` (fresh events every step) averaged over the first
and the last tenth of the steps, the relative error on held-out events, and
:func:`~implicit_kernels.check_equivariance` for random Lorentz transformations (rapidity <= 1) and
for boosts up to rapidity 2, where ``rho(g)`` has entries up to ``cosh(2)^2 ~ 14`` and float32
loses digits (errors around 1e-5 to 1e-4, float64 around 1e-13).
"""

from __future__ import annotations

import argparse
import time

import torch
from _shared import format_errors, loss_summary, run_arguments, seeded, step

from groups import get_group
from implicit_kernels import PointConv, check_equivariance
from implicit_kernels.nn import FieldNorm, Gate, GlobalPool, Linear, Sequential, TensorSquare, global_pool


def beam_boosts(rapidity: torch.Tensor) -> torch.Tensor:
    """Boosts along ``z`` ``(k, 4, 4)`` for rapidities ``(k,)``: ``(t, z) -> (cosh y t + sinh y z,
    sinh y t + cosh y z)``, ``x`` and ``y`` unchanged."""
    boost = torch.eye(4).repeat(len(rapidity), 1, 1)
    boost[:, 0, 0] = boost[:, 3, 3] = rapidity.cosh()
    boost[:, 0, 3] = boost[:, 3, 0] = rapidity.sinh()
    return boost


def make_events(
    events: int, particles: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Four-momenta ``(events * particles, 4)``, graph ids ``batch`` ``(events * particles,)``, the
    complete graph within each event ``edge_index`` ``(2, events * particles * (particles - 1))``
    and the invariant masses squared ``(events, 1)``."""
    n = events * particles
    p3 = 0.5 * torch.randn(n, 3, generator=generator)
    mass = 0.1 + 0.9 * torch.rand(n, 1, generator=generator)
    p = torch.cat([(mass**2 + p3.pow(2).sum(1, keepdim=True)).sqrt(), p3], dim=1)
    batch = torch.arange(events).repeat_interleave(particles)
    boosts = beam_boosts(2 * torch.rand(events, generator=generator) - 1)  # one boost per event
    p = torch.einsum("nij,nj->ni", boosts[batch], p)
    total = global_pool(p, batch, "sum")
    mass2 = total[:, :1] ** 2 - total[:, 1:].pow(2).sum(1, keepdim=True)
    same_event = (batch[:, None] == batch[None, :]) & ~torch.eye(n, dtype=torch.bool)
    return p, batch, same_event.nonzero().T, mass2


def build_model() -> Sequential:
    """Four-momenta ``(N, 4)`` -> one Lorentz-invariant scalar per event ``(events, 1)`` (see the
    module docstring)."""
    G = get_group("O(1,3)")  # metric (+, -, -, -), time = axis 0
    vector, hidden = G.grade(1), 4 * G.trivial + 4 * G.grade(1)
    return Sequential(
        PointConv(vector, hidden, radius=1.0, avg_degree=3), Gate(hidden), FieldNorm(hidden),
        Linear(hidden, hidden), GlobalPool(hidden, "sum"),
        TensorSquare(hidden, G.trivial),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    run_arguments(parser, steps=200)
    parser.add_argument("--events", type=int, default=32, help="fresh events per step (default 32)")
    parser.add_argument("--particles", type=int, default=4, help="particles per event (default 4)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.events = 40, 16
    generator, device = seeded(args)
    start = time.perf_counter()

    model = build_model().to(device)
    print(f"O(1,3) events: {args.steps} steps of {args.events} fresh events x {args.particles} particles, "
          f"{sum(q.numel() for q in model.parameters())} parameters")
    optimizer, losses = torch.optim.Adam(model.parameters(), lr=1e-2), []
    for _ in range(args.steps):
        p, batch, edges, target = (t.to(device) for t in make_events(args.events, args.particles, generator))
        loss = (model(p, p, edges, batch=batch) - target).pow(2).mean() / target.var()
        losses.append(step(optimizer, loss))
    print(loss_summary(losses))

    test_p, test_batch, test_edges, test_target = (
        t.to(device) for t in make_events(64, args.particles, generator)
    )
    with torch.no_grad():
        prediction = model(test_p, test_p, test_edges, batch=test_batch)
    relative = ((prediction - test_target).pow(2).mean() / test_target.var()).item()
    print(f"held-out relative error on 64 events: {relative:.3g}")

    G = model.group
    model.cpu()
    print(format_errors("random Lorentz transformations, boosts up to rapidity 1", check_equivariance(model)))
    boosts = G.sample(8, generator=torch.Generator().manual_seed(1), max_rapidity=2.0)
    print(format_errors("boosts up to rapidity 2", check_equivariance(model, elements=boosts)))
    print(f"time: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
