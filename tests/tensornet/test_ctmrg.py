"""Symmetric CTMRG: exact classical Ising results, product states, fixed-point vs unrolled gradients.

Outside numbers: Onsager's ln Z and energy of the square-lattice Ising model (the formulas are
checked against finite differences of each other here), the exact correlation length
1/ξ = ln coth β − 2β (T > T_c), analytic product-state energies, finite differences.

The truncation that never splits a corner multiplet (``multiplet_tol``, last part) is checked against
Onsager (no multiplet at the cut: nothing may change), finite differences with the cut active (a
generic state, and one with exactly degenerate multiplets), the published D=2 C4v optimum (slow), and
the exact property that cutting at the gap below χ is the plain truncation at that smaller χ.
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.errors import InputError
from qdiff.tensornet import (compiler_options, corner_spectrum, ctm_step, ctmrg, ctmrg_info, double_layer,
                             energy_per_site, heisenberg, ising_peps_tensor, ising_weight_tensor, log_kappa,
                             optimize_ipeps, random_tensor, symmetrize, transverse_ising)
from qdiff.tensornet.observables import correlation_length

CHI = 16


def onsager_lnz(beta):
    """ln Z per site of the 2D Ising model (J = 1), Onsager's one-dimensional integral form."""
    from scipy import integrate

    k = 2.0 * math.sinh(2 * beta) / math.cosh(2 * beta) ** 2
    f = lambda p: math.log((1.0 + math.sqrt(1.0 - (k * math.sin(p)) ** 2)) / 2.0)
    return math.log(2.0 * math.cosh(2 * beta)) + integrate.quad(f, 0, math.pi / 2, epsabs=1e-14, epsrel=1e-14)[0] / math.pi


def onsager_energy(beta):
    """Energy per site −∂ ln Z/∂β (complete elliptic integral of the first kind)."""
    from scipy import special

    k = 2.0 * math.sinh(2 * beta) / math.cosh(2 * beta) ** 2
    return -(1.0 / math.tanh(2 * beta)) * (1.0 + 2.0 / math.pi * (2.0 * math.tanh(2 * beta) ** 2 - 1.0)
                                            * special.ellipk(k * k))


@pytest.mark.parametrize("beta", [0.3, 0.6])
def test_onsager_formulas_agree_with_each_other(beta):
    h = 1e-5
    fd = (onsager_lnz(beta + h) - onsager_lnz(beta - h)) / (2 * h)
    assert abs(-fd - onsager_energy(beta)) < 1e-8


@pytest.fixture(scope="module")
def ising_lnz():
    def lnz(beta):
        a = ising_weight_tensor(beta)
        env, info = ctmrg_info(a, CHI, tol=1e-11)
        return log_kappa(a, env), (env, info)

    return jax.jit(jax.value_and_grad(lnz, has_aux=True))


@pytest.mark.parametrize("beta", [0.3, 0.6])
def test_classical_ising_lnz_and_energy_by_fixed_point_gradient(ising_lnz, beta):
    """ln Z from the environment and E = −d lnZ/dβ by AD through the CTMRG fixed point vs Onsager.

    β = 0.6 is in the ordered phase; its environment has exactly degenerate corner eigenvalues.
    """
    (value, (env, info)), grad = ising_lnz(jnp.asarray(beta))
    assert bool(info.converged)
    assert abs(float(value) - onsager_lnz(beta)) < 1e-10
    assert abs(-float(grad) - onsager_energy(beta)) < 1e-8
    if beta == 0.6:
        s = np.asarray(corner_spectrum(env))
        gaps = np.abs(np.diff(s[:8])) / s[0]
        assert gaps.min() < 1e-10  # the case really has a degenerate corner spectrum


def test_environment_is_an_exact_fixed_point_of_the_step(ising_lnz):
    """The canonical gauge makes f(env, a) = env hold entrywise (needed by the implicit derivative)."""
    for beta in (0.3, 0.6):
        (_, (env, _)), _ = ising_lnz(jnp.asarray(beta))
        new = jax.jit(ctm_step)(env, ising_weight_tensor(beta))
        assert float(jnp.abs(new.C - env.C).max()) < 1e-10
        assert float(jnp.abs(new.T - env.T).max()) < 1e-9


