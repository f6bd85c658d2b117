"""Smearing functions, Fermi level and occupations against closed forms, quadrature and root finders."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize, special

from qdiff.dft import Occupations, Smearing, fermi_level, occupations
from qdiff.errors import InputError

KINDS = ["fermi-dirac", "gaussian", "methfessel-paxton", "marzari-vanderbilt"]


def _bands(seed=0, nk=6, nb=10):
    rng = np.random.default_rng(seed)
    eps = np.sort(rng.uniform(-0.5, 1.0, size=(nk, nb)), axis=1)
    w = rng.uniform(0.5, 1.5, size=nk)
    return eps, w / w.sum()


# Published smearing deltas δ̃(x) = −f'(x), x = (ε − μ)/T, written independently of the library:
def _delta_reference(kind, x):
    if kind == "fermi-dirac":
        return math.exp(-abs(x)) / (1 + math.exp(-abs(x))) ** 2
    if kind == "gaussian":
        return math.exp(-x * x) / math.sqrt(math.pi)
    if kind == "methfessel-paxton":  # order 1: A1 = −1/(4√π), H2(x) = 4x² − 2
        return math.exp(-x * x) / math.sqrt(math.pi) - 0.25 / math.sqrt(math.pi) * (4 * x * x - 2) * math.exp(-x * x)
    u = -x  # Marzari–Vanderbilt, PRL 82, 3296: δ̃(u) = e^{−(u−1/√2)²}(2 − √2 u)/√π with u = (μ − ε)/T
    return math.exp(-(u - 1 / math.sqrt(2)) ** 2) * (2 - math.sqrt(2) * u) / math.sqrt(math.pi)


@pytest.mark.parametrize("kind", KINDS)
def test_occupation_is_integral_of_published_delta(kind):
    sm = Smearing(kind, 0.1)
    xs = np.array([-3.0, -1.2, -0.4, 0.0, 0.3, 0.9, 2.5])
    f = np.asarray(sm.occupation(jnp.asarray(xs)))
    d = np.asarray(sm.delta(jnp.asarray(xs)))
    for x, fx, dx in zip(xs, f, d):
        ref = integrate.quad(lambda t: _delta_reference(kind, t), x, np.inf, epsabs=1e-14, epsrel=1e-13)[0]
        assert fx == pytest.approx(ref, abs=1e-12)
        assert dx == pytest.approx(_delta_reference(kind, x), abs=1e-14)
    # normalisation of the delta and the limits f(−∞) = 1, f(+∞) = 0
    total = integrate.quad(lambda t: _delta_reference(kind, t), -np.inf, np.inf)[0]
    assert total == pytest.approx(1.0, abs=1e-12)
    assert float(sm.occupation(-40.0)) == pytest.approx(1.0, abs=1e-15)
    assert float(sm.occupation(40.0)) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_entropy_is_minus_integral_of_x_delta(kind):
    """s(x) = ∫_{−∞}^x t f'(t) dt = −∫_{−∞}^x t δ̃(t) dt (what makes E − TS variational)."""
    sm = Smearing(kind, 0.1)
    xs = np.array([-2.5, -0.7, 0.0, 0.4, 1.1, 3.0])
    s = np.asarray(sm.entropy(jnp.asarray(xs)))
    for x, sx in zip(xs, s):
        ref = -integrate.quad(lambda t: t * _delta_reference(kind, t), -np.inf, x, epsabs=1e-14, epsrel=1e-13)[0]
        assert sx == pytest.approx(ref, abs=1e-12)


def test_closed_forms():
    x = np.linspace(-4, 4, 33)
    g = Smearing("gaussian", 0.01)
    np.testing.assert_allclose(g.occupation(x), special.erfc(x) / 2, atol=1e-15)
    np.testing.assert_allclose(g.entropy(x), np.exp(-x**2) / (2 * np.sqrt(np.pi)), atol=1e-15)
    fd = Smearing("fermi-dirac", 0.01)
    f = 1 / (1 + np.exp(x))
    np.testing.assert_allclose(fd.occupation(x), f, atol=1e-15)
    np.testing.assert_allclose(fd.entropy(x), -(f * np.log(f) + (1 - f) * np.log(1 - f)), atol=1e-14)
    y = x + 1 / np.sqrt(2)
    mv = Smearing("mv", 0.01)
    np.testing.assert_allclose(mv.occupation(x), special.erfc(y) / 2 + np.exp(-y**2) / np.sqrt(2 * np.pi),
                               atol=1e-15)
    # MV occupations never go negative (the point of cold smearing); MP1 goes below 0 and above 1
    xx = np.linspace(-6, 6, 2001)
    assert np.min(mv.occupation(xx)) > -1e-16
    mp = Smearing("mp", 0.01)
    assert np.min(mp.occupation(xx)) < 0 and np.max(mp.occupation(xx)) > 1


