"""Pickling escnn objects by what defines them.

escnn's groups, irreps and representations hold closures, so ``pickle``, ``copy.deepcopy`` and
``torch.save`` fail on anything that stores one: our reps and the compact kernel networks (their
irrep layouts and harmonic embeddings). :func:`register` teaches :mod:`copyreg` to reduce them to
their definitions and to rebuild them from escnn's own caches:

* a group to its class name and ``_keys`` (``"O3", {}``; ``"CyclicGroup", {"N": 8}``), rebuilt
  by the class's ``_generator``, which hands out escnn's cached instance;
* an irrep to its group and id, rebuilt as ``group.irrep(*id)``, the cached irrep itself;
* any other representation ``rho = Q (psi_1 (+) psi_2 (+) ...) Q^-1`` to its group, name, irrep
  ids, change of basis ``Q`` and supported non-linearities, rebuilt from those (or found among the
  group's registered representations when one of that name is the same).
"""

from __future__ import annotations

import copyreg

import numpy as np
from escnn import group as escnn_group

# the escnn groups that compact groups and harmonic embeddings are built on
_GROUP_CLASSES = (
    escnn_group.CyclicGroup,
    escnn_group.DihedralGroup,
    escnn_group.SO2,
    escnn_group.O2,
    escnn_group.SO3,
    escnn_group.O3,
    escnn_group.Octahedral,
    escnn_group.Icosahedral,
)


def build_group(class_name: str, keys: dict) -> escnn_group.Group:
    """escnn's cached instance of the group class ``class_name`` with parameters ``keys``."""
    return escnn_group.groups_dict[class_name]._generator(**keys)


def build_irrep(group: escnn_group.Group, irrep_id: tuple) -> escnn_group.IrreducibleRepresentation:
    """The irrep of ``group`` with escnn's id ``irrep_id``."""
    return group.irrep(*irrep_id)


def build_representation(
    group: escnn_group.Group,
    name: str,
    irreps: list[tuple],
    change_of_basis: np.ndarray,
    nonlinearities: list[str],
) -> escnn_group.Representation:
    """``Q (irreps) Q^-1`` as an escnn representation named ``name``: the group's registered
    representation of that name when it has the same irreps and ``Q``, else a new one (escnn
    refuses a second registered name, so a clash gets primes appended)."""
    known = group.representations.get(name)
    if known is not None and known.irreps == irreps and np.array_equal(known.change_of_basis, change_of_basis):
        return known
    while name in group.representations:
        name += "'"
    return escnn_group.Representation(group, name, irreps, change_of_basis, nonlinearities)


def _reduce_group(group: escnn_group.Group) -> tuple:
    return build_group, (type(group).__name__, dict(group._keys))


def _reduce_irrep(irrep: escnn_group.IrreducibleRepresentation) -> tuple:
    return build_irrep, (irrep.group, irrep.id)


def _reduce_representation(representation: escnn_group.Representation) -> tuple:
    return build_representation, (
        representation.group,
        representation.name,
        [tuple(irrep_id) for irrep_id in representation.irreps],
        np.asarray(representation.change_of_basis, dtype=np.float64),
        sorted(representation.supported_nonlinearities),
    )


def register() -> None:
    """Install the reducers in :mod:`copyreg` (which ``pickle`` and ``copy`` consult by exact type)."""
    for cls in _GROUP_CLASSES:
        copyreg.pickle(cls, _reduce_group)
    copyreg.pickle(escnn_group.IrreducibleRepresentation, _reduce_irrep)
    copyreg.pickle(escnn_group.Representation, _reduce_representation)
