"""Forces by AD (Hellmann–Feynman): ABINIT reference, finite differences, Newton's third law, symmetry."""

import numpy as np
import pytest

from qdiff.dft import PlaneWaveBasis, compute_forces, model_lda, self_consistent_field, silicon

# dft_references.md: si_disp_e15_k4 (ABINIT 9.6.2; QE agrees to 3e-9 Ha/Bohr)
REF_DISP_ENERGY = -7.9246841465
REF_DISP_FORCE_ATOM1 = np.array([6.932277485e-03, 2.776029620e-03, 1.884803147e-04])


def _displaced(shift_cart, atom=1):
    lattice, symbols, pos = silicon(10.26)
    pos = pos.copy()
    pos[atom] += np.linalg.solve(lattice, np.asarray(shift_cart, float))
    return lattice, symbols, pos


def _scf(lattice, symbols, pos, ecut, kgrid, **kw):
    model = model_lda(lattice, symbols, pos)
    basis = PlaneWaveBasis(model, ecut, kgrid, **kw)
    return self_consistent_field(basis, tol_energy=1e-12, tol_density=1e-9)


@pytest.mark.slow
def test_displaced_silicon_against_abinit():
    res = _scf(*_displaced([0.05, 0.02, 0.0]), 15.0, (4, 4, 4), fft_size=(30, 30, 30), symmetries=False)
    assert abs(res.energy - REF_DISP_ENERGY) < 1e-8
    f = compute_forces(res)
    np.testing.assert_allclose(f[0], REF_DISP_FORCE_ATOM1, atol=1e-6)
    np.testing.assert_allclose(f[1], -REF_DISP_FORCE_ATOM1, atol=1e-6)


@pytest.fixture(scope="module")
def small_displaced():
    """Si₂ at a low cutoff, atom 2 displaced; time-reversal-only k-points."""
    return _displaced([0.05, 0.02, 0.0])


def test_forces_match_finite_differences_of_energy(small_displaced):
    lattice, symbols, pos = small_displaced
    res = _scf(lattice, symbols, pos, 6.0, (2, 2, 2), symmetries=False)
    f = compute_forces(res)
    # Newton's third law / translation invariance: the raw forces sum to zero up to the small
    # egg-box drift of the real-space xc grid (which compute_forces removes by default)
    raw = compute_forces(res, remove_drift=False)
    assert np.abs(raw.sum(axis=0)).max() < 1e-5
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-12)
    h = 5e-3  # Bohr
    for direction in (0, 1):
        e = []
        for sign in (+1, -1):
            d = np.zeros(3)
            d[direction] = sign * h
            p = pos.copy()
            p[0] += np.linalg.solve(lattice, d)
            e.append(_scf(lattice, symbols, p, 6.0, (2, 2, 2), symmetries=False).energy)
        fd = -(e[0] - e[1]) / (2 * h)
        assert abs(fd - f[0, direction]) < 1e-5, (direction, fd, f[0, direction])


def test_perfect_silicon_has_zero_forces_without_symmetrisation():
    res = _scf(*silicon(10.26), 6.0, (2, 2, 2), symmetries=False)
    np.testing.assert_allclose(compute_forces(res), 0.0, atol=1e-8)


def test_symmetry_reduced_forces_equal_time_reversal_only_forces():
    # a displacement along [111] keeps the C3v subgroup: the reduced k-set needs symmetrised forces
    lattice, symbols, pos = _displaced([0.03, 0.03, 0.03])
    full = compute_forces(_scf(lattice, symbols, pos, 6.0, (2, 2, 2), symmetries=False))
    res = _scf(lattice, symbols, pos, 6.0, (2, 2, 2), symmetries=True)
    assert len(res.basis.symops) > 1
    np.testing.assert_allclose(compute_forces(res), full, atol=1e-8)
    # by symmetry the force points along [111]
    np.testing.assert_allclose(full[0], full[0].mean(), atol=1e-8)