def test_correlation_length_of_disordered_ising(ising_lnz):
    """ξ from the column transfer matrix approaches the exact 1/(ln coth β − 2β) (1.579 at β=0.3).

    The finite-χ estimate converges slowly from below (1.558 at χ=16); we ask for 2 %.
    """
    beta = 0.3
    (_, (env, _)), _ = ising_lnz(jnp.asarray(beta))
    exact = 1.0 / (math.log(1.0 / math.tanh(beta)) - 2 * beta)
    xi = correlation_length(ising_weight_tensor(beta), env)
    assert abs(xi - exact) / exact < 0.02


def _product_tensor(theta, D=1):
    A = jnp.zeros((2, D, D, D, D))
    return A.at[0, 0, 0, 0, 0].set(jnp.cos(theta)).at[1, 0, 0, 0, 0].set(jnp.sin(theta))


def test_product_state_energy_and_gradient_tfim():
    """D=1 product state cosθ|↑⟩+sinθ|↓⟩: e = −2 cos²2θ − h sin2θ (per site), de/dθ analytic."""
    h = 1.3
    model = transverse_ising(h)

    def energy(theta):
        A = _product_tensor(theta)
        env = ctmrg(double_layer(A), 2, tol=1e-12)
        return energy_per_site(A, env, model)

    value_and_grad = jax.jit(jax.value_and_grad(energy))
    for theta in (0.2, 0.7):
        exact = -2.0 * math.cos(2 * theta) ** 2 - h * math.sin(2 * theta)
        d_exact = 8.0 * math.cos(2 * theta) * math.sin(2 * theta) - 2.0 * h * math.cos(2 * theta)
        e, g = value_and_grad(jnp.asarray(theta))
        assert abs(float(e) - exact) < 1e-12
        assert abs(float(g) - d_exact) < 1e-9


def test_ctmrg_eagerly_nested_and_under_the_callers_compiler_options():
    """ctmrg never sets XLA options itself (JAX refuses them on a nested jit, so a leak fails here, even
    with a constant input); the caller's outermost jit may pass qdiff.tensornet.compiler_options().

    Product state at θ = 0.2: e = −2 cos²2θ − h sin2θ exactly.
    """
    h, theta = 1.3, 0.2
    model = transverse_ising(h)
    A = _product_tensor(theta)
    exact = -2.0 * math.cos(2 * theta) ** 2 - h * math.sin(2 * theta)
    energy = lambda A: energy_per_site(A, ctmrg(double_layer(A), 2, tol=1e-12), model)  # noqa: E731
    eager = energy(A)
    inside = jax.jit(lambda: energy(A))()
    outermost = jax.jit(energy, compiler_options=compiler_options())(A)
    for value in (eager, inside, outermost):
        assert abs(float(value) - exact) < 1e-12


@pytest.fixture(scope="module")
def d2_state():
    A = random_tensor(jax.random.PRNGKey(7), 2, 2) + 0.5 * ising_peps_tensor(0.2)
    return symmetrize(A) / jnp.linalg.norm(symmetrize(A))


def _heisenberg_energy(A, **options):
    As = symmetrize(A)
    env = ctmrg(double_layer(As), CHI, **options)
    return energy_per_site(As, env, heisenberg())


@pytest.fixture(scope="module")
def fixed_point_grad():
    return jax.jit(jax.value_and_grad(lambda A: _heisenberg_energy(A, tol=1e-12, max_iter=300)))


@pytest.fixture(scope="module")
def fd_energy():
    """The energy alone (one compilation shared by the finite-difference tests)."""
    return jax.jit(lambda A: _heisenberg_energy(A, tol=1e-12, max_iter=300))


def test_fixed_point_gradient_equals_unrolled_gradient(d2_state, fixed_point_grad):
    e_fp, g_fp = fixed_point_grad(d2_state)
    unrolled = jax.jit(jax.value_and_grad(lambda A: _heisenberg_energy(A, gradient="unrolled", steps=60)))
    e_un, g_un = unrolled(d2_state)
    assert abs(float(e_fp - e_un)) < 1e-11
    assert float(jnp.abs(g_fp - g_un).max()) < 1e-8 * float(jnp.abs(g_un).max())


