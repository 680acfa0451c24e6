"""PDE benchmark simulators: conservation laws, exact solutions, causality, symmetry of the
multivector fields under the grid's rotations and reflections, and the cached datasets."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.pde import data, electrodynamics, maxwell, navier_stokes
from groups.clifford.algebra import CliffordAlgebra
from implicit_kernels.equivariance import TOLERANCE, relative_error

ROTATION_2D = [[0, -1], [1, 0]]
REFLECTION_2D = [[0, 1], [1, 0]]
ROTATION_3D = [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
REFLECTION_3D = [[0, -1, 0], [1, 0, 0], [0, 0, -1]]


def transform_grid(field: torch.Tensor, R: torch.Tensor, offset: float) -> torch.Tensor:
    """``F(R^T x)`` for a signed permutation ``R`` of the trailing grid axes (``d = len(R)``) whose
    samples sit at ``x = index + offset``; leading dims and components are left alone."""
    n, d = field.shape[-1], len(R)
    index = torch.meshgrid(*[torch.arange(n)] * d, indexing="ij")
    source = []
    for a in range(d):
        b = int(R[:, a].abs().argmax())  # R e_a = sign e_b, so (R^T x)_a = sign x_b
        source.append(index[b] if R[b, a] > 0 else (-index[b] - round(2 * offset)) % n)
    return field[(..., *source)]


def act(algebra: CliffordAlgebra, g: torch.Tensor, fields: torch.Tensor, R: torch.Tensor, offset: float,
        channel: int = 2) -> torch.Tensor:
    """The multivector field ``rho(g) F(R^T x)`` (components along ``channel``)."""
    moved = transform_grid(fields, R, offset).movedim(channel, -1)
    return (moved @ algebra.action(g).T).movedim(-1, channel)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The problems here are tiny; on a shared machine a second thread slows their FFTs down many
    times over (oversubscription), so run them on one and restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------
# Navier-Stokes


@pytest.fixture(scope="module")
def smoke():
    initial = navier_stokes.sample_initial(4, torch.Generator().manual_seed(0), grid=32)
    return initial, navier_stokes.simulate(**initial, frames=8)


def test_velocity_is_divergence_free_and_smoke_mass_is_conserved(smoke):
    initial, out = smoke
    u = torch.fft.fft2(out["velocity"])
    k = 2 * math.pi / navier_stokes.LENGTH * torch.fft.fftfreq(32, 1 / 32, dtype=torch.float64)
    divergence = torch.fft.ifft2(1j * k[:, None] * u[:, :, 0] + 1j * k[None, :] * u[:, :, 1]).real
    gradient = torch.fft.ifft2(1j * k[:, None] * u[:, :, 0]).real
    assert divergence.abs().max() < 1e-12 * gradient.abs().max()  # every trajectory and frame
    mass = out["density"].mean(dim=(-2, -1))
    assert (mass - mass[:, :1]).abs().max() < 1e-12 * mass.abs().max()
    assert (out["density"][:, -1] - out["density"][:, 0]).abs().max() > 0.1  # the smoke did move


def test_inviscid_energy_is_conserved_and_viscous_energy_decays():
    """Without smoke and viscosity the Galerkin-truncated flow conserves kinetic energy, so its drift
    is RK4's error: small, and at least 16 times smaller at half the time step."""
    initial = navier_stokes.sample_initial(3, torch.Generator().manual_seed(1), grid=32)
    density, velocity = torch.zeros_like(initial["density"]), 10 * initial["velocity"]  # rms speed 1

    def energy(viscosity: float, refine: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        steps = navier_stokes.STEPS_PER_FRAME * refine
        out = navier_stokes.simulate(density, velocity, initial["buoyancy"], frames=6, viscosity=viscosity,
                                     dt=navier_stokes.DT / refine, steps_per_frame=steps)
        return out["velocity"].square().sum(dim=2).mean(dim=(-2, -1)) / 2, out["velocity"]

    def drift(values: torch.Tensor) -> float:
        return float(((values - values[:, :1]).abs() / values[:, :1]).max())

    inviscid, flow = energy(0.0)
    assert drift(inviscid) < 1e-5 and drift(energy(0.0, refine=2)[0]) < drift(inviscid) / 16
    assert (flow[:, -1] - flow[:, 0]).abs().max() > 1.0  # the flow did evolve
    viscous, _ = energy(navier_stokes.VISCOSITY)
    assert (viscous.diff(dim=1) < 0).all() and drift(viscous) > 1e-2


def test_shear_flow_carries_smoke_as_the_exact_solution():
    """Kolmogorov flow ``u = (sin y, 0)`` is a steady solution of Euler's equations, and without
    diffusion it carries the smoke as ``s(x, y, t) = s_0(x - t sin y, y)``."""
    nodes = navier_stokes.LENGTH * torch.arange(32, dtype=torch.float64) / 32
    x, y = torch.meshgrid(nodes, nodes, indexing="ij")

    def blob(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.exp(2 * torch.cos(x - math.pi) + 2 * torch.cos(y - math.pi / 2) - 4)

    flow = torch.stack([torch.sin(y), torch.zeros_like(y)])[None]
    out = navier_stokes.simulate(blob(x, y)[None], flow, torch.zeros(1, 2, dtype=torch.float64), frames=6,
                                 viscosity=0.0, diffusivity=0.0)
    times = navier_stokes.STEPS_PER_FRAME * navier_stokes.DT * torch.arange(6)
    exact = torch.stack([blob(x - t * torch.sin(y), y) for t in times])
    assert (out["velocity"][0] - flow).abs().max() < 1e-12
    assert (out["density"][0] - exact).abs().max() < 1e-4 * (exact[-1] - exact[0]).abs().max()


def test_buoyancy_lifts_smoke_along_b():
    initial = navier_stokes.sample_initial(4, torch.Generator().manual_seed(2), grid=32)
    b = initial["buoyancy"]
    out = navier_stokes.simulate(initial["density"], torch.zeros_like(initial["velocity"]), b, frames=3)
    flux = (out["density"][:, -1, None] * out["velocity"][:, -1]).mean(dim=(-2, -1))  # <s u>, (T, 2)
    assert (torch.nn.functional.cosine_similarity(flux, b, dim=-1) > 0.99).all()


@pytest.mark.parametrize("R", [ROTATION_2D, REFLECTION_2D])
def test_smoke_commutes_with_grid_rotations_and_reflections(smoke, R):
    initial, out = smoke
    R = torch.tensor(R, dtype=torch.float64)
    moved = {
        "density": transform_grid(initial["density"], R, 0.0),
        "velocity": torch.einsum("ab,tb...->ta...", R, transform_grid(initial["velocity"], R, 0.0)),
        "buoyancy": initial["buoyancy"] @ R.T,
    }
    expected = data.navier_stokes_multivectors(out, initial["buoyancy"])
    result = data.navier_stokes_multivectors(navier_stokes.simulate(**moved, frames=8), moved["buoyancy"])
    algebra = CliffordAlgebra(2, 0)
    assert relative_error(result["fields"], act(algebra, R, expected["fields"], R, 0.0)) <= TOLERANCE[torch.float64]
    assert relative_error(result["buoyancy"], expected["buoyancy"] @ algebra.action(R).T) <= TOLERANCE[torch.float64]


# ------------------------------------------------------------------------------------------------
# Maxwell


def test_yee_conserves_energy_and_divergences():
    initial = maxwell.sample_initial(3, torch.Generator().manual_seed(3))
    dt = maxwell.COURANT
    electric, magnetic = maxwell.plane_waves(**initial, grid=10, dt=dt)
    energies, divergences = [], []
    for _ in range(300):
        following = maxwell.faraday_step(electric, magnetic, dt)
        energies.append(electric.square().sum(dim=(1, 2, 3, 4)) + (magnetic * following).sum(dim=(1, 2, 3, 4)))
        divergences.append(maxwell.divergence(electric, maxwell.backward_difference).abs().max())
        divergences.append(maxwell.divergence(following, maxwell.forward_difference).abs().max())
        electric = maxwell.ampere_step(electric, following, dt)
        magnetic = following
    energies = torch.stack(energies)
    assert ((energies - energies[0]).abs() / energies[0]).max() < 1e-12
    assert max(divergences) < 1e-12 * electric.abs().max()
    naive = electric.square().sum(dim=(1, 2, 3, 4)) + magnetic.square().sum(dim=(1, 2, 3, 4))
    assert ((naive - energies[0]).abs() / energies[0]).max() > 1e-6  # the time averaging matters


def test_yee_propagates_discrete_plane_waves_exactly():
    initial = maxwell.sample_initial(2, torch.Generator().manual_seed(4))
    modes, polarisations, phases = initial["modes"], initial["polarisations"], initial["phases"]
    dt, steps = maxwell.COURANT, 50
    electric, magnetic = maxwell.plane_waves(**initial, grid=12, dt=dt)
    out_e, out_b = maxwell.leapfrog(electric, magnetic, dt, frames=2, steps_per_frame=steps)
    advance = maxwell.dispersion(modes, 12, dt) * dt  # phase per step
    exact_e, before = maxwell.plane_waves(modes, polarisations, phases - steps * advance, 12, dt)
    _, after = maxwell.plane_waves(modes, polarisations, phases - (steps + 1) * advance, 12, dt)
    assert relative_error(out_e[:, 1], exact_e) < 1e-12
    assert relative_error(out_b[:, 1], (before + after) / 2) < 1e-12
    assert relative_error(out_e[:, 1], electric) > 0.1


@pytest.mark.parametrize("R", [ROTATION_3D, REFLECTION_3D])
def test_maxwell_fields_commute_with_lattice_symmetries(R):
    initial = maxwell.sample_initial(2, torch.Generator().manual_seed(5))
    R = torch.tensor(R, dtype=torch.float64)
    moved = {
        "modes": initial["modes"] @ R.long().T,
        "polarisations": initial["polarisations"] @ R.T,
        "phases": initial["phases"],
    }
    expected = data.maxwell_multivectors(maxwell.simulate(**initial, grid=8, frames=3))["fields"]
    result = data.maxwell_multivectors(maxwell.simulate(**moved, grid=8, frames=3))["fields"]
    assert relative_error(result, act(CliffordAlgebra(3, 0), R, expected, R, 0.5)) <= TOLERANCE[torch.float64]


def test_magnetic_field_is_the_dual_bivector():
    magnetic = torch.randn(5, 1, 3, 1, 1, 1, dtype=torch.float64)
    fields = data.maxwell_multivectors({"electric": torch.zeros_like(magnetic), "magnetic": magnetic})["fields"]
    algebra = CliffordAlgebra(3, 0)
    vector = data.multivector((3, 0), dict(zip(("e1", "e2", "e3"), magnetic.unbind(dim=2))), dim=-1)
    pseudoscalar = torch.zeros(8, dtype=torch.float64)
    pseudoscalar[-1] = 1
    assert torch.allclose(fields.movedim(2, -1), algebra.geometric_product(vector, pseudoscalar))
    with pytest.raises(KeyError):
        data.multivector((3, 0), {"e4": magnetic}, dim=-1)


# ------------------------------------------------------------------------------------------------
# electrodynamics


def test_smeared_current_conserves_charge_and_is_rho_v():
    generator = torch.Generator().manual_seed(6)
    start = 24 * torch.rand(4, 3, 2, generator=generator, dtype=torch.float64)
    charges = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    for move in (3.0, 1e-3):  # large moves cross cells and the periodic boundary
        end = start + move * torch.randn(4, 3, 2, generator=generator, dtype=torch.float64)
        current = electrodynamics.current_density(start, end, charges, 0.5, 24)
        change = electrodynamics.charge_density(end, charges, 24) - electrodynamics.charge_density(start, charges, 24)
        residual = change[..., None] / 0.5 + maxwell.divergence(current, maxwell.backward_difference)
        density = electrodynamics.charge_density(start, charges, 24)
        assert residual.abs().max() < 1e-13 * density.abs().max() / 0.5  # round-off of rho
    shift = torch.tensor([1e-3, 0.0], dtype=torch.float64)
    current = electrodynamics.current_density(start, start + shift, charges, 1.0, 24, width=2.0)
    background = charges.sum(dim=-1)[:, None, None] / 24**2
    at_edges = electrodynamics.charge_density(start - shift / 1e-3 / 2, charges, 24, width=2.0) + background
    assert relative_error(current[:, 0, ..., 0], 1e-3 * at_edges) < 0.02  # J_x(i + 1/2, j) ~ rho(i + 1/2, j) v_x
    assert current[:, 1].abs().max() == 0


def test_gauss_law_holds_along_random_trajectories():
    initial = electrodynamics.sample_initial(4, torch.Generator().manual_seed(7), grid=24, frames=8)
    speed = initial["positions"].diff(dim=2).norm(dim=-1) * electrodynamics.SUBSTEPS
    assert speed.max() < 0.7
    out = electrodynamics.lattice_fields(**initial, grid=24, frames=8)
    gauss = maxwell.divergence(out["electric"], maxwell.backward_difference) - out["density"]
    assert gauss.abs().max() < 1e-13 * out["density"].abs().max()
    assert out["magnetic"].abs().max() > 1e-2 * out["electric"].abs().max()


def coulomb(grid: int, centre: torch.Tensor, width: float = electrodynamics.WIDTH) -> tuple[torch.Tensor, torch.Tensor]:
    """``(E, r)`` at the cell centres of a unit charge (Gaussian of ``width``) at ``centre`` in 2D:
    ``E = (1 - exp(-r^2 / 2 width^2)) / (2 pi r) r_hat`` plus the neutralising background's
    ``-r / (2 grid^2) r_hat`` (the periodic images' field is O(r^3 / grid^4) by the square's symmetry)."""
    cells = torch.arange(grid, dtype=torch.float64) + 0.5
    offset = torch.stack(torch.meshgrid(cells - centre[0], cells - centre[1], indexing="ij"))
    r = offset.norm(dim=0)
    size = (1 - torch.exp(-(r**2) / (2 * width**2))) / (2 * math.pi * r) - r / (2 * grid**2)
    return size * offset / r, r


def test_static_charge_has_the_coulomb_field():
    centre = torch.tensor([20.3, 30.7], dtype=torch.float64)
    positions = centre.expand(1, 1, 2 * 3 + 2, 2)
    out = electrodynamics.simulate(positions, torch.ones(1, 1, dtype=torch.float64), grid=64, frames=4)
    expected, r = coulomb(64, centre)
    near = (r >= 4) & (r <= 10)
    electric = out["electric"][0]
    assert (electric - electric[:1]).abs().max() < 1e-15
    assert ((electric[0] - expected)[:, near].norm(dim=0) / expected[:, near].norm(dim=0)).max() < 0.03
    assert out["magnetic"].abs().max() < 1e-15


def test_dragged_charge_settles_to_the_coulomb_field():
    """A charge moved by 4 cells (peak speed 0.4) and stopped at t = 16: once the radiation has
    passed, the field about its new position is the static one again."""
    frames, levels = 41, 2 * 40 + 2
    t = torch.arange(levels, dtype=torch.float64) / 2
    shift = 4 * (1 - torch.cos(math.pi * t.clamp(max=16) / 16)) / 2
    start = torch.tensor([20.3, 30.7], dtype=torch.float64)
    positions = (start + torch.stack([shift, torch.zeros_like(shift)], dim=-1))[None, None]
    electric = electrodynamics.simulate(positions, torch.ones(1, 1, dtype=torch.float64), 64, frames)["electric"][0]
    expected, r = coulomb(64, start + torch.tensor([4.0, 0.0], dtype=torch.float64))
    near = (r >= 4) & (r <= 8)

    def error(field: torch.Tensor) -> float:
        return float(((field - expected)[:, near].norm(dim=0) / expected[:, near].norm(dim=0)).max())

    assert error(electric[0]) > 1.0 and error(electric[16]) > 0.1
    assert error(electric[-1]) < 0.03


def test_fields_outside_the_light_cone_do_not_feel_a_charge_starting_to_move():
    frames, levels, start_time = 17, 2 * 16 + 2, 3.0
    t = torch.arange(levels, dtype=torch.float64) / 2
    at_rest = torch.tensor([[20.3, 24.7], [30.0, 10.0]], dtype=torch.float64)[:, None].expand(2, levels, 2)
    moving = at_rest.clone()
    moving[0] += torch.tensor([0.5, 0.3], dtype=torch.float64) * electrodynamics.ramp(t - start_time, 1.0)[:, None]
    charges = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    runs = [electrodynamics.simulate(path[None], charges, grid=48, frames=frames) for path in (at_rest, moving)]
    difference = torch.cat([
        runs[0]["electric"] - runs[1]["electric"], (runs[0]["magnetic"] - runs[1]["magnetic"])[:, :, None]
    ], dim=2)[0].norm(dim=1)  # (frames, x, y)
    cells = torch.arange(48, dtype=torch.float64) + 0.5
    offsets = [(cells - c + 24) % 48 - 24 for c in at_rest[0, 0]]
    r = (offsets[0][:, None] ** 2 + offsets[1][None, :] ** 2).sqrt()
    cone = (torch.arange(frames) - start_time).clamp(min=0)[:, None, None]
    outside = r > cone + 4  # 4 cells for the smearing and the interpolation to the cell centres
    assert difference[: int(start_time) + 1].abs().max() == 0
    assert difference[outside].max() < 1e-3 * difference.max()
    assert difference[~outside].max() > 0.05


def nabla(algebra: CliffordAlgebra, field: torch.Tensor) -> torch.Tensor:
    """``e^mu d_mu F`` of a Cl(1, 2) field ``(T, time, 8, x, y)`` by central differences (periodic in
    space; the result drops the first and last frames); ``e^t = e_t``, ``e^x = -e_x``, ``e^y = -e_y``."""
    middle = field[:, 1:-1]
    derivatives = [
        (field[:, 2:] - field[:, :-2]) / 2,
        (middle.roll(-1, dims=3) - middle.roll(1, dims=3)) / 2,
        (middle.roll(-1, dims=4) - middle.roll(1, dims=4)) / 2,
    ]
    out = torch.zeros_like(middle)
    for index, (sign, derivative) in enumerate(zip((1.0, -1.0, -1.0), derivatives)):
        reciprocal = torch.zeros(8, dtype=field.dtype)
        reciprocal[1 + index] = sign
        out = out + algebra.geometric_product(reciprocal, derivative.movedim(2, -1)).movedim(-1, 2)
    return out


def test_field_strength_obeys_maxwell_in_spacetime_algebra():
    """``nabla F = -J`` on the exported grid, up to the central differences' truncation error; the
    opposite sign of ``B_z`` against ``E`` (a boost-incompatible convention) fails it."""
    initial = electrodynamics.sample_initial(4, torch.Generator().manual_seed(8), grid=32, frames=12)
    out = electrodynamics.simulate(**initial, grid=32, frames=12, width=2.0)
    algebra = CliffordAlgebra(1, 2)
    residuals = []
    for sign in (1, -1):
        encoded = data.electrodynamics_multivectors({**out, "magnetic": sign * out["magnetic"]})
        residuals.append(nabla(algebra, encoded["fields"]) + encoded["current"][:, 1:-1])
    right, wrong = residuals
    trivector, vector = algebra.grade_indices(3), algebra.grade_indices(1)
    assert right[:, :, trivector].norm() < 0.15 * wrong[:, :, trivector].norm()
    assert right[:, :, vector].norm() < 0.05 * wrong[:, :, vector].norm()
    assert right.abs().max() < 0.1 * out["density"].abs().max()


@pytest.mark.parametrize("R", [ROTATION_2D, REFLECTION_2D])
def test_electrodynamics_commutes_with_grid_rotations_and_reflections(R):
    initial = electrodynamics.sample_initial(2, torch.Generator().manual_seed(9), grid=16, frames=5)
    R = torch.tensor(R, dtype=torch.float64)
    moved = {"positions": initial["positions"] @ R.T, "charges": initial["charges"]}
    expected = data.electrodynamics_multivectors(electrodynamics.simulate(**initial, grid=16, frames=5))
    result = data.electrodynamics_multivectors(electrodynamics.simulate(**moved, grid=16, frames=5))
    algebra, g = CliffordAlgebra(1, 2), torch.block_diag(torch.ones(1, 1, dtype=torch.float64), R)
    for key in ("fields", "current"):
        assert relative_error(result[key], act(algebra, g, expected[key], R, 0.5)) <= TOLERANCE[torch.float64]


# ------------------------------------------------------------------------------------------------
# datasets

# trajectories, grid, frames, spatial dimensions
SMALL = {"navier_stokes": (3, 16, 4, 2), "maxwell": (2, 8, 3, 3), "electrodynamics": (3, 16, 4, 2)}


@pytest.mark.parametrize("task", list(SMALL))
def test_dataset_is_deterministic_cached_and_checked(task, tmp_path):
    n, grid, frames, dims = SMALL[task]
    a = data.load(task, n, grid, frames, seed=7, cache=tmp_path)
    assert a.fields.shape == (n, frames, 2 ** sum(a.signature), *[grid] * dims)
    assert len(a) == n and a.fields.dtype == torch.float32 and a.fields.abs().max() > 0
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1
    b = data.load(task, n, grid, frames, seed=7, cache=tmp_path)
    assert torch.equal(a.fields, b.fields) and a.sources.keys() == b.sources.keys()
    stored = torch.load(files[0])
    stored["tensors"]["fields"] += 1.0  # a corrupted cache is regenerated
    torch.save(stored, files[0])
    assert torch.equal(data.load(task, n, grid, frames, seed=7, cache=tmp_path).fields, a.fields)
    assert torch.equal(data.load(task, n, grid, frames, seed=7, cache=None).fields, a.fields)
    assert not torch.equal(data.load(task, n, grid, frames, seed=8, cache=None).fields, a.fields)
