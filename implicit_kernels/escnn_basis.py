"""escnn's analytic steerable kernel bases, sampled in our layout, and a kernel network built on them.

For reps of an escnn-backed group (or of a group that is one in another basis: the Clifford
O(2, 0) and O(3, 0), and matrix groups with an ``escnn_counterpart``), escnn solves

    K(g x) = rho_out(g) K(x) rho_in(g)^-1

analytically: a basis ``B_b(x)`` of Gaussian rings times band-limited angular parts.
:func:`escnn_sampler` samples escnn's dense basis (for cross-checks). The analytic kernel networks
are the classic steerable-CNN kernel ``K(x, a) = sum_b c_b(a) B_b(x)`` with learned coefficients,
kept per irrep pair (:class:`IrrepPairBasis`): an MLP of invariant attributes ``a``
(:class:`AnalyticKernelNetwork`) or constants (:class:`ConstantAnalyticKernelNetwork`, in
linear-head form). They are the analytic peers of the implicit kernel networks: same builder,
same layers, escnn's basis.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from escnn.group import Group as EscnnGroup
from escnn.group import GroupElement, Representation
from torch import nn

from groups import KernelNetwork, LinearHeadKernelNetwork, Rep
from groups.compact import CompactGroup
from groups.deprecation import renamed_keywords

Sampler = Callable[[torch.Tensor], torch.Tensor]
DEFAULT_RINGS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)


def _escnn_form(rep: Rep) -> tuple[Rep, torch.Tensor]:
    """``(escnn_rep, Q)`` with ``rep(g) = Q escnn_rep(g) Q^-1``: the rep itself for escnn-backed
    groups, the transported one for groups that are escnn groups in another basis."""
    group = rep.group
    if isinstance(group, CompactGroup):
        return rep, torch.eye(rep.size, dtype=torch.float64)
    if hasattr(group, "escnn_equivalent"):
        try:
            return group.escnn_equivalent(rep)
        except ValueError as error:
            raise TypeError(f"escnn has no analytic basis for {group.name}: {error}") from error
    raise TypeError(f"escnn has no analytic basis for {group.name}")


def default_band_limit(rep_in: Rep, rep_out: Rep) -> int:
    """The angular band limit that covers every frequency ``Hom(rho_in, rho_out)`` holds (the
    largest frequency in ``psi_out (x) psi_in`` over the irreps pairs; escnn's irreps are
    orthogonal, so ``psi_in^* = psi_in``). Finite groups need higher harmonics to span their irreps
    at a generic point, so it is raised by the group order in 2D and by 8 in 3D (escnn's basis
    reaches full rank at a generic point from band limit 4 for the octahedral and 8 for the
    icosahedral group, measured with 2x0+1 -> 0+1+1x1)."""
    group = rep_in.group.escnn_group
    band = 0
    for psi_out in set(rep_out.representation.irreps):
        for psi_in in set(rep_in.representation.irreps):
            product = group.irrep(*psi_out).tensor(group.irrep(*psi_in))
            band = max([band] + [int(group.irrep(*psi).attributes.get("frequency", 0)) for psi in product.irreps])
    return max(band + (rep_in.group.angular_band if rep_in.group.is_finite else 0), 1)


def _build(group: CompactGroup, representation_in, representation_out, rings: Sequence[float], sigma: float,
           band_limit: int) -> PrivateBasis:
    """escnn's basis (built once per argument set by escnn's gspace, which returns the same module
    afterwards) as the one :class:`PrivateBasis` that holds it, so that its copies, and the state
    escnn computes in them at the first sample, are made once."""
    basis = group.gspace.build_kernel_basis(representation_in, representation_out, sigma=[sigma] * len(rings),
                                            rings=list(rings), maximum_frequency=band_limit)
    if id(basis) not in _PRIVATE:  # the entry keeps ``basis`` alive, so its id is not reused
        _PRIVATE[id(basis)] = (basis, PrivateBasis(basis))
    return _PRIVATE[id(basis)][1]


def _modules(root: nn.Module) -> list[nn.Module]:
    """``root`` and its submodules, each once, told apart by identity. ``nn.Module.modules`` tells
    them apart with a set, which calls escnn's ``__eq__`` and ``__hash__`` (they read the tensors)."""
    found, stack, seen = [], [root], set()
    while stack:
        module = stack.pop()
        if id(module) not in seen:
            seen.add(id(module))
            found.append(module)
            stack.extend(child for child in module._modules.values() if child is not None)
    return found


