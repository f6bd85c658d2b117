"""qdiff.primitives.eigh: values vs numpy, jit/vmap, derivatives vs finite differences and analytic
matrix-function gradients on degenerate, nearly degenerate and complex spectra, native-JAX failure,
bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.errors import InputError
from qdiff.primitives import eigh
from qdiff.primitives._linalg_examples import _hermitian_with_spectrum

from ._fd import central_difference, directional, random_direction, rel, second_directional

DEGENERATE = [1.0, 1.0, 2.0, 3.0, 3.0, 3.0]
NEAR = [1.0, 1.0 + 1e-9, 2.0, 3.0 - 1e-9, 3.0, 3.0 + 2e-9]
B = jnp.asarray(np.cos(np.add.outer(1.3 * np.arange(6), 0.7 * np.arange(6))))
B = B + B.T


def _sum_sin(a, fn=eigh):
    """tr sin(πA) through the eigenvalues; exact gradient π cos(πA)^T."""
    w, _ = fn(a)
    return jnp.sum(jnp.sin(jnp.pi * w))


def _projector(a, fn=eigh):
    """tr(P B), P the projector onto the eigenspace of the three largest eigenvalues (a full cluster)."""
    _, v = fn(a)
    top = v[:, 3:]
    return jnp.real(jnp.sum((top @ top.conj().T) * B.T))


def _flat_trace(a, fn=eigh):
    """tr(c(A) B) with c(x) = x - sin(2πx)/2π (c' = c'' = 0 on the integer clusters)."""
    w, v = fn(a)
    c = w - jnp.sin(2 * jnp.pi * w) / (2 * jnp.pi)
    return jnp.real(jnp.sum(((v * c) @ v.conj().T) * B.T))


def _matrix_function(a, f):
    w, v = np.linalg.eigh(np.asarray(a))
    return (v * f(w)) @ v.conj().T


@pytest.fixture(scope="module")
def matrices():
    k = jax.random.split(jax.random.PRNGKey(7), 4)
    return {
        "degenerate real": _hermitian_with_spectrum(k[0], DEGENERATE, False),
        "degenerate complex": _hermitian_with_spectrum(k[1], DEGENERATE, True),
        "near real": _hermitian_with_spectrum(k[2], NEAR, False),
        "near complex": _hermitian_with_spectrum(k[3], NEAR, True),
    }


def test_values_match_numpy_batched_complex():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 6, 6)) + 1j * rng.standard_normal((3, 6, 6))
    a = 0.5 * (z + np.swapaxes(z.conj(), -1, -2))
    w, v = eigh(jnp.asarray(a))
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a), atol=1e-12)
    assert np.all(np.diff(np.asarray(w), axis=-1) > 0)
    np.testing.assert_allclose(a @ v, v * w[..., None, :], atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(v.conj(), -1, -2) @ v, np.broadcast_to(np.eye(6), a.shape), atol=1e-12)
    # jit and vmap agree with the batched eager call (gauge-invariant comparison: projectors).
    wj, vj = jax.jit(eigh)(jnp.asarray(a))
    wv, vv = jax.vmap(eigh)(jnp.asarray(a))
    np.testing.assert_allclose(wj, w, atol=1e-13)
    np.testing.assert_allclose(wv, w, atol=1e-13)
    proj = lambda x: x[..., :, :1] @ np.swapaxes(x[..., :, :1].conj(), -1, -2)
    np.testing.assert_allclose(proj(np.asarray(vv)), proj(np.asarray(v)), atol=1e-12)


@pytest.mark.parametrize("name", ["degenerate real", "degenerate complex", "near real", "near complex"])
def test_eigenvalue_sum_gradient_is_the_exact_matrix_function(matrices, name):
    """d tr sin(πA)/dA = π cos(πA)^T (Daleckii–Krein), exactly degenerate or not."""
    a = matrices[name]
    g = jax.jit(jax.grad(_sum_sin))(a)
    exact = np.pi * _matrix_function(a, lambda w: np.cos(np.pi * w)).T
    # JAX's gradient G pairs with a direction T as Re Σ G·T, so G = π cos(πA)^T also for complex A.
    np.testing.assert_allclose(g, exact, atol=1e-9)


