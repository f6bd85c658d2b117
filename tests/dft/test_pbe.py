"""PBE (GGA) through the whole SCF: forces equal finite differences of the converged PBE energy."""

import numpy as np

from qdiff.dft import PlaneWaveBasis, compute_forces, model_pbe, self_consistent_field, silicon


def _energy_and_forces(pos, lattice, symbols, forces=False):
    model = model_pbe(lattice, symbols, pos)
    assert model.psps[0].functional == "pbe"
    res = self_consistent_field(PlaneWaveBasis(model, 5.0, (2, 2, 2), symmetries=False),
                                tol_energy=1e-12, tol_density=1e-9)
    return res.energy, (compute_forces(res) if forces else None)


def test_pbe_forces_match_finite_differences():
    lattice, symbols, pos = silicon()
    pos = pos.copy()
    pos[1] += np.linalg.solve(lattice, [0.04, -0.03, 0.02])
    e0, f = _energy_and_forces(pos, lattice, symbols, forces=True)
    h = 5e-3
    d = np.linalg.solve(lattice, [h, 0.0, 0.0])
    ep, _ = _energy_and_forces(pos + np.array([d, 0 * d]), lattice, symbols)
    em, _ = _energy_and_forces(pos - np.array([d, 0 * d]), lattice, symbols)
    assert abs(-(ep - em) / (2 * h) - f[0, 0]) < 1e-5
