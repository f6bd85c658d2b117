"""Exchange–correlation energy densities against outside numbers: the exact Slater exchange and its
potential, the Gell-Mann–Brueckner high-density limit of PW92, the Perdew–Zunger 1981 fit to the
same Ceperley–Alder data, Teter vs PW92 (two fits to the same data), PBE's defining limits
(σ → 0, small-s/small-t gradient expansions, Lieb–Oxford bound), potentials vs finite differences,
and NaN-free values and derivatives as ρ → 0.  (Peer-code comparison: test_xc_libxc.py.)"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.dft import (
    FUNCTIONALS,
    gga_pbe,
    get_functional,
    lda_potential,
    lda_slater_pw92,
    lda_teter,
    pbe_correlation,
    pbe_exchange,
    pw92_correlation,
    slater_exchange,
)
from qdiff.errors import InputError

RS = np.array([0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0])
RHO = 3.0 / (4.0 * math.pi * RS**3)


def test_slater_exchange_exact_and_potential():
    ex = np.asarray(slater_exchange(RHO))
    np.testing.assert_allclose(ex, -0.75 * (3 / math.pi) ** (1 / 3) * RHO ** (1 / 3), rtol=1e-14)
    kf = (3 * math.pi**2 * RHO) ** (1 / 3)
    np.testing.assert_allclose(ex, -3 * kf / (4 * math.pi), rtol=1e-14)  # = −3k_F/4π
    # v_x = d(ρ ε_x)/dρ = (4/3) ε_x
    v = jax.jit(jax.vmap(jax.grad(lambda r: r * slater_exchange(r))))(jnp.asarray(RHO))
    np.testing.assert_allclose(v, 4 / 3 * ex, rtol=1e-13)


def test_pw92_high_density_limit_gell_mann_brueckner():
    # ε_c → c0 ln r_s − c1, c0 = (1 − ln 2)/π², c1 = 0.046644 (Hartree)
    c0 = (1 - math.log(2)) / math.pi**2
    for rs in (1e-4, 1e-5):
        rho = 3 / (4 * math.pi * rs**3)
        assert float(pw92_correlation(rho)) - c0 * math.log(rs) == pytest.approx(-0.046644, abs=3e-5)


def test_pw92_vs_perdew_zunger_fit_of_ceperley_alder():
    # PZ81 (PRB 23, 5048): ε_c = γ/(1 + β1 √r_s + β2 r_s) for r_s ≥ 1, γ = −0.1423, β1 = 1.0529, β2 = 0.3334
    rs = np.array([1.0, 2.0, 5.0, 10.0])
    pz = -0.1423 / (1 + 1.0529 * np.sqrt(rs) + 0.3334 * rs)
    ec = np.asarray(pw92_correlation(3 / (4 * math.pi * rs**3)))
    np.testing.assert_allclose(ec, pz, atol=5e-4)  # both fit the CA data to ~0.2 mRy


def test_teter_vs_slater_pw92():
    t = np.asarray(lda_teter(RHO))
    p = np.asarray(lda_slater_pw92(RHO))
    np.testing.assert_allclose(t, p, rtol=1.2e-3)


def test_pbe_reduces_to_lda_without_gradient():
    np.testing.assert_allclose(gga_pbe(RHO, 0.0 * RHO), lda_slater_pw92(RHO), rtol=1e-14)


def test_pbe_gradient_expansions_and_bound():
    rho = jnp.asarray(RHO[1:6])
    kf = (3 * math.pi**2 * rho) ** (1 / 3)
    ks2 = 4 * kf / math.pi
    ex = slater_exchange(rho)
    # F_x = 1 + μ s² + O(s⁴)
    s2 = 1e-6
    fx = pbe_exchange(rho, s2 * 4 * kf**2 * rho**2) / ex
    np.testing.assert_allclose((fx - 1) / s2, 0.2195149727645171, rtol=1e-5)
    # Lieb–Oxford: F_x → 1 + κ for s → ∞
    fx = pbe_exchange(rho, 1e12 * 4 * kf**2 * rho**2) / ex
    np.testing.assert_allclose(fx, 1.804, rtol=1e-9)
    # H = β t² + O(t⁴) with β = 0.06672455060314922
    t2 = 1e-7
    h = pbe_correlation(rho, t2 * 4 * ks2 * rho**2) - pw92_correlation(rho)
    np.testing.assert_allclose(h / t2, 0.06672455060314922, rtol=2e-5)


def _fd(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("name", ["lda", "lda_pw92"])
def test_lda_potential_vs_finite_differences(name):
    f = get_functional(name)
    rho = np.array([1e-4, 3e-3, 0.05, 0.4, 2.0])
    v = np.asarray(lda_potential(rho, name))
    fd = np.asarray(_fd(lambda r: f.energy_density(r), rho, 1e-4 * rho))
    np.testing.assert_allclose(v, fd, rtol=1e-7)


def test_pbe_potentials_vs_finite_differences():
    f = get_functional("pbe")
    rho = np.array([1e-4, 3e-3, 0.05, 0.4, 2.0])
    sigma = np.array([1e-9, 2e-5, 3e-3, 0.1, 5.0])
    e, vrho, vsigma = f.derivatives(rho, sigma)
    fd_r = _fd(lambda r: f.energy_density(r, sigma), rho, 1e-4 * rho)
    fd_s = _fd(lambda s: f.energy_density(rho, s), sigma, 1e-4 * sigma)
    np.testing.assert_allclose(vrho, fd_r, rtol=1e-7)
    np.testing.assert_allclose(vsigma, fd_s, rtol=1e-6)


def test_nan_free_values_and_derivatives_near_zero():
    rho = jnp.array([0.0, -1e-12, 1e-20, 1e-15, 1e-10, 0.1])
    sigma = jnp.array([0.0, 1e-10, 1e-8, 1e-3, 1e-12, 0.01])
    for name, f in FUNCTIONALS.items():
        if f.needs_gradient:
            e, vr, vs = f.derivatives(rho, sigma)
            hess = jax.jit(jax.vmap(jax.hessian(f.energy_density, argnums=(0, 1))))(rho, sigma)
            arrays = [e, vr, vs] + [h for row in hess for h in row]
        else:
            e, vr, _ = f.derivatives(rho)
            arrays = [e, vr, jax.jit(jax.vmap(jax.grad(jax.grad(f.energy_density))))(rho)]
        for a in arrays:
            assert np.all(np.isfinite(np.asarray(a))), name
        assert np.all(np.asarray(e[:3]) == 0.0) and np.all(np.asarray(vr[:3]) == 0.0), name


def test_jit_and_registry():
    f = get_functional("PBE")
    assert f.needs_gradient and not get_functional("lda").needs_gradient
    out = jax.jit(f.energy_density)(jnp.asarray(RHO), jnp.zeros_like(RHO))
    np.testing.assert_allclose(out, RHO * np.asarray(lda_slater_pw92(RHO)), rtol=1e-14)
    with pytest.raises(InputError, match="unknown"):
        get_functional("b3lyp")
    with pytest.raises(InputError, match="sigma"):
        f.energy_density(RHO)
    with pytest.raises(InputError, match="GGA"):
        lda_potential(RHO, "pbe")
