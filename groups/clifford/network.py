"""The Clifford family's kernel network: a Clifford-group-equivariant MLP and a complete head.

    x, a  ->  channels [x (a vector), 1, radial basis of q(x) (scalars), attribute fields]
          ->  (GeometricProductLayer -> MultivectorNorm -> MultivectorGate) x depth
          ->  MultivectorLinear to multivectors A_p, B_p, C_p, one set per pair p = (out field, in field)
          ->  head:  K_p = L1(A_p) + L2(B_p) L3(C_p)          ("complete", the default)
                     K_p = L1(A_p)                            ("single", the CS-CNN head)

where ``Lj(M)`` is the grade-path-weighted left multiplication ``f -> sum_ikl w^j_pikl <<M>_i <f>_k>_l``
(learned path weights). Every step commutes with ``rho(g)``, so ``K(g x, rho_a(g) a) = rho_out(g)
K(x, a) rho_in(g)^-1`` exactly; ``K_p`` is the ``(2^n, 2^n)`` operator between full multivectors,
of which the rows and columns of the fields' grades are kept.

Completeness. A network fed with the vector ``x`` alone outputs multivectors in ``span{1, x}``
(the subalgebra ``x`` generates, as ``x x = q(x)``). At a non-null ``x`` with stabiliser
``H = O(x^perp)``, ``Cl = Cl(x^perp) (+) x Cl(x^perp)`` holds each ``Lambda^j x^perp``
(``j < n``) twice, in grades ``j`` and ``j + 1``, so ``dim End_H(Cl) = 4n``. One weighted product
with ``span{1, x}`` reaches the grade-wise identities and ``<x <f>_k>_{k +- 1}`` but not
``x ^ (x . <f>_k)``: rank ``3n + 1`` of ``4n`` (7/8, 10/12, 13/16 for n = 2, 3, 4). The
second product ``L2(B) L3(C)`` supplies it, so the default head is complete, which the test
suite verifies against ``dim Hom_H`` solved from the stabiliser's generators.
"""

from __future__ import annotations

import torch
from torch import nn

from groups.clifford.algebra import CliffordAlgebra
from groups.clifford.layers import (
    GeometricProductLayer,
    MultivectorGate,
    MultivectorLinear,
    MultivectorNorm,
    PathWeights,
)
from groups.clifford.rep import CliffordRep
from groups.deprecation import renamed_keywords
from groups.kernel_network import KernelNetwork

HEADS = ("complete", "single")


