"""Kerker and simple mixing on the Thomas–Fermi model of a metal's SCF (exact analytic rates)."""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.dft import KerkerMixing, SimpleMixing, precondition, precondition_fourier
from qdiff.errors import InputError

NGRID = 10


def _g2(length, n=NGRID):
    g = 2 * np.pi * np.fft.fftfreq(n, d=length / n)
    gx, gy, gz = np.meshgrid(g, g, g, indexing="ij")
    return gx**2 + gy**2 + gz**2


def _tf_residual(e, g2, ktf):
    """Linearised SCF residual of the Thomas–Fermi model: R̂(G) = −(1 + k_TF²/G²)·ê(G), written in numpy."""
    eps = np.where(g2 > 0, 1 + ktf**2 / np.where(g2 > 0, g2, 1.0), 1.0)
    return np.real(np.fft.ifftn(-eps * np.fft.fftn(e)))


def _error(seed):
    e = np.random.default_rng(seed).normal(size=(NGRID,) * 3)
    return e - e.mean()  # charge-conserving error


def test_kerker_factor_closed_form():
    g2 = _g2(12.0)
    r_hat = np.fft.fftn(_error(0))
    out = precondition_fourier(KerkerMixing(0.7, 0.9), r_hat, g2)
    expected = 0.7 * g2 / (g2 + 0.81) * r_hat
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)
    assert out[0, 0, 0] == 0
    np.testing.assert_allclose(precondition_fourier(SimpleMixing(0.3), r_hat, g2), 0.3 * r_hat, rtol=1e-15)


@pytest.mark.parametrize("length", [10.0, 80.0])
def test_kerker_contracts_every_mode_by_one_minus_alpha(length):
    """Kerker's P̂ = α/ε(G) exactly: e ← e + P R gives e·(1 − α) for every G, any cell size."""
    alpha, ktf = 0.8, 0.8
    g2 = _g2(length)
    e0 = _error(1)
    e1 = e0 + np.asarray(precondition(KerkerMixing(alpha, ktf), _tf_residual(e0, g2, ktf), g2))
    np.testing.assert_allclose(e1, (1 - alpha) * e0, atol=1e-13 * np.abs(e0).max())


def test_simple_mixing_sloshes_in_a_large_cell():
    """The longest wavelength mode is multiplied by 1 − α(1 + k_TF² L²/4π²): |·| > 1, divergence."""
    alpha, ktf, length = 0.8, 0.8, 40.0
    g2 = _g2(length)
    x = np.arange(NGRID) * length / NGRID
    mode = np.cos(2 * np.pi * x / length)[:, None, None] * np.ones((1, NGRID, NGRID))
    out = mode + np.asarray(precondition(SimpleMixing(alpha), _tf_residual(mode, g2, ktf), g2))
    factor = 1 - alpha * (1 + ktf**2 * length**2 / (4 * np.pi**2))
    np.testing.assert_allclose(out, factor * mode, atol=1e-12)
    assert abs(factor) > 1


def _iterations(mixing, length, ktf_true, tol=1e-10, maxiter=5000):
    g2 = jnp.asarray(_g2(length))
    eps = jnp.where(g2 > 0, 1 + ktf_true**2 / jnp.where(g2 > 0, g2, 1.0), 1.0)

    def residual(e):
        return jnp.real(jnp.fft.ifftn(-eps * jnp.fft.fftn(e)))

    def cond(s):
        e, k = s
        return (jnp.linalg.norm(e) > tol * norm0) & (k < maxiter)

    def body(s):
        e, k = s
        return e + precondition(mixing, residual(e), g2), k + 1

    e0 = jnp.asarray(_error(2))
    norm0 = jnp.linalg.norm(e0)
    _, k = jax.jit(lambda e: jax.lax.while_loop(cond, body, (e, 0)))(e0)
    return int(k)


