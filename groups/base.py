"""The two abstractions every group family implements: :class:`Group` and :class:`Rep`.

A *group* here is a matrix group ``G <= GL(n)`` acting linearly on ``R^n``; its elements are passed
around as batches of ``(k, n, n)`` matrices. A *representation* maps such a batch to the batch of
``(k, size, size)`` matrices ``rho(g)``. Families (escnn-backed compact groups, Clifford groups,
matrix groups defined from generators) subclass both and add their own constructors; the kernel
builder in :mod:`implicit_kernels` only uses what is declared here, in particular
:meth:`Group.kernel_network`.
"""

from __future__ import annotations

import itertools
import pickle
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch

from groups.kernel_network import KernelNetwork
from groups.solver import Eigenspaces, eigenspaces, equivariant_maps


class Rep(ABC):
    """A finite-dimensional real representation ``rho: G -> GL(size)`` of ``group``.

    Reps form an algebra: ``a + b`` (direct sum), ``3 * a`` (multiplicity), ``a.tensor(b)``
    (Kronecker product, ``rho_a(g) (x) rho_b(g)``) and ``a.dual()`` (``rho(g)^-T``). The group
    family decides how these are represented internally; this class only fixes the interface.
    """

    group: Group

    @property
    @abstractmethod
    def size(self) -> int:
        """Dimension of the representation space."""

    @abstractmethod
    def matrices(self, g: torch.Tensor) -> torch.Tensor:
        """``rho(g)`` for a batch ``g`` of ``(k, n, n)`` group elements already checked to lie in
        the group; returns ``(k, size, size)`` in ``g``'s dtype and device."""

    @abstractmethod
    def invariant_basis(self) -> torch.Tensor:
        """Float64 ``(size, m)`` matrix whose columns span ``{v : rho(g) v = v for all g}``."""

    def decompose(self) -> tuple[tuple[Rep, ...], torch.Tensor | None]:
        """``(parts, Q)`` with ``rho(g) = Q (part_1(g) (+) part_2(g) (+) ...) Q^-1``: the rep as a
        direct sum of smaller reps in a float64 ``(size, size)`` change of basis ``Q`` (``None``
        for the identity). The ``nn`` layers share weights over equal parts and solve equivariant
        maps once per pair of distinct parts, so families split as far as they cheaply can
        (irreps, grades, the summands of a direct sum). Default: the rep itself, ``((self,), None)``."""
        return (self,), None

    def differential(self, A: torch.Tensor) -> torch.Tensor:
        """``d rho(A)`` for a Lie-algebra element ``A`` ``(n, n)``: float64 ``(size, size)`` with
        ``rho(exp(t A)) = exp(t d rho(A))``. Families defined by generators implement it."""
        raise NotImplementedError(f"{type(self).__name__} has no Lie-algebra action")

    def lie_eigenspaces(self, A: torch.Tensor, tol: float) -> Eigenspaces:
        """The eigenspaces of ``d rho(A)`` for a Lie-algebra element ``A``: ``[(value, basis)]``
        with complex bases ``(size, k)``, eigenvalues closer than ``tol`` merged. The solver uses
        them to narrow the search for equivariant maps. Default: from the matrix ``d rho(A)``
        (:func:`groups.solver.eigenspaces`); reps built from others compose their parts'."""
        return eigenspaces(self.differential(A), tol)

    def rotation_generator(self) -> torch.Tensor:
        """For a group acting on the plane (``n = 2``): the float64 ``(size, size)`` generator ``X``
        of an extension of ``rho`` to every rotation, ``rho~(R(t)) = exp(t X)`` with
        ``R(t) = [[cos t, -sin t], [sin t, cos t]]`` and ``rho~ = rho`` on the rotations in the group.
        Parallel transport on a surface moves tangent frames by arbitrary rotations, so features of
        a finite structure group (``C_N``, ``D_N``) are transported through such an extension.
        Default: ``d rho(J)`` with ``J = [[0, -1], [1, 0]]`` (families with a Lie-algebra action
        extend every rep this way); families of finite groups override it."""
        self.check_planar()
        return self.differential(torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64))

    def check_planar(self) -> None:
        """``ValueError`` unless the group acts on ``R^2`` (rotations of the plane are its concern)."""
        if self.group.n != 2:
            raise ValueError(f"rotations of the plane need a group acting on R^2, {self.group.name} acts on "
                             f"R^{self.group.n}")

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        """``rho(g)`` for ``g`` of shape ``(k, n, n)`` (or ``(n, n)``), which must lie in the group."""
        single = g.dim() == 2
        g = g.unsqueeze(0) if single else g
        self.group.check_elements(g)
        out = self.matrices(g)
        return out[0] if single else out

    def __add__(self, other: Rep) -> Rep:
        self.group.check_same_group(other)
        return self.group.direct_sum([self, other])

    def __mul__(self, multiplicity: int) -> Rep:
        if not isinstance(multiplicity, int) or multiplicity < 1:
            raise ValueError(f"a multiplicity must be a positive int, got {multiplicity!r}")
        return self.group.direct_sum([self] * multiplicity)

    __rmul__ = __mul__

    def tensor(self, other: Rep) -> Rep:
        """The tensor product ``rho_self (x) rho_other`` (Kronecker product, row-major)."""
        self.group.check_same_group(other)
        return self.group.tensor_product(self, other)

    def dual(self) -> Rep:
        """The dual (contragredient) representation ``g -> rho(g)^-T``."""
        return self.group.dual(self)