class CliffordKernelNetwork(KernelNetwork):
    """Kernel network for :class:`~groups.clifford.rep.CliffordRep` fields of O(p, q).

    Args:
        group, rep_in, rep_out, attr: the group and reps (``attr`` may be ``None``).
        head: ``"complete"`` (default, coverage 1) or ``"single"`` (one weighted product, as in
            Clifford-steerable CNNs; coverage ``(3n + 1) / 4n`` at a generic point).
        multivectors: multivector channels of each hidden layer (each channel a full multivector
            of ``Cl(p, q)``, ``2^n`` components). Deprecated name: ``width``.
        depth: number of hidden (product, norm, gate) layers.
        n_radial: Gaussian basis functions of the invariant ``q(x)``.
        q_max: the radial basis covers ``[-q_max, q_max]`` (or its half of the sign ``q`` can
            take for definite signatures), in the units of ``x`` seen by the network (the builder
            divides by the kernel radius).
    """

    @renamed_keywords(width="multivectors")
    def __init__(
        self,
        group,
        rep_in: CliffordRep,
        rep_out: CliffordRep,
        attr: CliffordRep | None = None,
        *,
        head: str = "complete",
        multivectors: int = 8,
        depth: int = 2,
        n_radial: int = 6,
        q_max: float = 2.25,
    ):
        super().__init__()
        for name, rep in (("rep_in", rep_in), ("rep_out", rep_out), ("attr", attr)):
            if rep is not None and not isinstance(rep, CliffordRep):
                raise TypeError(
                    f"Clifford kernels need reps built from grades (G.multivector, G.grade(k)); {name} is {rep!r}"
                )
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if depth < 1 or multivectors < 1 or n_radial < 1:
            raise ValueError("depth, multivectors and n_radial must be positive")
        algebra: CliffordAlgebra = group.algebra
        self.algebra, self.head_kind = algebra, head
        self.in_size, self.out_size = rep_in.size, rep_out.size
        self.attr_size = attr.size if attr is not None else 0
        self.attr_positions = [] if attr is None else attr.blade_positions

        low = -q_max if group.q > 0 else 0.0
        high = q_max if group.p > 0 else 0.0
        self.register_constant("radial_centers", torch.linspace(low, high, n_radial, dtype=torch.float64))
        self.radial_width = (high - low) / max(n_radial - 1, 1)

        channels = 2 + n_radial + len(self.attr_positions)
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [
                GeometricProductLayer(algebra, channels, multivectors), MultivectorNorm(algebra, multivectors),
                MultivectorGate(),
            ]
            channels = multivectors
        self.body = nn.Sequential(*layers)

        self.n_pairs = len(rep_out.fields) * len(rep_in.fields)
        self.n_operators = 3 if head == "complete" else 1
        self.output = MultivectorLinear(algebra, multivectors, self.n_operators * self.n_pairs)
        self.paths = PathWeights(self._path_masks(rep_in, rep_out))
        self.type_sizes = self._pair_types(rep_in, rep_out)
        self.to(torch.get_default_dtype())

    def _path_masks(self, rep_in: CliffordRep, rep_out: CliffordRep) -> torch.Tensor:
        """``(operators, pairs, n+1, n+1, n+1)``: the valid grade paths of each operator, restricted
        to the input field's grades where it acts on ``f`` and to the output field's grades where it
        produces ``K f`` (``L1``: both; ``L3``: input; ``L2``: output)."""
        n = self.algebra.n
        valid = self.algebra.valid_paths
        masks = []
        for out_field in rep_out.fields:
            for in_field in rep_in.fields:
                takes_f = torch.zeros(n + 1, dtype=torch.bool)
                takes_f[list(in_field)] = True
                gives_kf = torch.zeros(n + 1, dtype=torch.bool)
                gives_kf[list(out_field)] = True
                on_input = valid & takes_f[None, :, None]
                on_output = valid & gives_kf[None, None, :]
                pair = [on_input & on_output] + ([on_output, on_input] if self.head_kind == "complete" else [])
                masks.append(torch.stack(pair))
        return torch.stack(masks, dim=1)

    def scalar_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(x)`` ``(..., 1)`` and the scalar input channels ``[1, radial basis of q]``
        ``(..., 1 + n_radial)``."""
        q = (x * x * self.algebra.metric.to(device=x.device, dtype=x.dtype)).sum(-1, keepdim=True)
        radial = torch.exp(-0.5 * ((q - self.constant("radial_centers", x)) / self.radial_width) ** 2)
        return q, torch.cat([torch.ones_like(q), radial], dim=-1)

    def embed(self, x: torch.Tensor, attr: torch.Tensor | None) -> torch.Tensor:
        """Input channels ``(..., 2 + n_radial + attr fields, 2^n)``."""
        algebra = self.algebra
        _, scalars = self.scalar_inputs(x)
        channels = x.new_zeros(*x.shape[:-1], 1 + scalars.shape[-1] + len(self.attr_positions), algebra.dim)
        channels[..., 0, 1 : 1 + algebra.n] = x
        channels[..., 1 : 1 + scalars.shape[-1], 0] = scalars
        offset, start = 1 + scalars.shape[-1], 0
        for c, idx in enumerate(self.attr_positions):
            channels[..., offset + c, idx] = attr[..., start : start + len(idx)]
            start += len(idx)
        return channels

    def _pair_types(self, rep_in: CliffordRep, rep_out: CliffordRep) -> list[int]:
        """Group the pairs ``p`` by their fields' blades (row blades ``R``, column blades ``C``):
        register ``pair_order``, the pairs sorted by type, and for each type ``t`` ``rows_t`` ``R``,
        ``cols_t`` ``C`` and ``index_t`` ``(P_t, |R|, |C|)``, the flat positions of the blocks
        ``K_p[R][:, C]`` in the row-major ``(out, in)`` kernel. Returns the types' sizes ``P_t``."""
        def offsets(rep: CliffordRep) -> list[int]:
            sizes = [len(idx) for idx in rep.blade_positions]
            return [sum(sizes[:k]) for k in range(len(sizes))]

        types: dict[tuple, list[tuple[int, int, int]]] = {}
        out_offsets, in_offsets = offsets(rep_out), offsets(rep_in)
        pair = 0
        for o, out_blades in enumerate(rep_out.blade_positions):
            for i, in_blades in enumerate(rep_in.blade_positions):
                types.setdefault((tuple(out_blades.tolist()), tuple(in_blades.tolist())), []).append((pair, o, i))
                pair += 1
        for t, ((row_blades, col_blades), members) in enumerate(types.items()):
            r, c = torch.arange(len(row_blades)), torch.arange(len(col_blades))
            index = torch.stack([(out_offsets[o] + r)[:, None] * self.in_size + (in_offsets[i] + c)[None, :]
                                 for _, o, i in members])
            for name, value in (("rows", row_blades), ("cols", col_blades), ("index", index)):
                self.register_buffer(f"{name}_{t}", torch.as_tensor(value), persistent=False)
        order = [p for members in types.values() for p, _, _ in members]
        self.register_buffer("pair_order", torch.tensor(order), persistent=False)
        return [len(members) for members in types.values()]

    def forward(self, x: torch.Tensor, attr: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.body(self.embed(x, attr))
        outputs = self.output(hidden).unflatten(-2, (self.n_operators, self.n_pairs))  # (..., ops, pairs, 2^n)
        weights = self.paths()  # (ops, pairs, n+1, n+1, n+1)
        # one gather and one split (not an index per type and operator): their backward passes
        # write the full gradient once
        operators = outputs.index_select(-2, self.pair_order).split(self.type_sizes, dim=-2)
        operator_weights = weights.index_select(1, self.pair_order).split(self.type_sizes, dim=1)
        left = self.algebra.left_multiplication
        blocks = []
        for t, (a, w) in enumerate(zip(operators, operator_weights)):
            rows, cols = getattr(self, f"rows_{t}"), getattr(self, f"cols_{t}")
            ops = a.unbind(-3)
            block = left(ops[0], w[0], rows, cols)
            if self.head_kind == "complete":
                block = block + left(ops[1], w[1], rows, None) @ left(ops[2], w[2], None, cols)
            blocks.append(block)
        return self.assemble(blocks)

    def assemble(self, blocks: list[torch.Tensor]) -> torch.Tensor:
        """The kernel ``(..., out_size, in_size)`` from each pair type's blocks ``(..., P_t, |R|,
        |C|)`` (one scatter, whose backward writes the full gradient once)."""
        positions = torch.cat([getattr(self, f"index_{t}").flatten() for t in range(len(blocks))])
        values = torch.cat([block.flatten(-3) for block in blocks], dim=-1)
        flat = values.new_zeros(*values.shape[:-1], self.out_size * self.in_size)
        return flat.index_copy(-1, positions, values).unflatten(-1, (self.out_size, self.in_size))

    def reset_parameters(self, generator=None):
        for module in self.modules():
            if isinstance(module, (MultivectorLinear, MultivectorNorm, PathWeights)):
                module.reset_parameters(generator)
