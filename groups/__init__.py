"""Groups, their representations and their equivariant kernel networks.

``get_group(name)`` returns a registered :class:`Group`; ``list_groups()`` lists the names.
Families register themselves on import: the escnn-backed compact groups (:mod:`groups.compact`,
which imports escnn when one of its groups is first built)
the pseudo-orthogonal groups O(p, q) with Clifford-algebra reps (:mod:`groups.clifford`) and groups
defined by generators (:mod:`groups.matrix`, whose built-ins carry the suffix ``-mat``).
Nothing here imports :mod:`implicit_kernels`.
"""

import groups.clifford  # noqa: F401  (registers the Clifford family)
import groups.compact  # noqa: F401  (registers the compact family)
import groups.matrix  # noqa: F401  (registers the matrix-group built-ins)
from groups.base import Group, Rep, signed_permutations
from groups.kernel_network import KernelNetwork, LinearHeadKernelNetwork
from groups.matrix import MatrixGroup
from groups.registry import get_group, list_groups, register_group, register_pattern

__all__ = [
    "Group",
    "KernelNetwork",
    "LinearHeadKernelNetwork",
    "MatrixGroup",
    "Rep",
    "get_group",
    "list_groups",
    "register_group",
    "register_pattern",
    "signed_permutations",
]
