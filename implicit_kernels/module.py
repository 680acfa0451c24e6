"""The common base of every equivariant layer: typed inputs and outputs.

An :class:`EquivariantModule` maps features of ``rep_in`` to features of ``rep_out`` of one group
``G``, ``module(rho_in(g) f) = rho_out(g) module(f)`` for all ``g`` in ``G`` (for point and grid
layers, with the positions moved along). What it consumes is declared by :attr:`inputs`:

* ``"features"``: pointwise modules on ``(..., rep_in.size)`` tensors (channels last), e.g.
  :class:`implicit_kernels.nn.Linear`, gates and norms;
* ``"graph"``: point layers ``(f, pos, edge_index, attr) -> (N, rep_out.size)`` such as
  :class:`~implicit_kernels.PointConv`;
* ``"grid"``: grid layers ``(B, rep_in.size, *spatial) -> (B, rep_out.size, *spatial')`` such as
  :class:`~implicit_kernels.GridConv`;
* ``"mesh"``: mesh layers ``(f, geometry) -> (N, rep_out.size)`` with features in each vertex's
  tangent frame, such as :class:`~implicit_kernels.MeshConv`.

:func:`implicit_kernels.check_equivariance` tests any such module, whole networks included.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from groups import Group, Rep

INPUT_KINDS = ("features", "graph", "grid", "mesh")


class EquivariantModule(nn.Module):
    """An ``nn.Module`` with declared ``rep_in``, ``rep_out`` and input kind (see the module
    docstring). Subclasses set ``rep_in`` and ``rep_out`` in ``__init__``; graph layers whose
    kernels read edge attributes also set ``attr_rep``."""

    inputs: ClassVar[str] = "features"
    reduces_nodes: ClassVar[bool] = False
    """Whether the module pools the nodes of each graph into one row (graph readouts)."""
    rep_in: Rep
    rep_out: Rep
    attr_rep: Rep | None = None

    @property
    def group(self) -> Group:
        """The group both reps belong to."""
        return self.rep_in.group
