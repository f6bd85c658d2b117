"""Aluminium (a metal, Fermi–Dirac smearing): ABINIT reference and the thermodynamic identity dF/dT = −S."""

import numpy as np
import pytest

from qdiff.dft import PlaneWaveBasis, aluminium, model_lda, self_consistent_field

# dft_references.md: al_fd_e15_k8 (ABINIT 9.6.2)
REF_FREE_ENERGY = -2.0993200776
REF_FERMI = 0.354670408
REF_MINUS_TS = -0.0036868053
REF_GAMMA = [-0.050564678, 0.823958619, 0.858944863, 0.968300838]
ABINIT_ITERATIONS = 5


@pytest.fixture(scope="module")
def al_k8():
    model = model_lda(*aluminium(7.65), smearing="fermi-dirac", temperature=0.01)
    basis = PlaneWaveBasis(model, 15.0, (8, 8, 8), fft_size=(24, 24, 24), nbands=8)
    return self_consistent_field(basis, tol_energy=1e-12, tol_density=1e-8)


def test_free_energy_fermi_level_entropy(al_k8):
    assert al_k8.converged
    assert abs(al_k8.energy - REF_FREE_ENERGY) < 1e-8
    assert abs(al_k8.fermi_level - REF_FERMI) < 1e-6
    assert abs(al_k8.energies["entropy"] - REF_MINUS_TS) < 1e-8


def test_gamma_eigenvalues(al_k8):
    k = al_k8.kpoints
    eig = al_k8.eigenvalues[int(np.argmin(np.linalg.norm(k, axis=1)))]
    for ref in REF_GAMMA:
        assert np.min(np.abs(eig - ref)) < 1e-7, (ref, eig)


def test_metal_iterations_within_one_and_a_half_abinit(al_k8):
    first = next(h["iteration"] for h in al_k8.history if abs(h["delta_energy"]) < 1e-10)
    assert first <= int(1.5 * ABINIT_ITERATIONS)


def test_metal_has_no_gap_and_right_electron_count(al_k8):
    assert al_k8.band_gap is None
    nel = (al_k8.kweights[:, None] * al_k8.occupations).sum()
    assert abs(nel - 3.0) < 1e-10


@pytest.mark.parametrize("smearing", ["fermi-dirac", "gaussian"])
def test_free_energy_temperature_derivative_is_minus_entropy(smearing):
    """Mermin free energy F(T) at self-consistency: dF/dT = −S (the SCF energy is variational)."""
    lattice, symbols, pos = aluminium(7.65)
    T, h = 0.02, 2e-4
    res = {}
    for t in (T - h, T, T + h):
        model = model_lda(lattice, symbols, pos, smearing=smearing, temperature=t)
        basis = PlaneWaveBasis(model, 6.0, (4, 4, 4))
        res[t] = self_consistent_field(basis, tol_energy=1e-12, tol_density=1e-9)
    dFdT = (res[T + h].energy - res[T - h].energy) / (2 * h)
    minus_S = res[T].energies["entropy"] / T
    assert abs(dFdT - minus_S) < 1e-5 * max(1.0, abs(minus_S)), (dFdT, minus_S)