def test_kerker_iterations_do_not_grow_with_the_cell():
    """Screening k_TF = 1.0 in the 'metal', 0.8 in the preconditioner: P ε ∈ [α, α·1.0²/0.8²],
    a G- and L-independent bound, so the iteration count stays put while simple mixing
    (with its best stable α = 2/(ε_max + ε_min)) needs ∝ L² iterations."""
    kerker = [_iterations(KerkerMixing(0.8, 0.8), L, 1.0) for L in (10.0, 40.0, 160.0)]
    bound = int(np.ceil(np.log(1e-10) / np.log(abs(1 - 0.8 * 1.0 / 0.64)))) + 1
    assert max(kerker) <= bound and max(kerker) - min(kerker) <= 2

    def best_simple(length):
        g2 = _g2(length)
        eps = 1 + 1.0 / g2[g2 > 0]
        return SimpleMixing(2 / (eps.max() + eps.min()))

    simple = []
    for length in (10.0, 40.0):
        mixing = best_simple(length)
        simple.append(_iterations(mixing, length, 1.0))
        g2 = _g2(length)
        eps = 1 + 1.0 / g2[g2 > 0]
        kappa = eps.max() / eps.min()  # Richardson rate (κ − 1)/(κ + 1) of the slowest mode
        predicted = np.log(1e-10) / np.log((kappa - 1) / (kappa + 1))
        assert abs(simple[-1] - predicted) < 0.15 * predicted
    assert simple[1] > 5 * simple[0]
    assert simple[0] > max(kerker)


def test_charge_neutrality_and_real_output():
    g2 = _g2(15.0)
    r = _error(3) + 0.25  # residual with a net charge
    k = np.asarray(precondition(KerkerMixing(), r, g2))
    assert k.dtype == np.float64
    assert abs(k.mean()) < 1e-15
    s = np.asarray(precondition(SimpleMixing(0.5), r, g2))
    np.testing.assert_allclose(s, 0.5 * r, atol=1e-14)


def test_flat_preconditioner_and_custom_fft():
    g2 = _g2(20.0)
    r = _error(4)
    mix = KerkerMixing(0.6, 1.1)
    ref = np.asarray(precondition(mix, r, g2))
    flat = mix.preconditioner(g2)(jnp.asarray(r.ravel()))
    np.testing.assert_allclose(np.asarray(flat).reshape(r.shape), ref, atol=1e-14)
    ortho = (lambda x: jnp.fft.fftn(x, norm="ortho"), lambda x: jnp.fft.ifftn(x, norm="ortho"))
    np.testing.assert_allclose(precondition(mix, r, g2, fft=ortho), ref, atol=1e-14)


@pytest.mark.skipif(importlib.util.find_spec("qdiff.primitives.anderson") is None,
                    reason="qdiff.primitives.anderson (branch solvers) not merged yet")
def test_anderson_with_kerker_precondition():
    from qdiff.primitives.anderson import anderson_init, anderson_step

    length, ktf_true = 40.0, 1.0
    g2 = _g2(length)
    eps = np.where(g2 > 0, 1 + ktf_true**2 / np.where(g2 > 0, g2, 1.0), 1.0)
    rho_star = _error(5)

    mix = KerkerMixing(0.8, 0.8)
    precond = mix.preconditioner(g2)
    eps_j, rho_star_j = jnp.asarray(eps), jnp.asarray(rho_star)

    @jax.jit
    def step(rho, state):  # linear Thomas–Fermi response around rho_star: g(ρ) = ρ + R(ρ)
        r = jnp.real(jnp.fft.ifftn(-eps_j * jnp.fft.fftn(rho.reshape(g2.shape) - rho_star_j))).ravel()
        rho_next, state = anderson_step(state, rho, rho + r, beta=1.0, precond=precond)
        return rho_next, state, jnp.linalg.norm(r)

    rho = jnp.zeros(g2.size)
    state = anderson_init(rho, 6)
    for it in range(1, 40):
        rho, state, res = step(rho, state)
        if float(res) < 1e-10:
            break
    assert float(res) < 1e-10
    np.testing.assert_allclose(np.asarray(rho).reshape(g2.shape), rho_star, atol=1e-9)
    assert it < _iterations(mix, length, ktf_true)


def test_bad_input():
    with pytest.raises(InputError, match="alpha"):
        KerkerMixing(alpha=0.0)
    with pytest.raises(InputError, match="alpha"):
        SimpleMixing(2.5)
    with pytest.raises(InputError, match="kTF"):
        KerkerMixing(0.8, -1.0)
    g2 = _g2(10.0)
    with pytest.raises(InputError, match="g2 grid shape"):
        precondition(KerkerMixing(), np.zeros((4, 4, 4)), g2)
    with pytest.raises(InputError, match="mixing must be"):
        precondition("kerker", np.zeros(g2.shape), g2)
    with pytest.raises(InputError, match="flat grid"):
        KerkerMixing().preconditioner(g2)(jnp.zeros(7))
