"""Chains of equivariant modules whose reps are checked to fit."""

from __future__ import annotations

import torch
from torch import nn

from implicit_kernels.mesh_geometry import MeshGeometry
from implicit_kernels.module import EquivariantModule


class Sequential(EquivariantModule):
    """``Sequential(m_1, m_2, ...)``: runs the modules in order, a network ``rep_in -> rep_out``.

    At construction every module must be an :class:`EquivariantModule` whose ``rep_in`` equals
    the previous ``rep_out`` (the error names both). The chain's input kind is ``"graph"`` when it
    holds point layers, ``"grid"`` when it holds grid layers, ``"mesh"`` when it holds mesh layers
    (one kind per chain), ``"features"`` otherwise:

    * graph chains run ``forward(f, pos, edge_index, attr=None, batch=None)``; point layers receive
      the graph and attributes, pointwise modules the features ``(N, C)`` only, and a readout
      such as :class:`GlobalPool` the graph ids ``batch``, after which only pointwise modules may
      follow (they see one row per graph);
    * mesh chains run ``forward(f, geometry, batch=None)`` with a
      :class:`~implicit_kernels.mesh_geometry.MeshGeometry`; mesh layers receive the geometry,
      pointwise modules the features, readouts the ids ``batch`` as in graph chains;
    * grid chains run ``forward(f)`` on ``(B, C, *spatial)``; pointwise modules, which act on the
      last axis, see the channel axis moved last and back;
    * feature chains run ``forward(f)`` on ``(..., C)``.

    Point layers of one chain must agree on ``attr_rep`` (they all receive the same attributes).
    """

    def __init__(self, *modules: EquivariantModule):
        super().__init__()
        if not modules:
            raise ValueError("Sequential needs at least one module")
        for index, module in enumerate(modules):
            if not isinstance(module, EquivariantModule):
                raise TypeError(
                    f"module {index} must be an EquivariantModule (with rep_in and rep_out), "
                    f"got {type(module).__name__}"
                )
        for index, (before, after) in enumerate(zip(modules, modules[1:])):
            if before.rep_out != after.rep_in:
                raise ValueError(
                    f"module {index + 1} ({type(after).__name__}) expects rep_in {after.rep_in!r}, but module "
                    f"{index} ({type(before).__name__}) produces rep_out {before.rep_out!r}"
                )
        for index, module in enumerate(modules):
            if module.reduces_nodes and any(later.inputs in ("graph", "mesh") for later in modules[index + 1:]):
                raise ValueError(f"module {index} ({type(module).__name__}) pools the nodes of each graph; "
                                 "no point or mesh layer may follow it")
        kinds = {module.inputs for module in modules} - {"features"}
        if len(kinds) > 1:
            raise ValueError(f"a Sequential cannot mix graph, mesh and grid layers, got {sorted(kinds)}")
        self.inputs = kinds.pop() if kinds else "features"
        attrs = [module.attr_rep for module in modules if module.inputs == "graph" and module.attr_rep is not None]
        for attr in attrs[1:]:
            if attr != attrs[0]:
                raise ValueError(f"the point layers need different edge attributes: {attrs[0]!r} and {attr!r}")
        self.attr_rep = attrs[0] if attrs else None
        self.layers = nn.ModuleList(modules)
        self.rep_in, self.rep_out = modules[0].rep_in, modules[-1].rep_out

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> EquivariantModule:
        return self.layers[index]

    def forward(self, f: torch.Tensor, pos: torch.Tensor | MeshGeometry | None = None,
                edge_index: torch.Tensor | None = None, attr: torch.Tensor | None = None,
                batch: torch.Tensor | None = None) -> torch.Tensor:
        """Graph chains: ``net(f, pos, edge_index[, attr, batch])``; mesh chains:
        ``net(f, geometry[, batch=batch])``; other chains: ``net(f)``."""
        if self.inputs == "graph" and (pos is None or edge_index is None):
            raise ValueError("this Sequential holds point layers: call it as net(f, pos, edge_index[, attr, batch])")
        if self.inputs == "mesh" and (pos is None or edge_index is not None or attr is not None):
            raise ValueError("this Sequential holds mesh layers: call it as net(f, geometry[, batch=batch])")
        if self.inputs not in ("graph", "mesh") and any(x is not None for x in (pos, edge_index, attr, batch)):
            raise ValueError("this Sequential holds no point or mesh layers: call it as net(f), got graph inputs too")
        for module in self.layers:
            if module.reduces_nodes:
                f = module(f, batch=batch)
            elif module.inputs == "graph":
                f = module(f, pos, edge_index, attr if module.attr_rep is not None else None)
            elif module.inputs == "mesh":
                f = module(f, pos)
            elif module.inputs == "grid" or self.inputs != "grid":
                f = module(f)
            else:
                f = module(f.movedim(1, -1)).movedim(-1, 1)
        return f