@pytest.mark.parametrize("name", ["degenerate real", "near complex"])
def test_invariant_loss_gradients_match_fd(matrices, name):
    a = matrices[name]
    loss = lambda x: _projector(x) + _flat_trace(x)
    t = random_direction(1, a.shape, np.iscomplexobj(a), hermitian=True)
    g = jax.jit(jax.grad(loss))(a)
    assert np.all(np.isfinite(np.asarray(g)))
    fd = central_difference(jax.jit(loss), a, t)
    assert rel(directional(g, t), fd) < 1e-7
    # forward mode agrees with reverse mode
    _, d_fwd = jax.jit(lambda x, y: jax.jvp(loss, (x,), (y,)))(a, t)
    assert rel(float(d_fwd), directional(g, t)) < 1e-10


def test_native_jax_fails_where_ours_is_exact():
    """jnp.linalg.eigh gives NaN for a projector onto a degenerate eigenspace; ours the exact value."""
    a = jnp.diag(jnp.asarray(DEGENERATE))  # exactly degenerate eigenvalues, as LAPACK returns them
    native = jax.jit(jax.grad(lambda x: _projector(x, jnp.linalg.eigh)))(a)
    assert not np.all(np.isfinite(np.asarray(native)))
    native_sum = jax.jit(jax.grad(lambda x: _flat_trace(x, jnp.linalg.eigh)))(a)
    assert not np.all(np.isfinite(np.asarray(native_sum)))
    # Exact gradient of tr(P B) for the projector P onto span(e4, e5, e6) of diag(λ):
    # dP = sum_{i in S, j not in S} (e_j e_i^T + e_i e_j^T) dA_ji / (λ_i - λ_j), so
    # dL/dA_ji = 2 B_ij / (λ_i - λ_j) for the (i in S, j not in S) blocks (symmetric in i, j).
    lam = np.asarray(DEGENERATE)
    exact = np.zeros((6, 6))
    for i in range(3, 6):
        for j in range(3):
            exact[j, i] = exact[i, j] = float(B[i, j]) / (lam[i] - lam[j])
    ours = jax.jit(jax.grad(_projector))(a)
    # symmetrised input: the gradient of L(sym(A)) is sym of the gradient
    np.testing.assert_allclose(ours, exact, atol=1e-12)


def test_second_derivative_matches_fd_degenerate_complex(matrices):
    a = matrices["degenerate complex"]
    t = random_direction(2, a.shape, True, hermitian=True)
    loss = lambda x: _sum_sin(x) + _flat_trace(x) + _projector(x)
    ad2, fd2 = second_directional(loss, a, t)
    assert np.isfinite(ad2) and rel(ad2, fd2) < 1e-6


def test_second_derivative_exact_for_eigenvalue_sum_away_from_degeneracy():
    """d²/dt² tr exp(A + tT) = Σ_ij |T̃_ij|² exp[λi, λj, ...] — compare with FD of the exact trace."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((6, 6))
    a = jnp.asarray(z + z.T)
    t = random_direction(4, (6, 6), hermitian=True)
    loss = lambda x: jnp.sum(jnp.exp(0.3 * eigh(x)[0]))
    ad2 = float(jnp.sum(jax.jit(jax.grad(lambda x: jnp.sum(jax.grad(loss)(x) * t)))(a) * t))
    from scipy.linalg import expm
    exact_tr = lambda s: np.trace(expm(0.3 * (np.asarray(a) + s * np.asarray(t))))
    h = 1e-3
    fd2 = (-exact_tr(2 * h) + 16 * exact_tr(h) - 30 * exact_tr(0) + 16 * exact_tr(-h) - exact_tr(-2 * h)) / (12 * h * h)
    assert rel(ad2, fd2) < 1e-6


@pytest.mark.parametrize("bad, match", [
    (np.ones((3, 4)), "square"),
    (np.ones(3), "at least 2 dimensions"),
    (np.eye(3, dtype=int), "float or complex"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN or infinite"),
])
def test_bad_input_raises_before_computing(bad, match):
    with pytest.raises(InputError, match=match) as err:
        eigh(bad)
    assert "'a'" in str(err.value)


def test_bad_input_under_jit_and_bad_eps():
    with pytest.raises(InputError, match="square"):
        jax.jit(eigh)(jnp.ones((2, 3)))
    with pytest.raises(InputError, match="eps"):
        eigh(jnp.eye(2), eps=-1.0)
