"""The matrix-group kernel network: solved polynomial covariants gated by an MLP of invariants.

    x, a  ->  bilinear layers: the monomials of degree k of x (Sym^k V, k = 0..K), and a itself
          ->  solved equivariant maps  M_j : Sym^k V -> Hom  (and  attr -> Hom),
              one basis per block  Hom(in_i, out_o) = out_o (x) in_i^*  of the reps' parts
          ->  K(x, a) = sum_j c_j(s) M_j F_j(x, a),     c = MLP(s)
              s = [1, radial basis of |x^T metric x|^(1/2), invariant polynomials of x, invariants of a]

Each ``M_j F_j`` is equivariant (``M_j`` commutes with the generators, solved in float64 by
:func:`groups.solver.intertwiner_basis`) and each ``c_j`` invariant, so
``K(g x, rho_a(g) a) = rho_out(g) K(x, a) rho_in(g)^-1``; the gates ``c_j`` are the only
nonlinearity and act on invariant scalars.

Completeness: for each block the degree ``K`` is raised until the covariants' values at a generic
point span ``Hom_Stab(x)`` (dimension solved from the stabiliser's generators), so the kernel
values over the MLP's parameters reach coverage 1. Of each degree only the combinations of its
maps whose values add to the span of the lower degrees' values are kept: at a generic point the
others' values are combinations of the kept ones with unique, hence invariant, coefficients, which
the MLP's ``c_j(s)`` provide (``|x|^2`` times a degree-2 covariant is the commonest case). Fewer
maps mean fewer per-edge features for the linear head. Attributes enter linearly (complete in ``x``,
not jointly in ``(x, a)``). Bases are cached per group and rep pair.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from groups.base import Rep
from groups.deprecation import renamed_keywords
from groups.derived_reps import DirectSumRep, DualRep, TensorProductRep
from groups.kernel_network import LinearHeadKernelNetwork
from groups.matrix.reps import SymmetricPowerRep
from groups.solver import equivariant_maps

INVARIANT_DEGREES = (2, 3, 4)


@dataclass
class BlockBasis:
    """Solved maps for one Hom block: ``maps[k]`` ``(m_k, hom, Sym^k)`` per degree, ``attr_maps``
    ``(m_a, hom, attr)``."""

    out_slice: slice
    in_slice: slice
    maps: list[torch.Tensor]
    attr_maps: torch.Tensor | None


def _parts(rep: Rep) -> list[Rep]:
    return list(rep.parts) if isinstance(rep, DirectSumRep) else [rep]


def _stabiliser_target(group, hom: Rep, x: torch.Tensor, rtol: float) -> int | None:
    """``dim Hom_Stab(x)`` for the block, or ``None`` where the group cannot give its stabiliser."""
    try:
        lie, discrete = group.stabiliser_generators(x)
    except NotImplementedError:
        return None
    return len(equivariant_maps(group.trivial, hom, lie, discrete, rtol))


def _solve_block(group, out_part: Rep, in_part: Rep, attr: Rep | None, powers: list[SymmetricPowerRep],
                 probe: torch.Tensor, max_degree: int, rtol: float) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """The maps of one Hom block ``out_part (x) in_part^*``: from each symmetric power of ``x``
    until their values at ``probe`` span ``Hom_Stab(probe)`` (``RuntimeError`` if degree
    ``max_degree`` does not), and from the attributes. Where the stabiliser is known, each degree
    keeps only the combinations of its maps whose values at ``probe`` add to the span of the
    lower degrees' values (see the module docstring)."""
    hom = TensorProductRep(out_part, DualRep(in_part))
    target = _stabiliser_target(group, hom, probe, rtol)
    maps = []
    spanned = torch.zeros(hom.size, 0, dtype=torch.float64)  # orthonormal basis of the values so far
    for power in powers:
        found = equivariant_maps(power, hom, *group.generators(), rtol)
        if target is None:
            maps.append(found)
            continue
        values = found @ power.monomials(probe)  # (m, hom)
        # the values' components outside the span so far, and the combinations of maps giving them
        outside = values - (values @ spanned) @ spanned.T
        if len(found):
            u, s, vh = torch.linalg.svd(outside, full_matrices=False)
            new = int((s > 1e-8 * max(float(values.norm()), 1e-300)).sum())
            found = torch.einsum("rm,mhf->rhf", u[:, :new].T, found)
            spanned = torch.cat([spanned, vh[:new].T], dim=1)
        maps.append(found)
        if spanned.shape[1] == target:
            break
    else:
        if target is not None:
            raise RuntimeError(
                f"polynomials of degree <= {max_degree} reach rank {spanned.shape[1]} of dim Hom_H = {target} "
                f"for {hom!r} of {group.name}; raise max_degree"
            )
    return maps, equivariant_maps(attr, hom, *group.generators(), rtol) if attr is not None else None