def _share(value: object, memo: dict[int, object]) -> None:
    """Enter every escnn group, group element and representation in ``value`` (looking through
    lists, tuples, sets and dicts) into deepcopy's ``memo`` as itself: copies share them (escnn
    compares groups by identity, and its elements cannot be deep-copied)."""
    if isinstance(value, (EscnnGroup, GroupElement, Representation)):
        memo[id(value)] = value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _share(item, memo)
    elif isinstance(value, dict):
        for key, item in value.items():
            _share(key, memo)
            _share(item, memo)


def _converted_copy(basis: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """A deep copy of ``basis`` whose floating buffers and parameters are on ``device`` in ``dtype``
    and which shares escnn's groups and representations with it. ``basis`` itself is not modified:
    its tensors are converted into deepcopy's memo, so the copy is built converted and no module
    is ever seen half converted."""
    memo: dict[int, object] = {}
    for module in _modules(basis):
        _share(vars(module), memo)
        for tensor in (*module._buffers.values(), *module._parameters.values()):
            if tensor is not None:
                converted = tensor.detach().to(device, dtype if tensor.is_floating_point() else tensor.dtype)
                memo[id(tensor)] = nn.Parameter(converted, False) if isinstance(tensor, nn.Parameter) else converted
    return copy.deepcopy(basis, memo)


class PrivateBasis:
    """An escnn kernel basis module held as private copies, one per device and sampling dtype.

    escnn caches its basis modules globally and finds them again by comparing their tensors, so
    converting one of them in place (``.to(dtype)``) corrupts that cache for every later build. The
    cached module is therefore copied once, on construction, and only the copies are converted or
    moved. Points are sampled on their own device, in float64 for float64 points and in float32
    otherwise (float16 and bfloat16 are computed in float32 and rounded), so no forward pass moves
    points to the CPU; a device and dtype pair costs one copy, made at its first use.
    """

    def __init__(self, basis: nn.Module):
        self.dim, self.shape = basis.dim, basis.shape
        self._copies = {(torch.device("cpu"), torch.float64): _converted_copy(basis, torch.device("cpu"),
                                                                              torch.float64)}

    def sample(self, points: torch.Tensor) -> torch.Tensor:
        """The basis at ``points`` ``(m, n)``: ``(m, dim, out, in)`` in the points' dtype and device.
        The basis is a fixed function of the points: no gradient flows to them."""
        dtype = torch.float64 if points.dtype == torch.float64 else torch.float32
        key = (points.device, dtype)
        if key not in self._copies:
            self._copies[key] = _converted_copy(self._copies[torch.device("cpu"), torch.float64], *key)
        return self._copies[key].sample(points.detach().to(dtype)).to(points.dtype)


_PRIVATE: dict[int, tuple[nn.Module, PrivateBasis]] = {}  # id of escnn's basis -> (it, its private copies)


def escnn_sampler(rep_in: Rep, rep_out: Rep, rings: Sequence[float], sigma: float,
                  band_limit: int | None = None) -> Sampler:
    """escnn's basis for ``Hom(rho_in, rho_out)`` with Gaussian rings of width ``sigma`` at radii
    ``rings``, assembled by escnn, as a function ``points (m, n) -> (m, n_basis, rep_out.size,
    rep_in.size)`` in the points' dtype and device. Band limit: :func:`default_band_limit`."""
    rep_in.group.check_same_group(rep_out)
    (escnn_in, q_in), (escnn_out, q_out) = _escnn_form(rep_in), _escnn_form(rep_out)
    band_limit = band_limit or default_band_limit(escnn_in, escnn_out)
    basis = _build(escnn_in.group, escnn_in.representation, escnn_out.representation, rings, sigma, band_limit)
    return lambda points: q_out.to(points) @ basis.sample(points) @ q_in.transpose(0, 1).to(points)


class IrrepPairBasis:
    """escnn's basis of ``Hom(rho_in, rho_out)`` kept per pair of irreps, as escnn builds it.

    With ``rho = Q (+)_k psi_k Q^-1``, the block of ``K`` between an output copy of ``psi_o`` and
    an input copy of ``psi_i`` is ``sum_b c_b B^{psi_i -> psi_o}_b(x)`` with its own coefficients,
    so only the small irrep-pair bases are sampled, never the dense ``(n_basis, C_out, C_in)`` basis
    (about 30x faster for 8 -> 48 channels of O(3)). Coefficients are ordered by irrep pair, then
    copy pair, then basis element. A mixin for the analytic kernel networks (modules).
    """

    def _setup_basis(self, rep_in: Rep, rep_out: Rep, rings: Sequence[float], ring_width: float,
                     band_limit: int | None) -> None:
        rep_in.group.check_same_group(rep_out)
        self.in_size, self.out_size = rep_in.size, rep_out.size
        (escnn_in, q_in), (escnn_out, q_out) = _escnn_form(rep_in), _escnn_form(rep_out)
        band_limit = band_limit or default_band_limit(escnn_in, escnn_out)
        group = escnn_in.group
        # rho = Q (+) psi Q^-1 with Q the transport times escnn's change of basis
        self.register_constant("q_out", q_out @ torch.as_tensor(escnn_out.representation.change_of_basis))
        self.register_constant("q_in_inv", torch.as_tensor(escnn_in.representation.change_of_basis_inv) @ q_in.T)
        self._pairs = []  # (basis, copies), one per irrep pair with a non-empty basis
        positions = []  # per pair: (copies, d_out, d_in) flat positions in the (out, in) irreps-basis matrix
        out_blocks, in_blocks = _irrep_blocks(escnn_out), _irrep_blocks(escnn_in)
        for psi_out in dict.fromkeys(irrep for irrep, _ in out_blocks):
            for psi_in in dict.fromkeys(irrep for irrep, _ in in_blocks):
                basis = _build(group, group.escnn_group.irrep(*psi_in), group.escnn_group.irrep(*psi_out), rings,
                               ring_width, band_limit)
                if basis.dim == 0:
                    continue
                d_out, d_in = basis.shape
                rows = torch.tensor([start for irrep, start in out_blocks if irrep == psi_out])
                cols = torch.tensor([start for irrep, start in in_blocks if irrep == psi_in])
                # copy (r, c), entry (o, i) sits at (rows[r] + o, cols[c] + i)
                flat = ((rows[:, None, None, None] + torch.arange(d_out)[None, :, None, None]) * self.in_size
                        + cols[None, None, :, None] + torch.arange(d_in)[None, None, None, :])
                positions.append(flat.permute(0, 2, 1, 3).reshape(len(rows) * len(cols), d_out, d_in))
                self._pairs.append((basis, len(rows) * len(cols)))
        self._positions = positions
        self.basis_size = sum(copies * basis.dim for basis, copies in self._pairs)

    def _sample_pairs(self, points: torch.Tensor) -> list[torch.Tensor]:
        """Each irrep pair's basis at ``points`` ``(m, n)``: ``(m, dim, d_out, d_in)``."""
        return [basis.sample(points) for basis, _ in self._pairs]

    def _change_basis(self, irreps_basis: torch.Tensor) -> torch.Tensor:
        """``Q_out K Q_in^-1`` for ``K`` ``(..., out, in, F)`` in the irreps basis (``F`` trailing
        columns, e.g. of a linear head)."""
        q_out, q_in_inv = self.constant("q_out", irreps_basis), self.constant("q_in_inv", irreps_basis)
        return torch.einsum("oa,abf,bi->oif", q_out, irreps_basis, q_in_inv)


class AnalyticKernelNetwork(IrrepPairBasis, KernelNetwork):
    """``K(x, a) = sum_b c_b(a) B_b(x)`` over escnn's analytic basis ``B_b`` (see the module
    docstring), with coefficients from an MLP of invariant attributes ``a``; one kernel per point.

    Exact to escnn's numerics (relative error about 1e-8 in float64 for O(3), where escnn's
    harmonic bases carry float32-level constants) and complete: escnn's basis spans
    ``Hom_Stab(x)`` at generic points. The basis is a fixed function of ``x``: the kernel is not
    differentiable in ``x``.

    Args:
        rep_in, rep_out: reps of a group escnn covers (escnn-backed compact groups, the Clifford
            O(2, 0) and O(3, 0), matrix groups with an escnn counterpart).
        attr: rep of the attributes; it must be invariant (a multiple of the trivial rep), since
            the coefficients ``c(a)`` are scalars.
        rings: ring radii in units of the kernel's radius (``x`` arrives divided by it), with
            Gaussian width ``ring_width``; default 0, 0.25, ..., 1.5 and 0.25.
        band_limit: angular band limit, escnn's ``maximum_frequency`` (default :func:`default_band_limit`).
        mlp_width: width of the hidden layer of the coefficient MLP ``a -> c(a)`` (one hidden SiLU
            layer). Deprecated name: ``width``.
    """

    @renamed_keywords(width="mlp_width")
    def __init__(self, rep_in: Rep, rep_out: Rep, attr: Rep, *, rings: Sequence[float] = DEFAULT_RINGS,
                 ring_width: float = 0.25, band_limit: int | None = None, mlp_width: int = 32):
        super().__init__()
        if not _is_invariant(attr):
            raise ValueError("AnalyticKernelNetwork takes invariant attributes only (multiples of the trivial rep)")
        self._setup_basis(rep_in, rep_out, rings, ring_width, band_limit)
        self.attr_size = attr.size
        index = [positions.reshape(-1) for positions in self._positions]
        self.register_buffer("index", torch.cat(index) if index else torch.zeros(0, dtype=torch.long),
                             persistent=False)
        self.coefficients = nn.Sequential(nn.Linear(self.attr_size, mlp_width), nn.SiLU(),
                                          nn.Linear(mlp_width, self.basis_size))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``N(0, 1 / fan_in)`` weights and zero biases in the coefficient MLP."""
        with torch.no_grad():
            for layer in self.coefficients:
                if isinstance(layer, nn.Linear):
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) / layer.in_features**0.5)
                    layer.bias.zero_()

    def forward(self, x: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
        """``(..., n)`` positions and ``(..., attr_size)`` attributes -> ``(..., out, in)``."""
        batch = x.shape[:-1]
        points = x.reshape(-1, x.shape[-1])
        c = self.coefficients(attr.reshape(len(points), -1))
        blocks, offset = [], 0
        for (basis, copies), sampled in zip(self._pairs, self._sample_pairs(points)):
            coefficients = c[:, offset : offset + copies * basis.dim].unflatten(1, (copies, basis.dim))
            blocks.append(torch.einsum("mkb,mboi->mkoi", coefficients, sampled).flatten(1))
            offset += copies * basis.dim
        values = torch.cat(blocks, dim=1) if blocks else c.new_zeros(len(points), 0)
        irreps_basis = c.new_zeros(len(points), self.out_size * self.in_size).index_copy(1, self.index, values)
        kernel = self._change_basis(irreps_basis.T.unflatten(0, (self.out_size, self.in_size)))
        return kernel.permute(2, 0, 1).reshape(*batch, self.out_size, self.in_size)


class ConstantAnalyticKernelNetwork(IrrepPairBasis, LinearHeadKernelNetwork):
    """``K(x) = sum_b c_b B_b(x)`` over escnn's analytic basis with learned constant coefficients
    (the classic steerable CNN kernel), in linear-head form: the features are the sampled
    irrep-pair bases, ``(..., F)`` with ``F = sum over irrep pairs of dim d_out d_in``, and the head
    places the coefficients (and the change of basis), so point convolutions sum features over
    neighbours before applying it once per node. Same exactness, completeness and options as
    :class:`AnalyticKernelNetwork` (no ``mlp_width``: there is no attribute MLP)."""

    def __init__(self, rep_in: Rep, rep_out: Rep, *, rings: Sequence[float] = DEFAULT_RINGS,
                 ring_width: float = 0.25, band_limit: int | None = None):
        super().__init__()
        self._setup_basis(rep_in, rep_out, rings, ring_width, band_limit)
        self.attr_size = 0
        rows, columns, coefficient = [], [], []
        feature_offset, coefficient_offset = 0, 0
        for (basis, copies), positions in zip(self._pairs, self._positions):
            d_out, d_in = positions.shape[1:]
            b = torch.arange(basis.dim)
            # head entry (copy k, basis b, entry o i): row positions[k, o, i], column of feature (b, o, i)
            rows.append(positions[:, None].expand(copies, basis.dim, d_out, d_in).reshape(-1))
            entries = torch.arange(d_out * d_in).reshape(d_out, d_in)
            feature = feature_offset + b[:, None, None] * d_out * d_in + entries
            columns.append(feature[None].expand(copies, -1, -1, -1).reshape(-1))
            k = torch.arange(copies)
            flat = coefficient_offset + k[:, None] * basis.dim + b[None, :]
            coefficient.append(flat[:, :, None, None].expand(-1, -1, d_out, d_in).reshape(-1))
            feature_offset += basis.dim * d_out * d_in
            coefficient_offset += copies * basis.dim
        self.feature_size = feature_offset
        empty = torch.zeros(0, dtype=torch.long)
        for name, parts in (("head_rows", rows), ("head_columns", columns), ("head_coefficients", coefficient)):
            self.register_buffer(name, torch.cat(parts) if parts else empty, persistent=False)
        self.coefficients = nn.Parameter(torch.empty(self.basis_size))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Unit-variance coefficients."""
        with torch.no_grad():
            self.coefficients.copy_(torch.randn(self.basis_size, generator=generator))

    def features(self, x: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
        points = x.reshape(-1, x.shape[-1])
        sampled = [values.flatten(1) for values in self._sample_pairs(points)]
        flat = torch.cat(sampled, dim=1) if sampled else points.new_zeros(len(points), 0)
        return flat.reshape(*x.shape[:-1], self.feature_size)

    def head(self) -> torch.Tensor:
        c = self.coefficients
        irreps_head = c.new_zeros(self.out_size * self.in_size, self.feature_size).index_put(
            (self.head_rows, self.head_columns), c[self.head_coefficients])
        head = self._change_basis(irreps_head.unflatten(0, (self.out_size, self.in_size)))
        return head.reshape(self.out_size * self.in_size, self.feature_size)


def analytic_kernel_network(rep_in: Rep, rep_out: Rep, attr: Rep | None = None, **options) -> KernelNetwork:
    """The analytic kernel network for the reps: :class:`ConstantAnalyticKernelNetwork` without
    attributes, :class:`AnalyticKernelNetwork` with (invariant) attributes."""
    if attr is None:
        return ConstantAnalyticKernelNetwork(rep_in, rep_out, **options)
    return AnalyticKernelNetwork(rep_in, rep_out, attr, **options)


def _irrep_blocks(rep: Rep) -> list[tuple[tuple, int]]:
    """``(irrep id, first index)`` of each irrep block of an escnn-backed rep, in order."""
    blocks, start = [], 0
    group = rep.group.escnn_group
    for irrep in rep.representation.irreps:
        blocks.append((irrep, start))
        start += group.irrep(*irrep).size
    return blocks


def _is_invariant(rep: Rep) -> bool:
    """Whether ``rep(g)`` is the identity for sampled elements and generators of its group."""
    group = rep.group
    elements = group.sample(8, generator=torch.Generator().manual_seed(0))
    return bool(torch.allclose(rep(elements), torch.eye(rep.size, dtype=elements.dtype).expand(len(elements), -1, -1)))
