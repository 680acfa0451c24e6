"""The percent density error of predicted coefficients, in total and per degree ``l``.

For a cluster with target coefficients ``c`` and predicted ``c'`` (per atom, in our irreps;
:mod:`benchmarks.density.quantum`), ``rho = sum_P c_P chi_P`` and ``rho'`` likewise in the
auxiliary basis, the error is

    eps = 100 * integral |rho' - rho| / integral rho

on pyscf's DFT integration grid of the cluster. ``eps_l`` compares the parts of both densities
spanned by the functions of degree ``l`` and divides by the same total ``integral rho``, so that
the per-degree errors are on one scale. A model that predicts only the degrees up to ``L`` has
``rho'`` without the higher ones: its total ``eps`` counts the missing part as error.
"""

from __future__ import annotations

import numpy as np
import torch
from pyscf import df

from benchmarks.density import quantum
from benchmarks.density.data import DensitySet


def density_errors(data: DensitySet, predictions: torch.Tensor, layout: quantum.ShellLayout,
                   auxbasis: str = quantum.LEVEL["auxbasis"], grid_level: int = 1) -> dict[str, float]:
    """Mean over the clusters of ``data`` of ``eps`` and of ``eps_l`` for every degree of the
    layout (keys ``"eps"``, ``"eps_l0"``, ...), for ``predictions`` ``(A, layout.size)`` of all
    atoms of ``data`` (zeros where nothing is predicted)."""
    degrees = range(len(layout.multiplicity))
    totals: dict[str, list[float]] = {"eps": [], **{f"eps_l{l}": [] for l in degrees}}
    for i in range(len(data)):
        positions, elements, target = data.cluster(i)
        atoms = slice(int(data.offsets[i]), int(data.offsets[i + 1]))
        mol = quantum.molecule(positions, elements, "sto-3g")
        auxmol = df.addons.make_auxmol(mol, auxbasis)
        points, weights = quantum.integration_grid(mol, grid_level)
        functions = auxmol.eval_gto("GTOval_sph", points)  # (points, naux)
        function_degree = np.concatenate([
            np.full(2 * auxmol.bas_angular(s) + 1, auxmol.bas_angular(s)) for s in range(auxmol.nbas)])
        exact = quantum.from_irreps(auxmol, target, layout)
        predicted = quantum.from_irreps(auxmol, predictions[atoms], layout)
        electrons = weights @ (functions @ exact)
        totals["eps"].append(100 * weights @ np.abs(functions @ (predicted - exact)) / electrons)
        for l in degrees:
            part = function_degree == l
            error = functions[:, part] @ (predicted - exact)[part]
            totals[f"eps_l{l}"].append(100 * weights @ np.abs(error) / electrons)
    return {key: float(np.mean(values)) for key, values in totals.items()}