def _fd4(f, x, t, h):
    return (8 * (f(x + h * t) - f(x - h * t)) - (f(x + 2 * h * t) - f(x - 2 * h * t))) / (12 * h)


def test_gradient_matches_finite_differences(d2_state, fixed_point_grad, fd_energy):
    t = symmetrize(jax.random.normal(jax.random.PRNGKey(3), d2_state.shape))
    t = t / jnp.linalg.norm(t)
    fd = float(_fd4(fd_energy, d2_state, t, 1e-3))
    _, g = fixed_point_grad(d2_state)
    assert abs(float(jnp.sum(g * t)) - fd) < 1e-7 * max(1.0, abs(fd))


def test_degenerate_corner_spectrum_gradient_is_finite_and_correct(fixed_point_grad, fd_energy):
    """Ising PEPS at β=0.6 (ordered norm): exactly degenerate corner pairs; Z2-symmetric tangent."""
    A = ising_peps_tensor(0.6)
    env = ctmrg(double_layer(A), CHI, tol=1e-12, max_iter=300)
    s = np.asarray(corner_spectrum(env))
    assert (np.abs(np.diff(s)) / s[0]).min() < 1e-13  # an exactly degenerate pair (and near-degenerate ones)
    t = symmetrize(jax.random.normal(jax.random.PRNGKey(5), A.shape))
    t = 0.5 * (t + jnp.flip(t))  # keep the Z2 symmetry (and the degeneracy) along the tangent
    t = t / jnp.linalg.norm(t)
    _, g = fixed_point_grad(A)
    assert bool(jnp.all(jnp.isfinite(g)))
    fd = float(_fd4(fd_energy, A, t, 1e-3))
    assert abs(float(jnp.sum(g * t)) - fd) < 1e-7 * max(1.0, abs(fd))


def test_gmres_adjoint_gradient_matches_finite_differences(d2_state, fd_energy):
    """``adjoint_method="gmres"``: the AD gradient against 4th-order central differences of the energy,
    along a generic C4v tangent and along the gradient."""
    grad = jax.jit(jax.grad(
        lambda A: _heisenberg_energy(A, tol=1e-12, max_iter=300, adjoint_method="gmres", adjoint_tol=1e-12)))
    g = grad(d2_state)
    t = symmetrize(jax.random.normal(jax.random.PRNGKey(3), d2_state.shape))
    for tangent in (t, g):
        tangent = tangent / jnp.linalg.norm(tangent)
        fd = float(_fd4(fd_energy, d2_state, tangent, 1e-3))
        assert abs(float(jnp.sum(g * tangent)) - fd) < 1e-7 * max(1.0, abs(fd))


@pytest.mark.parametrize("kwargs, match", [
    ({"chi": 0}, "chi"),
    ({"chi": 4, "adjoint_method": "cg"}, "adjoint_method"),
    ({"chi": 4, "adjoint_method": None}, "adjoint_method"),
    ({"chi": 4, "gradient": "magic"}, "gradient"),
    ({"chi": 4, "tol": -1.0}, "tol"),
    ({"chi": 4, "max_iter": 0}, "max_iter"),
])
def test_bad_options_raise_input_error(kwargs, match):
    a = ising_weight_tensor(0.3)
    chi = kwargs.pop("chi")
    with pytest.raises(InputError, match=match):
        ctmrg(a, chi, **kwargs)


def test_bad_tensor_raises_input_error():
    with pytest.raises(InputError, match="rank-4"):
        ctmrg(jnp.ones((2, 2, 2)), 4)
    with pytest.raises(InputError, match="rank-4"):
        ctmrg(jnp.ones((2, 2, 3, 2)), 4)


# --- truncation that never splits a corner multiplet ---
# (off by default; its correctness tests each compile their own CTMRG program, ~5-10 s CPU, so slow)

PUBLISHED_D2 = -0.6602310935  # C4v D=2 optimum (issue 4)


def _multiplet_energy(A, chi, **options):
    """Energy per site, and the number of corner values kept (non-zero diagonal of ``C``)."""
    As = symmetrize(A)
    env = ctmrg(double_layer(As), chi, tol=1e-12, max_iter=400, **options)
    return energy_per_site(As, env, heisenberg()), jnp.sum(jnp.diag(env.C) != 0)


