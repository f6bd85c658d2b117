"""Onsager's exact 2D Ising solution against outside facts: a closed form at βc,
series expansions, finite differences of itself, and the critical log divergence."""

import math

import numpy as np
import pytest

from qdiff.errors import InputError
from qdiff.tensornet.onsager import (BETA_C, critical_beta, onsager_energy, onsager_lnz,
                                     onsager_specific_heat)

CATALAN = 0.915965594177219015054603514932


def test_critical_point_closed_forms():
    assert BETA_C == pytest.approx(0.4406867935097715, rel=1e-15)
    assert critical_beta(2.0) == pytest.approx(BETA_C / 2, rel=1e-15)
    # ln Z/N at βc = 2G/π + ln(2)/2 (G: Catalan's constant); u(βc) = -√2 J
    assert onsager_lnz(BETA_C) == pytest.approx(2 * CATALAN / math.pi + 0.5 * math.log(2), rel=1e-12)
    assert onsager_energy(BETA_C) == pytest.approx(-math.sqrt(2), rel=1e-9)


@pytest.mark.parametrize("beta", [0.02, 0.05])
def test_high_temperature_series(beta):
    # ln Z/N = ln 2 + 2 ln cosh K + t^4 + 2 t^6 + O(t^8), t = tanh K (closed loops on the lattice)
    t = math.tanh(beta)
    series = math.log(2) + 2 * math.log(math.cosh(beta)) + t**4 + 2 * t**6
    assert abs(onsager_lnz(beta) - series) < 10 * t**8


@pytest.mark.parametrize("beta", [1.5, 2.5])
def test_low_temperature_series(beta):
    # ln Z/N = 2K + x^4 + 2 x^6 + O(x^8), x = exp(-2K) (one flipped spin, two adjacent flipped spins)
    x = math.exp(-2 * beta)
    series = 2 * beta + x**4 + 2 * x**6
    assert abs(onsager_lnz(beta) - series) < 10 * x**8 + 1e-13


def _fd(f, x, h):
    """First and second derivatives by 4th-order central differences."""
    fm2, fm1, f0, fp1, fp2 = (f(x + k * h) for k in (-2, -1, 0, 1, 2))
    d1 = (fm2 - 8 * fm1 + 8 * fp1 - fp2) / (12 * h)
    d2 = (-fm2 + 16 * fm1 - 30 * f0 + 16 * fp1 - fp2) / (12 * h * h)
    return d1, d2


@pytest.mark.parametrize("beta,h", [(0.1, 2e-3), (0.3, 2e-3), (0.42, 2e-4), (0.46, 2e-4), (0.6, 2e-3),
                                    (1.0, 2e-3)])
def test_energy_and_specific_heat_match_finite_differences_of_lnz(beta, h):
    # smaller steps near βc, where high derivatives grow like |β - βc|^-k
    d1, d2 = _fd(onsager_lnz, beta, h)
    assert onsager_energy(beta) == pytest.approx(-d1, rel=1e-7)
    assert onsager_specific_heat(beta) == pytest.approx(beta**2 * d2, rel=1e-4)


def test_coupling_scaling_and_sign():
    # Z depends on K = βJ only; the bipartite lattice makes J -> -J a symmetry at h = 0
    assert onsager_lnz(0.3, J=2.0) == pytest.approx(onsager_lnz(0.6), rel=1e-13)
    assert onsager_lnz(0.3, J=-1.0) == pytest.approx(onsager_lnz(0.3), rel=1e-13)
    assert onsager_energy(0.3, J=2.0) == pytest.approx(2.0 * onsager_energy(0.6), rel=1e-12)
    assert onsager_specific_heat(0.3, J=2.0) == pytest.approx(onsager_specific_heat(0.6), rel=1e-12)


def test_logarithmic_divergence_amplitude():
    # c ≈ -(8/π) Kc² ln|1 - β/βc| + const near βc (Onsager)
    c1 = onsager_specific_heat(BETA_C * (1 - 1e-4))
    c2 = onsager_specific_heat(BETA_C * (1 - 1e-7))
    amplitude = 8 / math.pi * BETA_C**2
    assert (c2 - c1) == pytest.approx(amplitude * math.log(1e3), rel=2e-3)


def test_vectorised_and_limits():
    betas = np.array([0.0, 0.3, 0.6])
    lnz = onsager_lnz(betas)
    assert lnz.shape == (3,) and lnz[0] == pytest.approx(math.log(2), rel=1e-14)
    assert onsager_energy(0.0) == 0.0 and onsager_specific_heat(0.0) == 0.0
    assert np.allclose(onsager_energy(betas)[1:], [onsager_energy(0.3), onsager_energy(0.6)], rtol=0, atol=0)


def test_bad_input():
    with pytest.raises(InputError, match="beta"):
        onsager_lnz(-0.1)
    with pytest.raises(InputError, match="beta"):
        onsager_energy(float("nan"))
    with pytest.raises(InputError, match="J"):
        critical_beta(0.0)
