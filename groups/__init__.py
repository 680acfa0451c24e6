"""Groups, their representations and their equivariant kernel networks.

``get_group(name)`` returns a registered :class:`Group`; ``list_groups()`` lists the names.
Families register themselves on import: the escnn-backed compact groups (:mod:`groups.compact`)
and the pseudo-orthogonal groups O(p, q) with Clifford-algebra reps (:mod:`groups.clifford`).
Nothing here imports :mod:`implicit_kernels`.
"""

import groups.clifford  # noqa: F401  (registers the Clifford family)
import groups.compact  # noqa: F401  (registers the compact family)
from groups.base import Group, Rep, signed_permutations
from groups.kernel_network import KernelNetwork
from groups.registry import get_group, list_groups, register_group, register_pattern

__all__ = [
    "Group",
    "KernelNetwork",
    "Rep",
    "get_group",
    "list_groups",
    "register_group",
    "register_pattern",
    "signed_permutations",
]
