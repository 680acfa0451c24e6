"""The size of a network's hidden features per type of field, recorded over training.

:class:`FeatureMonitor` hooks the :class:`~implicit_kernels.module.EquivariantModule` s of a model
and, for the forward passes run inside :meth:`FeatureMonitor.recording`, measures each module's
output type of field by type of field (the types of :class:`~implicit_kernels.nn.fields.FieldLayout`:
for O(3) and SO(3), the irreps, i.e. the degrees ``l``). The history shows which field types a
network uses and how that changes while it trains.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from groups import Rep
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn.fields import FieldLayout
from implicit_kernels.nn.structure import squared_size, type_structure

Row = dict[str, Any]
_ROW_KEYS = ("step", "module", "label", "rms", "count")
_WRAPPERS = (nn.parallel.DistributedDataParallel, nn.DataParallel)


@dataclass
class _Fields:
    """How one module's output is measured: its layout and, per type, the label and the forms of
    the squared size (``None``: Euclidean), on ``device``."""

    layout: FieldLayout
    types: list[tuple[str, torch.Tensor | None]]
    device: torch.device

    def to(self, device: torch.device) -> _Fields:
        if device != self.device:
            self.layout.to(device)
            self.types = [(label, None if forms is None else forms.to(device)) for label, forms in self.types]
            self.device = device
        return self


class FeatureMonitor:
    """Records the root-mean-square size of each type of field in the outputs of a model's
    equivariant modules.

    For a module with ``rep_out`` and one type ``t`` of its parts (:meth:`groups.Rep.decompose`,
    equal parts grouped as in :class:`~implicit_kernels.nn.fields.FieldLayout`), the output is
    split into copies ``x`` of ``t`` in the parts' coordinates (``Q^-1`` applied), ``d_t`` numbers
    each, and::

        rms = sqrt( sum_x |x|^2 / count )

    over every copy ``x`` of the output: all batch entries, points or grid cells, and the ``m_t``
    copies of the type; ``count`` is the number of copies. ``|x|^2`` is the type's invariant
    squared size, the one :class:`~implicit_kernels.nn.SizeNorm` and the other norms use
    (:func:`~implicit_kernels.nn.structure.squared_size`): ``x^T S x`` with the type's
    positive-definite invariant form ``S`` (trace ``d_t``; the identity for orthogonal reps, so
    ``|x|^2 = sum_i x_i^2`` for the irreps of compact groups), or ``sum_b |x^T S_b x|`` over its
    invariant symmetric forms where none is definite (Lorentz vectors: the absolute value of the
    Minkowski square). Either way it is invariant, so the recorded values do not change when the
    input is transformed by a group element. A type with no invariant symmetric form at all is
    measured in the Euclidean norm of the parts' coordinates, which is not invariant.
    (:meth:`groups.Group.invariant_norm2` does not apply: it measures points of ``R^n``, not
    features.) The size is of the whole copy, so a degree-``l`` field with ``2l + 1`` components of
    unit variance has ``rms = sqrt(2l + 1)``.

    Types are reported under ``label(part_rep)`` (``repr`` by default); types of one module that
    share a label are merged, ``rms = sqrt(sum |x|^2 / count)`` over all their copies together, e.g.
    ``label=lambda rep: str((rep.size - 1) // 2)`` gives the degree ``l`` of O(3) irreps and merges
    the two parities of each degree.

    Args:
        model: the network. It is wrapped ``DistributedDataParallel`` or ``DataParallel``: its
            ``.module`` is monitored, under the same names as without the wrapper. Under DDP every
            process records the statistics of its own batch.
        modules: ``modules(name, module) -> bool`` selects which of the model's
            :class:`EquivariantModule` s (``name`` from ``named_modules``) to monitor; default all,
            the model itself included (under the name ``""``) when it is one. Containers such as
            :class:`~implicit_kernels.nn.Sequential` return their last module's output, which is then
            recorded twice; ``modules=lambda name, m: not isinstance(m, Sequential)`` drops them.
            The equivariant parts of a layer are hooked too, and record when their ``forward`` runs
            (a :class:`~implicit_kernels.nn.Gate`'s ``invariants`` never does).
        label: names a part rep.

    Recording is off outside :meth:`recording`: the hooks then only check a flag. Inside it every
    monitored module's output is measured under ``torch.no_grad`` in float64, detached (a float64
    copy of each output exists while it is measured). Outputs must be tensors with the channels last
    (``(..., rep_out.size)``), or at axis 1 for modules with ``inputs == "grid"``
    (``(B, rep_out.size, *spatial)``); other outputs (tuples, ``None``) are skipped. Forward passes
    that run again in the backward pass (activation checkpointing) are counted again if the backward
    pass runs inside the block.

    Usage::

        monitor = FeatureMonitor(net, label=lambda rep: str((rep.size - 1) // 2))
        for step, batch in enumerate(loader):
            if step % 100 == 0:
                with monitor.recording(step=step):
                    loss = loss_fn(net(*batch))
            else:
                loss = loss_fn(net(*batch))
            ...
        curves = monitor.series()  # {(module, label): (steps, rms)}
        monitor.remove()
    """

    def __init__(self, model: nn.Module, modules: Callable[[str, EquivariantModule], bool] | None = None,
                 label: Callable[[Rep], str] = repr):
        if isinstance(model, _WRAPPERS):
            model = model.module
        candidates = [(name, module) for name, module in model.named_modules()
                      if isinstance(module, EquivariantModule)]
        selected = [(name, module) for name, module in candidates if modules is None or modules(name, module)]
        if not selected:
            reason = (f"the modules filter rejected all {len(candidates)} of them" if candidates
                      else "it holds none")
            raise ValueError(f"FeatureMonitor found no EquivariantModule to monitor in {type(model).__name__}: "
                             f"{reason}")
        self.label = label
        self.module_names = [name for name, _ in selected]
        """The names of the monitored modules, in ``named_modules`` order."""
        self.history: list[Row] = []
        self._fields: dict[str, _Fields] = {}
        self._sums: dict[tuple[str, str], list] | None = None
        self._handles = [module.register_forward_hook(self._hook(name)) for name, module in selected]

    def _hook(self, name: str) -> Callable:
        def hook(module: EquivariantModule, args: tuple, output: Any) -> None:
            if self._sums is not None and torch.is_tensor(output):
                self._measure(name, module, output)
        return hook

    @torch.no_grad()
    def _measure(self, name: str, module: EquivariantModule, output: torch.Tensor) -> None:
        """Adds the squared sizes and counts of ``output``'s copies to the open block, per label."""
        x = output.detach()
        if module.inputs == "grid" and x.dim() >= 2:
            x = x.movedim(1, -1)
        size = module.rep_out.size
        if x.dim() == 0 or x.shape[-1] != size:
            axis = "axis 1" if module.inputs == "grid" else "the last axis"
            raise ValueError(f"FeatureMonitor: module {name!r} ({type(module).__name__}) returned shape "
                             f"{tuple(output.shape)}, expected rep_out.size = {size} channels at {axis}")
        fields = self._fields.get(name)
        if fields is None:
            fields = self._fields[name] = self._layout(module.rep_out)
        fields.to(x.device)
        for piece, (label, forms) in zip(fields.layout.split(x.to(torch.float64)), fields.types):
            count = piece.numel() // piece.shape[-1]
            if count == 0:
                continue
            total = piece.square().sum() if forms is None else squared_size(piece, forms).sum()
            entry = self._sums.setdefault((name, label), [0.0, 0])
            entry[0] = entry[0] + total
            entry[1] += count

    def _layout(self, rep: Rep) -> _Fields:
        layout = FieldLayout(rep)
        types = []
        for t in layout.types:
            forms = type_structure(t.rep).size_forms
            types.append((self.label(t.rep), forms if len(forms) else None))
        return _Fields(layout, types, torch.device("cpu"))

    @contextlib.contextmanager
    def recording(self, step: int) -> Iterator[None]:
        """Measures the monitored outputs of the forward passes run inside the block and, when it
        exits without an exception, appends to :attr:`history` one row per (module, label) seen::

            {"step": step, "module": name, "label": label, "rms": float, "count": int}

        with ``rms`` and ``count`` over all the block's calls together (see the class docstring).
        ``RuntimeError`` when blocks are nested or the hooks were removed."""
        if not self._handles:
            raise RuntimeError("this FeatureMonitor's hooks were removed; build a new one to record again")
        if self._sums is not None:
            raise RuntimeError("FeatureMonitor.recording blocks cannot be nested")
        self._sums = {}
        try:
            yield
        finally:
            sums, self._sums = self._sums, None
        for (name, label), (total, count) in sums.items():
            self.history.append({"step": step, "module": name, "label": label,
                                 "rms": math.sqrt(float(total) / count), "count": count})

    def table(self) -> list[Row]:
        """The history as a list of row dicts (copies)."""
        return [dict(row) for row in self.history]

    def series(self, label: str | None = None, module: str | None = None) -> dict[tuple[str, str], tuple[list, list]]:
        """``{(module, label): (steps, rms)}`` from the history in recording order, for plotting;
        only the given ``label`` and/or ``module`` when set."""
        out: dict[tuple[str, str], tuple[list, list]] = {}
        for row in self.history:
            if (label is None or row["label"] == label) and (module is None or row["module"] == module):
                steps, values = out.setdefault((row["module"], row["label"]), ([], []))
                steps.append(row["step"])
                values.append(row["rms"])
        return out

    def state_dict(self) -> dict[str, list[Row]]:
        """``{"history": rows}`` in plain Python types, to save with a training checkpoint."""
        return {"history": self.table()}

    def load_state_dict(self, state: dict[str, list[Row]]) -> None:
        """Replaces the history with the one of :meth:`state_dict` (``ValueError`` on other rows)."""
        rows = state.get("history") if isinstance(state, dict) else None
        if not isinstance(rows, list) or not all(isinstance(row, dict) and set(row) == set(_ROW_KEYS)
                                                 for row in rows):
            raise ValueError(f"expected {{'history': [rows with keys {list(_ROW_KEYS)}]}} from "
                             "FeatureMonitor.state_dict()")
        self.history = [dict(row) for row in rows]

    def remove(self) -> None:
        """Removes the hooks: the model runs as if never monitored; the history stays."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> FeatureMonitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
