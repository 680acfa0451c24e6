"""Building blocks of equivariant networks for the reps of every group family.

Each module is an :class:`~implicit_kernels.module.EquivariantModule` with ``rep_in`` and
``rep_out``; pointwise modules act on the last axis of ``(..., rep.size)`` features. They see a
rep through :meth:`groups.Rep.decompose` (its parts) and :meth:`groups.Group.intertwiners` (the
equivariant maps between parts, solved in float64), so a family added through that interface
gets all of them.

* :class:`Linear`: every equivariant linear map, bias on invariant directions;
* :class:`TensorProduct`: every equivariant bilinear map; :class:`TensorSquare`: ``x -> B(x, x)``;
* :class:`Invariants`: linear and quadratic invariants of each field;
* :class:`Gate`: nonlinearity on invariants, invariant gates on the rest (any rep; gates from the
  feature's invariants or from extra input scalars);
  :class:`NormActivation`: scaling by a function of each field's invariant norm (definite forms);
* :class:`FieldNorm`, :class:`BatchNorm`: normalisation per sample and over the batch;
  :class:`FieldDropout`: dropout of whole fields;
  :class:`SizeNorm`: each field divided by a learnable blend of 1 and its invariant size;
* :func:`global_pool` (and the readout module :class:`GlobalPool`), :class:`GridAvgPool`: sums and
  means over points and grid cells;
* :class:`Sequential`: a chain of modules (point, grid and pointwise) whose reps must fit;
* :class:`FeatureMonitor`: records the size of every module's output per type of field (per
  degree ``l`` for O(3)) over training.
"""

from implicit_kernels.nn.activations import Gate, NormActivation
from implicit_kernels.nn.dropout import FieldDropout
from implicit_kernels.nn.invariants import Invariants
from implicit_kernels.nn.linear import Linear
from implicit_kernels.nn.monitor import FeatureMonitor
from implicit_kernels.nn.norm import BatchNorm, FieldNorm, SizeNorm
from implicit_kernels.nn.pooling import GlobalPool, GridAvgPool, global_pool
from implicit_kernels.nn.sequential import Sequential
from implicit_kernels.nn.tensor_product import TensorProduct, TensorSquare

__all__ = [
    "BatchNorm",
    "FeatureMonitor",
    "FieldDropout",
    "FieldNorm",
    "Gate",
    "GlobalPool",
    "GridAvgPool",
    "Invariants",
    "Linear",
    "NormActivation",
    "Sequential",
    "SizeNorm",
    "TensorProduct",
    "TensorSquare",
    "global_pool",
]
