"""Equivariant linear maps between any two reps of one group."""

from __future__ import annotations

import torch
from torch import nn

from groups import Rep
from groups.kernel_network import ConstantsModule
from implicit_kernels.bias import InvariantBias
from implicit_kernels.module import EquivariantModule
from implicit_kernels.nn.fields import FieldLayout, is_identity, normalised_basis
from implicit_kernels.validation import check_dtypes, check_features, check_reps


class Linear(ConstantsModule, EquivariantModule):
    """The general equivariant linear map ``rep_in -> rep_out``: ``W x + b`` with ``W`` ranging over
    all of ``Hom_G(rep_in, rep_out)`` and ``b`` over the invariant vectors of ``rep_out``.

    Both reps are split into their parts (:meth:`groups.Rep.decompose`); for every pair of part
    types ``(t_in, t_out)`` the basis ``E_1..E_k`` of ``Hom_G(t_in, t_out)`` is solved once in
    float64 (:meth:`groups.Group.intertwiners`) and copy ``o`` of ``t_out`` receives
    ``sum_i sum_b w[o, i, b] E_b x_i`` over the copies ``i`` of ``t_in``. Every intertwiner of the
    whole reps has this form, so the parameters (``w`` and the bias) are exactly as many as
    ``dim Hom_G(rep_in, rep_out)`` plus the invariant dimension of ``rep_out``. Where ``E`` is the
    single identity (irreps of real type, equal grades) the map is one ``(m_out, m_in)`` matrix
    product per type, as in e3nn's ``o3.Linear``. The bases stay float64 under ``.to(dtype)``.

    Shapes: ``(..., rep_in.size) -> (..., rep_out.size)``.
    """

    def __init__(self, rep_in: Rep, rep_out: Rep, bias: bool = True):
        super().__init__()
        group = check_reps(rep_in, rep_out)
        self.rep_in, self.rep_out = rep_in, rep_out
        self.layout_in, self.layout_out = FieldLayout(rep_in), FieldLayout(rep_out)
        self.weights = nn.ParameterList()
        self._paths: list[list[tuple[int, int, str | None]]] = []  # per output type: (input type, weight, basis)
        for j, t_out in enumerate(self.layout_out.types):
            paths = []
            for i, t_in in enumerate(self.layout_in.types):
                basis = normalised_basis(group.intertwiners(t_in.rep, t_out.rep))
                if basis.shape[0] == 0:
                    continue
                name = None
                if not (basis.shape[0] == 1 and is_identity(basis[0])):
                    name = f"basis_{i}_{j}"
                    self.register_constant(name, basis)
                self.weights.append(nn.Parameter(torch.empty(t_out.multiplicity, t_in.multiplicity, basis.shape[0])))
                paths.append((i, len(self.weights) - 1, name))
            self._paths.append(paths)
        self.bias = InvariantBias(rep_out) if bias else None
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``w ~ N(0, 1 / fan)`` with ``fan`` the number of (copy, basis) terms summed into an
        output copy, which keeps unit variance for unit-variance inputs; zero bias."""
        with torch.no_grad():
            for paths in self._paths:
                fan = sum(self.weights[w].shape[1] * self.weights[w].shape[2] for _, w, _ in paths)
                for _, w, _ in paths:
                    weight = self.weights[w]
                    weight.copy_(torch.randn(weight.shape, generator=generator, dtype=torch.float64) * fan**-0.5)
            if self.bias is not None:
                self.bias.theta.zero_()

    @property
    def parameter_count(self) -> int:
        """Free parameters: ``dim Hom_G(rep_in, rep_out)`` (+ invariant dimension of ``rep_out``
        with bias)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_features(x, self.rep_in, dim=x.dim() - 1, what="Linear input")
        check_dtypes(self, x, "Linear input")
        return self._map(x) + (self.bias().to(x.dtype) if self.bias is not None else 0)

    def _map(self, x: torch.Tensor) -> torch.Tensor:
        pieces = self.layout_in.split(x)
        out = []
        for t_out, paths in zip(self.layout_out.types, self._paths):
            total = None
            for i, w, name in paths:
                weight = self.weights[w]
                if name is None:
                    term = weight[..., 0] @ pieces[i]
                else:
                    basis = self.constant(name, x)
                    dense = torch.einsum("oib,bde->odie", weight, basis).flatten(2).flatten(0, 1)
                    term = (pieces[i].flatten(-2) @ dense.transpose(0, 1)).unflatten(-1, (t_out.multiplicity, -1))
                total = term if total is None else total + term
            if total is None:
                total = x.new_zeros(*x.shape[:-1], t_out.multiplicity, t_out.dim)
            out.append(total)
        return self.layout_out.merge(out)

    def weight_matrix(self) -> torch.Tensor:
        """``W`` as a dense ``(rep_out.size, rep_in.size)`` matrix (without the bias)."""
        dtype = self.weights[0].dtype if len(self.weights) else torch.get_default_dtype()
        eye = torch.eye(self.rep_in.size, dtype=dtype, device=self.layout_in.order.device)
        return self._map(eye).transpose(0, 1)

    def extra_repr(self) -> str:
        return f"{self.rep_in!r} -> {self.rep_out!r}, bias={self.bias is not None}"
