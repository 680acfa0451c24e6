"""The Clifford family: pseudo-orthogonal groups O(p, q) on ``R^{p,q}`` with multivector fields.

Registered under ``O(p,q)`` for every ``p, q >= 0`` with ``2 <= p + q <= 6`` (pattern
``O(<p>,<q>)``, e.g. ``O(3,0)`` for E(3)'s rotations and reflections, ``O(1,3)`` for the Lorentz
group of Minkowski space (+,-,-,-)). ``O(3,0)`` and the escnn-backed ``O(3)`` are the same group
with different rep families: multivector fields here, escnn irreps there.
"""

from groups.clifford.algebra import CliffordAlgebra
from groups.clifford.factored import FactoredCliffordKernelNetwork
from groups.clifford.group import PseudoOrthogonalGroup
from groups.clifford.network import CliffordKernelNetwork
from groups.clifford.rep import CliffordRep
from groups.registry import register_pattern


def _build(match) -> PseudoOrthogonalGroup:
    p, q = int(match.group(1)), int(match.group(2))
    if not 2 <= p + q <= CliffordAlgebra.max_dimension:
        limit = CliffordAlgebra.max_dimension
        raise KeyError(f"O(p,q) is registered for 2 <= p + q <= {limit}, got {match.group(0)!r}")
    return PseudoOrthogonalGroup(p, q)


register_pattern(r"O\(([0-9]),([0-9])\)", _build, "O(p,q)")

__all__ = ["CliffordAlgebra", "CliffordKernelNetwork", "CliffordRep", "FactoredCliffordKernelNetwork",
           "PseudoOrthogonalGroup"]
