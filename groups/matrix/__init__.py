"""The matrix-group family: groups defined by generators, and built-ins made from it.

Define your own group with :class:`MatrixGroup` and register it with
``register_group("MyGroup", MatrixGroup(...))``. The built-in entries carry the suffix ``-mat`` so
that they never clash with the escnn-backed (``O(3)``) and Clifford (``O(3,0)``) entries of the
same groups:

============================  ==================================================  ==========
name                          group                                               acts on
============================  ==================================================  ==========
``SO(n)-mat``, ``O(n)-mat``   rotations / rotations and reflections, n = 2..5     R^n
``SO+(1,3)-mat``              proper orthochronous Lorentz group, (+,-,-,-)       R^{1,3}
``O(1,3)-mat``                full Lorentz group                                  R^{1,3}
``C<N>-mat``, ``D<N>-mat``    cyclic / dihedral group in the plane                R^2
``C<N>z-mat``, ``D<N>z-mat``  the same as rotations about z (D: plus a half turn  R^3
                              about x)
``S<N>-mat``                  permutations of the axes, N = 2..5                  R^N
``C4h-mat``                   quarter turns about z and the mirror z -> -z        R^3
                              (order 8, with the inversion; no escnn group)
============================  ==================================================  ==========

Tensor reps: ``G.T(r, s)``, ``G.standard = G.T(1, 0)``, ``G.trivial = G.T(0, 0)``.
"""

import math

import torch

from groups.matrix.builtins import permutation_generators, planar_rotation, reflection, rotation_generators
from groups.matrix.group import MatrixGroup
from groups.matrix.reps import SymmetricPowerRep, TensorRep
from groups.registry import register_group, register_pattern

_ESCNN = {"SO(2)": "SO(2)", "O(2)": "O(2)", "SO(3)": "SO(3)", "O(3)": "O(3)"}
MINKOWSKI = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64))


def _orthogonal(n: int, reflections: bool) -> MatrixGroup:
    name = f"{'O' if reflections else 'SO'}({n})"
    return MatrixGroup(n, reflection(n)[None] if reflections else None, rotation_generators(n),
                       sample_scale=math.pi / 2, name=f"{name}-mat", escnn_counterpart=_ESCNN.get(name))


for _n in range(2, 6):
    register_group(f"SO({_n})-mat", lambda n=_n: _orthogonal(n, False))
    register_group(f"O({_n})-mat", lambda n=_n: _orthogonal(n, True))

register_group("SO+(1,3)-mat", lambda: MatrixGroup(
    4, None, rotation_generators(4, MINKOWSKI), metric=MINKOWSKI, membership=lambda g: g[:, 0, 0] > 0,
    sample_scale=0.5, name="SO+(1,3)-mat"))
register_group("O(1,3)-mat", lambda: MatrixGroup(
    4, torch.stack([reflection(4, 0), reflection(4, 1)]), rotation_generators(4, MINKOWSKI), metric=MINKOWSKI,
    sample_scale=0.5, name="O(1,3)-mat"))


def _cyclic(order: int, dihedral: bool, dim: int, name: str) -> MatrixGroup:
    generators = [planar_rotation(2 * math.pi / order, dim)]
    if dihedral:
        generators.append(reflection(2, 1) if dim == 2 else torch.diag(torch.tensor([1.0, -1.0, -1.0])).double())
    counterpart = f"{'D' if dihedral else 'C'}{order}" if dim == 2 else None
    return MatrixGroup(dim, torch.stack(generators), name=name, escnn_counterpart=counterpart)


for _letter, _dihedral in (("C", False), ("D", True)):
    register_pattern(rf"{_letter}([1-9][0-9]*)-mat",
                     lambda m, d=_dihedral: _cyclic(int(m.group(1)), d, 2, m.group(0)), f"{_letter}<N>-mat")
    register_pattern(rf"{_letter}([1-9][0-9]*)z-mat",
                     lambda m, d=_dihedral: _cyclic(int(m.group(1)), d, 3, m.group(0)), f"{_letter}<N>z-mat")


def _symmetric(match) -> MatrixGroup:
    n = int(match.group(1))
    if not 2 <= n <= 5:
        raise KeyError(f"S<N>-mat is registered for N = 2..5, got {match.group(0)!r}")
    return MatrixGroup(n, permutation_generators(n), name=match.group(0))


register_pattern(r"S([0-9]+)-mat", _symmetric, "S<N>-mat")
register_group("C4h-mat", lambda: MatrixGroup(
    3, torch.stack([planar_rotation(math.pi / 2, 3), reflection(3, 2)]), name="C4h-mat"))

__all__ = ["MatrixGroup", "SymmetricPowerRep", "TensorRep"]
