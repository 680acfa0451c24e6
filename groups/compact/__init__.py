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

import importlib

from groups.registry import register_group, register_pattern

# registered name -> (escnn gspace constructor, its arguments); escnn is imported when a group is
# first built, so that ``import groups`` does not pay for it
_GSPACES = {
    "SO(2)": ("rot2dOnR2", (-1,)),
    "O(2)": ("flipRot2dOnR2", (-1,)),
    "SO(3)": ("rot3dOnR3", ()),
    "O(3)": ("flipRot3dOnR3", ()),
    "SO(2)z": ("rot2dOnR3", (-1,)),
    "O(2)z": ("conicalOnR3", (-1,)),
    "Octa": ("octaOnR3", ()),
    "Ico": ("icoOnR3", ()),
}


def _build(name: str, gspace: str, *args):
    """The compact group ``name`` on escnn's ``gspaces.<gspace>(*args)``."""
    from escnn import gspaces

    from groups.compact.group import CompactGroup

    return CompactGroup(name, getattr(gspaces, gspace)(*args))


# public names resolved on first access, from the modules that import escnn
_LAZY = {"CompactGroup": "groups.compact.group", "EscnnRep": "groups.compact.rep"}


def __getattr__(name: str):
    """``CompactGroup`` and ``EscnnRep``, imported (with escnn) on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


for _name, (_gspace, _args) in _GSPACES.items():
    register_group(_name, lambda name=_name, gspace=_gspace, args=_args: _build(name, gspace, *args))

register_pattern(r"C([1-9][0-9]*)", lambda m: _build(m.group(0), "rot2dOnR2", int(m.group(1))), "C<N>")
register_pattern(r"D([1-9][0-9]*)", lambda m: _build(m.group(0), "flipRot2dOnR2", int(m.group(1))), "D<N>")

__all__ = ["CompactGroup", "EscnnRep"]