@pytest.mark.slow
def test_no_multiplet_at_the_cut_changes_nothing():
    """Classical Ising β=0.3, χ=10: the corner values 10/11 are far apart, so ln Z and E = −∂lnZ/∂β
    by AD equal Onsager's as with the plain truncation."""
    def lnz(beta):
        a = ising_weight_tensor(beta)
        env, info = ctmrg_info(a, 10, tol=1e-11, multiplet_tol=1e-2)
        return log_kappa(a, env), (jnp.sum(jnp.diag(env.C) != 0), info)

    (value, (kept, info)), grad = jax.jit(jax.value_and_grad(lnz, has_aux=True))(jnp.asarray(0.3))
    assert bool(info.converged) and int(kept) == 10
    assert abs(float(value) - onsager_lnz(0.3)) < 1e-10
    assert abs(-float(grad) - onsager_energy(0.3)) < 1e-8


def _check_multiplet_cut(A, chi, multiplet_tol, kept, tangent, h, plain=False):
    """The cut keeps ``kept < chi`` values; the gradient is finite and matches central differences
    along ``tangent`` (4th order; 2nd order, error h²/6 times the third derivative, when ``h < 1e-3``);
    with ``plain``, the energy equals the plain truncation at ``kept``."""
    value_and_grad = jax.jit(jax.value_and_grad(partial(_multiplet_energy, chi=chi, multiplet_tol=multiplet_tol),
                                                has_aux=True))
    (e, n), g = value_and_grad(A)
    assert int(n) == kept
    assert bool(jnp.all(jnp.isfinite(g)))
    t = tangent / jnp.linalg.norm(tangent)
    energy = lambda A: value_and_grad(A)[0][0]  # noqa: E731
    fd = float(_fd4(energy, A, t, h) if h >= 1e-3 else (energy(A + h * t) - energy(A - h * t)) / (2 * h))
    assert abs(float(jnp.sum(g * t)) - fd) < 1e-7 * max(1.0, abs(fd))
    if plain:
        assert abs(float(e - jax.jit(partial(_multiplet_energy, chi=kept))(A)[0])) < 1e-11


@pytest.mark.slow
def test_multiplet_cut_on_exactly_degenerate_spectrum():
    """Z2-symmetric Ising PEPS (β=0.6): at χ=12 the corner values 11–13 lie within 2.1 % and 10/11
    differ ×8, so ``multiplet_tol=3e-2`` keeps 10 (and equals plain χ=10); the tangent keeps the Z2
    symmetry (and the degeneracies of the corner spectrum)."""
    A = ising_peps_tensor(0.6)
    t = symmetrize(jax.random.normal(jax.random.PRNGKey(5), A.shape))
    _check_multiplet_cut(A, 12, 3e-2, 10, 0.5 * (t + jnp.flip(t)), 1e-3, plain=True)


@pytest.mark.slow
def test_multiplet_cut_on_generic_state():
    """Generic C4v D=2 state: at χ=10 its corner values 10/11 lie within 4 % and 9/10 differ by 34 %,
    so ``multiplet_tol=5e-2`` keeps 9; a generic tangent."""
    A = random_tensor(jax.random.PRNGKey(7), 2, 2) + 0.5 * ising_peps_tensor(0.2)
    A = symmetrize(A) / jnp.linalg.norm(symmetrize(A))
    _check_multiplet_cut(A, 10, 5e-2, 9, symmetrize(jax.random.normal(jax.random.PRNGKey(3), A.shape)), 1e-4)


@pytest.mark.parametrize("value", [0.0, 1.0, -1e-3])
def test_bad_multiplet_tol_raises_input_error(value):
    with pytest.raises(InputError, match="multiplet_tol"):
        ctmrg(ising_weight_tensor(0.3), 4, multiplet_tol=value)


@pytest.mark.slow
def test_d2_random_start_reaches_published_optimum_with_multiplet_truncation():
    r = optimize_ipeps("heisenberg", 2, 16, key=0, steps=120, ctm_multiplet_tol=1e-2)
    assert abs(r.energy - PUBLISHED_D2) < 1e-6
