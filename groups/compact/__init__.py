"""The compact family: subgroups of O(2) and O(3) backed by escnn.

Registered names (built on first use):

====================  ======================================  =====
name                  group                                   acts on
====================  ======================================  =====
``SO(2)``, ``O(2)``   rotations / rotations and reflections   R^2
``C<N>``, ``D<N>``    cyclic / dihedral group of order N, 2N  R^2
``SO(3)``, ``O(3)``   rotations / rotations and inversion     R^3
``SO(2)z``            rotations about the z axis              R^3
``O(2)z``             rotations about z and reflections in    R^3
                      planes containing z (conical symmetry)
``Octa``, ``Ico``     rotations of the cube / icosahedron     R^3
====================  ======================================  =====
"""

from escnn import gspaces

from groups.compact import escnn_pickle
from groups.compact.group import CompactGroup
from groups.compact.rep import EscnnRep
from groups.registry import register_group, register_pattern

_GSPACES = {
    "SO(2)": lambda: gspaces.rot2dOnR2(-1),
    "O(2)": lambda: gspaces.flipRot2dOnR2(-1),
    "SO(3)": gspaces.rot3dOnR3,
    "O(3)": gspaces.flipRot3dOnR3,
    "SO(2)z": lambda: gspaces.rot2dOnR3(-1),
    "O(2)z": lambda: gspaces.conicalOnR3(-1),
    "Octa": gspaces.octaOnR3,
    "Ico": gspaces.icoOnR3,
}

escnn_pickle.register()

for _name, _gspace in _GSPACES.items():
    register_group(_name, lambda name=_name, gspace=_gspace: CompactGroup(name, gspace()))

register_pattern(r"C([1-9][0-9]*)", lambda m: CompactGroup(m.group(0), gspaces.rot2dOnR2(int(m.group(1)))), "C<N>")
register_pattern(r"D([1-9][0-9]*)", lambda m: CompactGroup(m.group(0), gspaces.flipRot2dOnR2(int(m.group(1)))), "D<N>")

__all__ = ["CompactGroup", "EscnnRep"]
