"""Irreps of ``O(3)`` as the chemistry benchmarks use them: the irrep of degree ``l`` that spherical
harmonics span, measured changes of basis between equivalent irreps, and the map between the
degree-2 irrep and symmetric traceless ``3 x 3`` matrices (rank-2 tensors such as a
polarizability's anisotropic part)."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from groups import Rep, get_group


def irrep(l: int) -> Rep:
    """Our ``O(3)`` irrep of degree ``l`` and parity ``(-1)^l``, the one spherical harmonics
    span."""
    return get_group("O(3)").irrep(l % 2, l)


def orthogonal_intertwiner(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The orthogonal ``M`` with ``M A = B M`` for every pair ``(A, B)`` of ``(d, d)`` matrices, where
    ``A`` and ``B`` are two equivalent irreducible reps at the same group elements: the null space of
    the stacked equations (one dimension by Schur's lemma), scaled to be orthogonal, its sign making
    its first entry of at least half the largest size (row-major) positive, a choice that rounding
    cannot flip. ``RuntimeError`` unless the null space is exactly one-dimensional."""
    size = len(pairs[0][0])
    # vec(M A - B M) = (A^T (x) I - I (x) B) vec(M), column-major vec
    equations = np.concatenate([np.kron(a.T, np.eye(size)) - np.kron(np.eye(size), b) for a, b in pairs])
    _, singular, vt = np.linalg.svd(equations)
    if singular[-1] > 1e-8 or (size > 1 and singular[-2] < 1e-3):
        raise RuntimeError(f"no unique intertwiner of the {size}-dimensional reps: smallest singular values "
                           f"{singular[-2:]}")
    m = vt[-1].reshape(size, size, order="F")
    m = m / np.sqrt((m @ m.T)[0, 0])
    first = np.flatnonzero(np.abs(m) >= 0.5 * np.abs(m).max())[0]
    return m * np.sign(m.flat[first])




def symmetric_traceless_basis() -> np.ndarray:
    """An orthonormal basis ``(5, 3, 3)`` of the symmetric traceless matrices (Frobenius product)."""
    basis = []
    for i, j in ((0, 1), (0, 2), (1, 2)):
        b = np.zeros((3, 3))
        b[i, j] = b[j, i] = 2**-0.5
        basis.append(b)
    basis.append(np.diag([1.0, -1.0, 0.0]) / 2**0.5)
    basis.append(np.diag([1.0, 1.0, -2.0]) / 6**0.5)
    return np.stack(basis)


def degree_irrep(group: str, l: int) -> Rep:
    """The irrep of degree ``l`` of ``"O(3)"`` (parity ``(-1)^l``, :func:`irrep`) or ``"SO(3)"``."""
    if group == "O(3)":
        return irrep(l)
    if group == "SO(3)":
        return get_group("SO(3)").irrep(l)
    raise ValueError(f"group must be 'O(3)' or 'SO(3)', got {group!r}")


def degree_rep(group: str, lmax: int, scalars: int, per_degree: int) -> Rep:
    """``scalars`` invariants and ``per_degree`` copies of the degree-``l`` irrep
    (:func:`degree_irrep`) for every ``1 <= l <= lmax``."""
    rep = scalars * get_group(group).trivial
    for l in range(1, lmax + 1):
        rep = rep + per_degree * degree_irrep(group, l)
    return rep


@cache
def vector_change_of_basis(group: str = "O(3)") -> torch.Tensor:
    """``M`` ``(3, 3)`` float64, orthogonal, with ``M D_1(g) = g M`` for every ``g`` of ``group``: the
    Cartesian vector of degree-1 coordinates ``v`` is ``M v``."""
    rotations = get_group("SO(3)").sample(2, generator=torch.Generator().manual_seed(1))
    pairs = [(degree_irrep(group, 1)(g).numpy(), g.numpy()) for g in rotations]
    return torch.from_numpy(orthogonal_intertwiner(pairs))


@cache
def rank2_change_of_basis(group: str = "O(3)") -> torch.Tensor:
    """``Q`` ``(5, 3, 3)`` float64 such that ``v -> sum_k v_k Q_k`` maps the degree-2 irrep of
    ``group`` (:func:`degree_irrep`) onto the symmetric traceless matrices equivariantly:
    ``sum_k (D_2(g) v)_k Q_k = g (sum_k v_k Q_k) g^T`` for every ``g``, and
    ``<Q_k, Q_l> = delta_kl``. Measured (:func:`orthogonal_intertwiner`) between ``D_2`` and the
    action ``B -> g B g^T`` on :func:`symmetric_traceless_basis` at two random rotations (for
    ``O(3)`` the degree-2 irrep is even, so reflections agree too)."""
    basis = symmetric_traceless_basis()
    rotations = get_group("SO(3)").sample(2, generator=torch.Generator().manual_seed(2))
    # the action on the basis: A(g)_kl = <B_k, g B_l g^T>
    pairs = [(degree_irrep(group, 2)(g).numpy(), np.einsum("kab,ac,lcd,bd->kl", basis, g.numpy(), basis, g.numpy()))
             for g in rotations]
    m = orthogonal_intertwiner(pairs)  # m D_2 = A m: coordinates in the basis are m v
    return torch.from_numpy(np.einsum("kl,kab->lab", m, basis))