@pytest.mark.parametrize("kind", KINDS)
def test_free_energy_is_stationary_in_the_occupations(kind):
    """d/dx [(ε − μ)·f(x) − T·s(x)] = 0 at x = (ε − μ)/T, by finite differences (s' = x f')."""
    sm = Smearing(kind, 0.03)
    h = 1e-5
    for x in (-1.7, -0.3, 0.2, 1.4):
        e_minus_mu = x * sm.temperature

        def phi(y):
            return e_minus_mu * float(sm.occupation(y)) - sm.temperature * float(sm.entropy(y))

        dphi = (phi(x + h) - phi(x - h)) / (2 * h)
        df = (float(sm.occupation(x + h)) - float(sm.occupation(x - h))) / (2 * h)
        assert abs(dphi) < 1e-9 * max(1.0, abs(df)), (x, dphi)


def test_fermi_entropy_is_stable_far_from_the_fermi_level():
    fd = Smearing("fermi-dirac", 0.01)
    x = jnp.array([-1e4, -800.0, 800.0, 1e4])
    assert np.all(np.isfinite(fd.entropy(x))) and np.all(np.asarray(fd.entropy(x)) >= 0)
    assert np.all(np.isfinite(fd.delta(x)))
    assert np.all(np.isfinite(jax.vmap(jax.grad(fd.entropy))(x)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_electrons", [3, 7.5, 12])
def test_charge_is_conserved(kind, n_electrons):
    eps, w = _bands()
    occ = occupations(eps, w, n_electrons, Smearing(kind, 0.02))
    assert isinstance(occ, Occupations)
    assert float(jnp.sum(w[:, None] * occ.occupation)) == pytest.approx(n_electrons, abs=1e-12)


def test_fermi_dirac_level_matches_brentq():
    eps, w = _bands(1)
    T, N = 0.015, 9.0

    def excess(mu):  # numpy Fermi–Dirac written out, root by scipy
        return 2 * np.sum(w[:, None] * special.expit(-(eps - mu) / T)) - N

    mu_ref = optimize.brentq(excess, eps.min() - 1, eps.max() + 1, xtol=1e-15, rtol=1e-15)
    mu = float(fermi_level(eps, w, N, Smearing("fermi-dirac", T)))
    assert mu == pytest.approx(mu_ref, abs=1e-13)


@pytest.mark.parametrize("kind", ["methfessel-paxton", "marzari-vanderbilt"])
def test_non_monotone_smearing_root_next_to_gaussian(kind):
    eps, w = _bands(2)
    T, N = 0.02, 11.0
    sm = Smearing(kind, T)
    mu = float(fermi_level(eps, w, N, sm))
    mu_g = float(fermi_level(eps, w, N, Smearing("gaussian", T)))

    def excess(m):
        return 2 * np.sum(w[:, None] * np.asarray(sm.occupation((eps - m) / T))) - N

    assert abs(excess(mu)) < 1e-12
    assert abs(mu - mu_g) < 3 * T


def test_zero_temperature_limit_is_the_step_function():
    rng = np.random.default_rng(3)
    nk, nb, nocc = 6, 10, 4  # gapped: occupied bands in [-1, 0], empty in [0.3, 1]
    occ_e = np.sort(rng.uniform(-1, 0, (nk, nocc)), axis=1)
    emp_e = np.sort(rng.uniform(0.3, 1.0, (nk, nb - nocc)), axis=1)
    eps = np.concatenate([occ_e, emp_e], axis=1)
    w = np.full(nk, 1 / nk)
    step = occupations(eps, w, 2 * nocc, Smearing())
    expected = np.where(np.arange(nb) < nocc, 2.0, 0.0) * np.ones((nk, 1))
    np.testing.assert_array_equal(step.occupation, expected)
    assert float(step.fermi_level) == pytest.approx((occ_e[:, -1].max() + emp_e[:, 0].min()) / 2, abs=1e-15)
    assert float(step.entropy) == 0.0
    for kind in KINDS:
        small = occupations(eps, w, 2 * nocc, Smearing(kind, 1e-3))
        np.testing.assert_allclose(small.occupation, expected, atol=1e-12)
        assert occ_e[:, -1].max() < float(small.fermi_level) < emp_e[:, 0].min()
        assert abs(float(small.entropy)) < 1e-12


def test_entropy_term_sign_and_value():
    """−T·S for a single half-filled level at μ: FD gives −T·g·ln 2 per state."""
    eps = np.tile(np.linspace(0.0, 9.0, 10), (6, 1))  # level at 0 holds 1 of its 2 electrons
    w = np.full(6, 1 / 6)
    occ = occupations(eps, w, 1.0, Smearing("fermi-dirac", 0.01))
    assert float(occ.fermi_level) == pytest.approx(0.0, abs=1e-3)
    x = (eps - float(occ.fermi_level)) / 0.01
    f = special.expit(-x)
    s = -(special.xlogy(f, f) + special.xlogy(1 - f, 1 - f))
    assert float(occ.entropy) == pytest.approx(-0.01 * 2 * np.sum(w[:, None] * s), abs=1e-14)
    assert float(occ.entropy) == pytest.approx(-0.01 * 2 * np.log(2), rel=1e-6)  # other levels: e^-100


def test_fermi_level_derivative_matches_finite_differences():
    eps, w = _bands(4)
    rng = np.random.default_rng(5)
    de = rng.normal(size=eps.shape)
    dw = rng.normal(size=w.shape)
    dw -= dw.mean()
    for kind in ("fermi-dirac", "methfessel-paxton"):
        sm = Smearing(kind, 0.05)

        def mu(e, ww):
            return fermi_level(e, ww, 8.0, sm)

        _, tangent = jax.jvp(mu, (jnp.asarray(eps), jnp.asarray(w)), (jnp.asarray(de), jnp.asarray(dw)))
        h = 1e-5
        fd = (float(mu(eps + h * de, w + h * dw)) - float(mu(eps - h * de, w - h * dw))) / (2 * h)
        assert float(tangent) == pytest.approx(fd, rel=1e-6, abs=1e-9)
        ge, gw = jax.grad(mu, argnums=(0, 1))(jnp.asarray(eps), jnp.asarray(w))
        assert float(jnp.sum(ge * de) + jnp.sum(gw * dw)) == pytest.approx(float(tangent), rel=1e-10, abs=1e-13)


def test_works_under_jit():
    eps, w = _bands(6)
    sm = Smearing("fermi-dirac", 0.02)
    f = jax.jit(lambda e, ww: occupations(e, ww, 7.0, sm))
    a, b = f(eps, w), occupations(eps, w, 7.0, sm)
    assert float(a.fermi_level) == pytest.approx(float(b.fermi_level), abs=1e-14)
    np.testing.assert_allclose(a.occupation, b.occupation, atol=1e-14)


def test_bad_input():
    with pytest.raises(InputError, match="unknown smearing kind"):
        Smearing("lorentzian", 0.1)
    with pytest.raises(InputError, match=">= 0"):
        Smearing("fermi-dirac", -0.1)
    with pytest.raises(InputError, match="temperature > 0"):
        Smearing("gaussian", 0.0)
    with pytest.raises(InputError, match="temperature 0"):
        Smearing("none", 0.01)
    assert Smearing("mp", 0.01).kind == "methfessel-paxton"
    eps, w = _bands()
    with pytest.raises(InputError, match="odd electron count"):
        occupations(eps, w, 7, Smearing())
    with pytest.raises(InputError, match="more bands"):
        occupations(eps, w, 20, Smearing("fd", 0.01))
    with pytest.raises(InputError, match="sum to 1"):
        fermi_level(eps, 2 * w, 4, Smearing("fd", 0.01))
    with pytest.raises(InputError, match="kweights must have shape"):
        fermi_level(eps, w[:-1], 4, Smearing("fd", 0.01))
    with pytest.raises(InputError, match="n_electrons"):
        fermi_level(eps, w, -2, Smearing("fd", 0.01))
    with pytest.raises(InputError, match="filled bands needed"):
        fermi_level(eps, w, 22, Smearing())