def solve_kernel_basis(group, rep_in: Rep, rep_out: Rep, attr: Rep | None, max_degree: int, rtol: float):
    """Per Hom block, the polynomial covariant maps up to the degree that completes it (see module
    docstring), plus the invariant polynomials of ``x`` of :data:`INVARIANT_DEGREES`. Cached on the
    group per ``(rep_in, rep_out, attr, max_degree, rtol)``; returns ``(blocks, invariant_maps,
    seconds spent solving)``."""
    key = (repr(rep_in), repr(rep_out), repr(attr), max_degree, rtol)
    if key in group._kernel_bases:
        return group._kernel_bases[key]
    start = time.perf_counter()
    probe = torch.randn(group.n, generator=torch.Generator().manual_seed(12345), dtype=torch.float64)
    powers = [SymmetricPowerRep(group, k) for k in range(max_degree + 1)]
    blocks = []
    solved: dict[tuple[str, str], tuple[list[torch.Tensor], torch.Tensor | None]] = {}  # equal part pairs solve once
    out_offset = 0
    for out_part in _parts(rep_out):
        in_offset = 0
        for in_part in _parts(rep_in):
            pair = (repr(out_part), repr(in_part))
            if pair not in solved:
                solved[pair] = _solve_block(group, out_part, in_part, attr, powers, probe, max_degree, rtol)
            blocks.append(BlockBasis(slice(out_offset, out_offset + out_part.size),
                                     slice(in_offset, in_offset + in_part.size), *solved[pair]))
            in_offset += in_part.size
        out_offset += out_part.size
    invariants = [equivariant_maps(powers_k, group.trivial, *group.generators(), rtol)
                  for powers_k in (SymmetricPowerRep(group, k) for k in INVARIANT_DEGREES)]
    result = (blocks, invariants, time.perf_counter() - start)
    group._kernel_bases[key] = result
    return result