class Group(ABC):
    """A matrix group acting on ``R^n``, the object the registry hands out.

    Subclasses set ``name`` and ``n`` and implement sampling, membership, the rep algebra and the
    family's equivariant kernel network (:meth:`kernel_network`).
    """

    name: str
    n: int

    # ----------------------------------------------------------------------------------------
    # elements
    @abstractmethod
    def sample(
        self,
        k: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> torch.Tensor:
        """``k`` random elements as ``(k, n, n)`` matrices (Haar-distributed for compact groups
        unless a family says otherwise)."""

    @abstractmethod
    def contains(self, g: torch.Tensor) -> torch.Tensor:
        """Boolean ``(k,)``: which of the ``(k, n, n)`` matrices are elements of the group (to a
        tolerance suited to their dtype)."""

    def check_elements(self, g: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``g`` is a ``(k, n, n)`` batch of group elements."""
        if g.dim() != 3 or g.shape[-2:] != (self.n, self.n):
            raise ValueError(
                f"{self.name} elements must be a (k, {self.n}, {self.n}) tensor, got shape {tuple(g.shape)}"
            )
        inside = self.contains(g)
        if not bool(inside.all()):
            bad = int((~inside).nonzero()[0, 0])
            raise ValueError(
                f"matrix {bad} of the batch is not an element of {self.name}:\n{g[bad].tolist()}"
            )

    def generators(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Float64 ``(lie, discrete)``: a basis ``(d, n, n)`` of the Lie algebra and elements
        ``(r, n, n)`` that together with ``exp(lie)`` generate the group. Families defined by
        generators implement it; equivariant maps are then solved numerically from them."""
        raise NotImplementedError(f"{self.name} is not given by generators")

    @property
    def time_axes(self) -> tuple[int, ...]:
        """Axes of ``R^n`` that are time-like (sampled with a time step and a signal speed on
        spacetime grids); none for Euclidean groups."""
        return ()

    def grid_elements(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The elements that map the integer grid ``Z^n`` to itself: the signed permutation
        matrices that lie in the group, ``(m, n, n)``. Only these commute exactly with sampling a
        kernel on a grid."""
        candidates = signed_permutations(self.n, dtype)
        return candidates[self.contains(candidates)]

    # ----------------------------------------------------------------------------------------
    # representations
    @property
    @abstractmethod
    def trivial(self) -> Rep:
        """The one-dimensional trivial representation."""

    @property
    @abstractmethod
    def standard(self) -> Rep:
        """The defining representation on ``R^n``: ``standard(g) == g``."""

    @abstractmethod
    def direct_sum(self, reps: Sequence[Rep]) -> Rep:
        """``rho_1 (+) rho_2 (+) ...`` (block diagonal, in order)."""

    @abstractmethod
    def tensor_product(self, a: Rep, b: Rep) -> Rep:
        """``rho_a (x) rho_b`` with Kronecker (row-major) ordering."""

    @abstractmethod
    def dual(self, rep: Rep) -> Rep:
        """``g -> rho(g)^-T``."""

    def check_same_group(self, rep: Rep) -> None:
        """Raise ``ValueError`` unless ``rep`` is a representation of this group."""
        if not isinstance(rep, Rep):
            raise TypeError(f"expected a Rep of {self.name}, got {type(rep).__name__}")
        if rep.group != self:
            raise ValueError(
                f"representations of different groups: expected a rep of {self.name}, "
                f"got a rep of {rep.group.name}"
            )

    def intertwiners(self, rep_in: Rep, rep_out: Rep) -> torch.Tensor:
        """Float64 basis ``(m, rep_out.size, rep_in.size)`` of the equivariant linear maps,
        ``{W : W rho_in(g) = rho_out(g) W for all g}``, cached per pair of reps (compared with
        ``==``). The default solves the constraints of :meth:`generators` numerically
        (:func:`groups.solver.equivariant_maps`); families with closed forms (Schur's lemma on
        escnn irreps) override :meth:`solve_intertwiners`."""
        self.check_same_group(rep_in)
        self.check_same_group(rep_out)
        cache = self.__dict__.setdefault("_intertwiner_cache", [])
        for cached_in, cached_out, basis in cache:
            if cached_in == rep_in and cached_out == rep_out:
                return basis
        basis = self.solve_intertwiners(rep_in, rep_out)
        cache.append((rep_in, rep_out, basis))
        return basis

    def solve_intertwiners(self, rep_in: Rep, rep_out: Rep) -> torch.Tensor:
        """The uncached :meth:`intertwiners`: null space of the generators' constraints."""
        return equivariant_maps(rep_in, rep_out, *self.generators())

    # ----------------------------------------------------------------------------------------
    # what the kernel builder needs
    @abstractmethod
    def kernel_network(
        self, rep_in: Rep, rep_out: Rep, attr: Rep | None = None, **options
    ) -> KernelNetwork:
        """The family's equivariant kernel network ``(x, a) -> K(x, a)`` with
        ``K(g x, rho_attr(g) a) = rho_out(g) K(x, a) rho_in(g)^-1``."""

    def invariant_norm2(self, x: torch.Tensor) -> torch.Tensor:
        """A non-negative G-invariant function of ``x`` (``(..., n) -> (...)``) that the kernel
        shell decays in. Euclidean ``|x|^2`` by default, which is invariant for subgroups of O(n)."""
        return (x * x).sum(-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n={self.n})"

    # ----------------------------------------------------------------------------------------
    # identity: equality, copies and pickling
    def definition(self) -> dict[str, Any]:
        """The constructor arguments that define the group: ``type(self)(**definition())`` builds
        it again, and two groups of one type are equal iff their definitions are. Families
        implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not declare the arguments that define it")

    def __eq__(self, other: object) -> bool:
        """Same type and equal :meth:`definition` (tensors compared exactly, dtype included), so
        that a copy or an unpickled group is the same group as the original; a group whose family
        declares no definition equals only itself."""
        if other is self:
            return True
        if type(other) is not type(self):
            return False
        try:
            mine, theirs = self.definition(), other.definition()
        except NotImplementedError:
            return False
        return mine.keys() == theirs.keys() and all(_same_value(mine[k], theirs[k]) for k in mine)

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, self.name, self.n))

    def __copy__(self) -> Group:
        return self

    def __deepcopy__(self, memo: dict) -> Group:
        """A group is an immutable value: copies of it (and of modules and reps holding it) keep the
        group itself, so their reps still combine with the registry's."""
        return self

    def __reduce__(self) -> tuple:
        """Pickle a registered group by its name, as ``get_group(name)`` (the unpickling process needs
        the same registration; importing :mod:`groups` registers the built-in families), any other
        group by its :meth:`definition`, whose values must then be picklable themselves."""
        from groups.registry import get_group, registered_name

        name = registered_name(self)
        if name is not None:
            return get_group, (name,)
        advice = "register it with register_group(name, group) in both processes to pickle it by name"
        try:
            definition = self.definition()
        except NotImplementedError as error:
            raise pickle.PicklingError(f"cannot pickle {self!r}: it is not registered and {error}; {advice}") from error
        for key, value in definition.items():
            try:
                pickle.dumps(value)
            except (pickle.PicklingError, AttributeError, TypeError) as error:
                raise pickle.PicklingError(
                    f"cannot pickle {self!r}: it is not registered, so it is pickled by its definition, but "
                    f"{key}={value!r} cannot be pickled ({error}); pass a picklable {key} (e.g. a "
                    f"module-level function) or {advice}"
                ) from error
        return _build_group, (type(self), definition)


def _same_value(a: Any, b: Any) -> bool:
    """Equality of definition values: tensors by dtype, shape and every entry, the rest by ``==``."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        both = torch.is_tensor(a) and torch.is_tensor(b)
        return both and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return bool(a == b)


def _build_group(cls: type[Group], definition: dict[str, Any]) -> Group:
    """Unpickle a group from its :meth:`Group.definition`."""
    return cls(**definition)


def signed_permutations(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All ``2^n n!`` signed permutation matrices of size ``n``, as ``(2^n n!, n, n)``."""
    mats = []
    for perm in itertools.permutations(range(n)):
        for signs in itertools.product((1.0, -1.0), repeat=n):
            m = torch.zeros(n, n, dtype=dtype)
            m[list(range(n)), list(perm)] = torch.tensor(signs, dtype=dtype)
            mats.append(m)
    return torch.stack(mats)
