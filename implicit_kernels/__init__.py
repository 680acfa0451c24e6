"""Implicit steerable kernels for arbitrary groups: one kernel builder, grid, point and mesh convolutions.

>>> from groups import get_group
>>> from implicit_kernels import PointConv
>>> G = get_group("O(3)")
>>> conv = PointConv(2 * G.trivial + G.standard, G.trivial + 2 * G.standard)
"""

from implicit_kernels.equivariance import assert_equivariant, check_equivariance
from implicit_kernels.graph import knn_graph, radius_graph
from implicit_kernels.grid import GridConv
from implicit_kernels.kernel import ImplicitKernel
from implicit_kernels.mesh import MeshConv
from implicit_kernels.mesh_geometry import MeshGeometry
from implicit_kernels.module import EquivariantModule
from implicit_kernels.neighbours import NeighbourTables
from implicit_kernels.point import PointConv

__all__ = [
    "EquivariantModule",
    "GridConv",
    "ImplicitKernel",
    "MeshConv",
    "MeshGeometry",
    "NeighbourTables",
    "PointConv",
    "assert_equivariant",
    "check_equivariance",
    "knn_graph",
    "radius_graph",
]