class MatrixKernelNetwork(LinearHeadKernelNetwork):
    """Kernel network for reps of a :class:`~groups.matrix.group.MatrixGroup` (any reps with
    ``matrices`` and ``differential``: tensor reps, their sums, products and duals).

    Args:
        group, rep_in, rep_out, attr: the group and reps (``attr`` may be ``None``).
        mlp_width: width of the hidden layers of the invariant MLP ``s -> c(s)``. Deprecated
            name: ``width``.
        depth: number of hidden layers of the invariant MLP.
        n_radial, radial_max: Gaussian radial basis of ``sqrt|x^T metric x|`` on ``[0, radial_max]``.
        max_degree: highest polynomial degree tried per block.
        rtol: relative tolerance of the equivariant-basis solver.
    """

    @renamed_keywords(width="mlp_width")
    def __init__(self, group, rep_in, rep_out, attr=None, *, mlp_width: int = 32, depth: int = 2, n_radial: int = 8,
                 radial_max: float = 1.5, max_degree: int = 10, rtol: float = 1e-9):
        super().__init__()
        if depth < 1 or mlp_width < 1 or n_radial < 1:
            raise ValueError("depth, mlp_width and n_radial must be positive")
        self.in_size, self.out_size = rep_in.size, rep_out.size
        self.attr_size = attr.size if attr is not None else 0
        blocks, invariants, self.solve_seconds = solve_kernel_basis(group, rep_in, rep_out, attr, max_degree, rtol)
        # each block's entries as flat indices into the row-major (out, in) kernel
        self.register_buffer("block_index", torch.cat([
            (torch.arange(b.out_slice.start, b.out_slice.stop)[:, None] * self.in_size
             + torch.arange(b.in_slice.start, b.in_slice.stop)[None, :]).reshape(-1) for b in blocks
        ]) if blocks else torch.zeros(0, dtype=torch.long), persistent=False)
        self.degree = max(len(b.maps) for b in blocks) - 1
        self.powers = [SymmetricPowerRep(group, k) for k in range(max(self.degree, max(INVARIANT_DEGREES)) + 1)]
        for index, block in enumerate(blocks):
            for k, maps in enumerate(block.maps):
                self.register_constant(f"map_{index}_{k}", maps)
            if block.attr_maps is not None:
                self.register_constant(f"attr_map_{index}", block.attr_maps)
        self.block_degrees = [len(b.maps) for b in blocks]
        # per block and map: how many maps (coefficients) it holds, and which input it acts on
        # (the monomials of degree k at index k, the attributes after the highest degree)
        attr_input = [self.degree + 1] if attr is not None else []
        self._map_counts = [[len(m) for m in b.maps] + ([len(b.attr_maps)] if attr is not None else [])
                            for b in blocks]
        self._map_inputs = [list(range(len(b.maps))) + attr_input for b in blocks]
        self.n_coefficients = [sum(counts) for counts in self._map_counts]
        self._block_slices = [(b.out_slice, b.in_slice) for b in blocks]
        # the features of blocks with the same input part are contiguous (head_map contracts them at once)
        self._feature_order = sorted(range(len(blocks)), key=lambda index: blocks[index].in_slice.start)
        self._block_feature_sizes = [sum(m.shape[0] * m.shape[2] for m in b.maps)
                                     + (len(b.attr_maps) * attr.size if attr is not None else 0) for b in blocks]
        self.feature_size = sum(self._block_feature_sizes)
        for k, maps in zip(INVARIANT_DEGREES, invariants):
            self.register_constant(f"invariant_{k}", maps[:, 0, :])
        self.n_invariants = [len(m) for m in invariants]
        if attr is not None:
            self.register_constant("attr_invariants", attr.invariant_basis())
        self.register_constant("radial_centers", torch.linspace(0.0, radial_max, n_radial, dtype=torch.float64))
        self.radial_width = radial_max / max(n_radial - 1, 1)
        self.metric_norm2 = group.invariant_norm2

        n_scalars = 1 + n_radial + sum(self.n_invariants) + (attr.invariant_basis().shape[1] if attr is not None else 0)
        layers: list[nn.Module] = []
        size = n_scalars
        for _ in range(depth):
            layers += [nn.Linear(size, mlp_width), nn.SiLU()]
            size = mlp_width
        layers.append(nn.Linear(size, sum(self.n_coefficients)))
        self.mlp = nn.Sequential(*layers)
        self.to(torch.get_default_dtype())

    def scalars(self, x: torch.Tensor, monomials: list[torch.Tensor], attr: torch.Tensor | None) -> torch.Tensor:
        """The invariant inputs ``s`` of the MLP, ``(..., n_scalars)``."""
        r = torch.sqrt(self.metric_norm2(x) + 1e-12)[..., None]
        radial = torch.exp(-0.5 * ((r - self.constant("radial_centers", x)) / self.radial_width) ** 2)
        parts = [torch.ones_like(r), radial]
        parts += [monomials[k] @ self.constant(f"invariant_{k}", x).transpose(0, 1) for k in INVARIANT_DEGREES]
        if self.attr_size:
            parts.append(attr @ self.constant("attr_invariants", x))
        return torch.cat(parts, dim=-1)

    def _block_maps(self, index: int, like: torch.Tensor) -> list[torch.Tensor]:
        """Block ``index``'s maps ``(m, hom, size)``: one per degree, then the attributes' map."""
        maps = [self.constant(f"map_{index}_{k}", like) for k in range(self.block_degrees[index])]
        return maps + ([self.constant(f"attr_map_{index}", like)] if self.attr_size else [])

    def _covariants(self, x: torch.Tensor, attr: torch.Tensor | None):
        """The MLP's coefficients per block and the inputs the maps act on (monomials of every
        degree, then the attributes)."""
        monomials = [power.monomials(x) for power in self.powers]
        coefficients = self.mlp(self.scalars(x, monomials, attr)).split(self.n_coefficients, dim=-1)
        return coefficients, monomials[:self.degree + 1] + ([attr] if self.attr_size else [])

    def features(self, x, attr=None):
        """``phi = [c_j(s) y_f]`` per block and map ``j`` of degree ``k`` (``y`` the degree-``k``
        monomials of ``x``, or the attributes), block by block in ``_feature_order`` (blocks of
        the same input part together): ``(..., feature_size)``."""
        coefficients, inputs = self._covariants(x, attr)
        parts = []
        for index in self._feature_order:
            c = coefficients[index]
            for c_k, k in zip(c.split(self._map_counts[index], dim=-1), self._map_inputs[index]):
                parts.append((c_k[..., :, None] * inputs[k][..., None, :]).flatten(-2))
        return torch.cat(parts, dim=-1) if parts else x.new_zeros(*x.shape[:-1], 0)

    def head(self) -> torch.Tensor:
        """The maps as a dense ``(out_size * in_size, feature_size)`` matrix (mostly zeros: each
        block fills its own rows)."""
        like = self.radial_centers
        sizes = [(o.stop - o.start) * (i.stop - i.start) for o, i in self._block_slices]
        rows = self.block_index.split(sizes)
        columns = []
        for index in self._feature_order:
            for maps in self._block_maps(index, like):
                dense = like.new_zeros(self.out_size * self.in_size, maps.shape[0] * maps.shape[2])
                dense[rows[index]] = maps.transpose(0, 1).flatten(1)
                columns.append(dense)
        return torch.cat(columns, dim=1) if columns else like.new_zeros(self.out_size * self.in_size, 0)

    def head_map(self, like):
        """The head per input part ``i``, never over all inputs: the features of the blocks
        ``(o, i)`` (contiguous in ``_feature_order``) give ``a = phi_i^T v_i`` ``(F_i, |i|)`` in
        one product, and the head's columns of those features and rows of ``i``, as one matrix
        ``(F_i |i|, out_size)``, map it to the outputs. Features and inputs are cut with ``split``
        (slices would make autograd zero-fill full-size gradients)."""
        head = self.head().to(like.dtype).unflatten(0, (self.out_size, self.in_size))  # (out, in, F)
        parts: dict[tuple[int, int], int] = {}  # input part (start, stop) -> its blocks' feature count
        for index in self._feature_order:
            in_slice = self._block_slices[index][1]
            key = (in_slice.start, in_slice.stop)
            parts[key] = parts.get(key, 0) + self._block_feature_sizes[index]
        matrices, start = [], 0
        for (first, stop), size in parts.items():
            matrices.append(head[:, first:stop, start:start + size].permute(2, 1, 0).flatten(0, 1))
            start += size
        in_sizes = [stop - first for first, stop in parts]
        feature_sizes = list(parts.values())

        def apply(phi: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            out = v.new_zeros(v.shape[0], self.out_size)
            for f, inputs, matrix in zip(phi.split(feature_sizes, dim=-1), v.split(in_sizes, dim=-1), matrices):
                out = out + (f.transpose(-1, -2) @ inputs).flatten(1) @ matrix
            return out

        return apply

    def forward(self, x, attr=None):
        coefficients, inputs = self._covariants(x, attr)
        blocks = []
        for index, c in enumerate(coefficients):
            values = [torch.einsum("jhf,...f->...jh", m, inputs[k])
                      for m, k in zip(self._block_maps(index, x), self._map_inputs[index])]
            blocks.append(torch.einsum("...j,...jh->...h", c, torch.cat(values, dim=-2)))
        # one scatter of all blocks: per-block slice assignments would each copy the whole kernel
        # in the backward pass
        flat = x.new_zeros(*x.shape[:-1], self.out_size * self.in_size)
        if blocks:
            flat = flat.index_copy(-1, self.block_index, torch.cat(blocks, dim=-1))
        return flat.unflatten(-1, (self.out_size, self.in_size))

    def reset_parameters(self, generator=None):
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                bound = 1 / math.sqrt(module.in_features)
                with torch.no_grad():
                    module.weight.copy_((2 * torch.rand(module.weight.shape, generator=generator) - 1) * bound)
                    module.bias.copy_((2 * torch.rand(module.bias.shape, generator=generator) - 1) * bound)
