"""Anderson acceleration: the GMRES-equivalence property, preconditioning, nonlinear speed-up, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import qdiff  # noqa: F401  (float64)
from qdiff.errors import InputError
from qdiff.primitives import anderson_init, anderson_step


def _run(g, x0, steps, m):
    """Residual norms ‖g(x_k) − x_k‖, k = 0..steps, of Anderson updates, and the last iterate (one jit)."""

    @jax.jit
    def run(x0):
        def body(carry, _):
            x, state = carry
            gx = g(x)
            x_next, state = anderson_step(state, x, gx)
            return (x_next, state), jnp.linalg.norm(gx - x)

        (x, _), res = jax.lax.scan(body, (x0, anderson_init(x0, m)), None, length=steps)
        return jnp.append(res, jnp.linalg.norm(g(x) - x)), x

    res, x = run(x0)
    return np.asarray(res), x


def _contraction(seed, n, dtype=np.float64, radius=0.9):
    """Random ``M`` with spectral radius ``radius`` and random ``c`` (numpy: no compilation)."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    c = rng.standard_normal(n)
    if np.dtype(dtype).kind == "c":
        M = M + 1j * rng.standard_normal((n, n))
        c = c + 1j * rng.standard_normal(n)
    M = radius * M / np.max(np.abs(np.linalg.eigvals(M)))
    return jnp.asarray(M), jnp.asarray(c)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_linear_map_converges_in_n_plus_one_steps(dtype):
    # Anderson(m >= n, beta=1) on x = Mx + c is GMRES on (I - M)x = c: exact after n Krylov steps,
    # so g(x_{n+1}) = x_{n+1} to machine precision.
    n = 8
    M, c = _contraction(3, n, dtype)
    exact = np.linalg.solve(np.eye(n) - np.asarray(M), np.asarray(c))
    res, x = _run(lambda x: M @ x + c, jnp.zeros(n, dtype), n + 1, m=n)
    assert res[-1] < 1e-12 * res[0]
    np.testing.assert_allclose(x, exact, rtol=1e-10, atol=1e-12)
    # Plain iteration at spectral radius 0.9 is nowhere near after n + 1 steps.
    y = np.zeros(n, dtype)
    for _ in range(n + 1):
        y = np.asarray(M) @ y + np.asarray(c)
    assert np.linalg.norm(np.asarray(M) @ y + np.asarray(c) - y) > 1e-3 * res[0]


def test_short_history_still_converges_on_linear_map():
    n = 12
    M, c = _contraction(5, n, radius=0.95)
    res, x = _run(lambda x: M @ x + c, jnp.zeros(n), 150, m=3)
    exact = np.linalg.solve(np.eye(n) - np.asarray(M), np.asarray(c))
    np.testing.assert_allclose(x, exact, rtol=1e-8, atol=1e-10)


def test_beats_plain_iteration_on_nonlinear_contraction():
    n = 10
    M, c = _contraction(7, n, radius=0.95)

    def g(x):
        return jnp.tanh(M @ x + c)

    res, x = _run(g, jnp.zeros(n), 25, m=5)
    anderson_steps = int(np.argmax(res < 1e-10))
    assert res[anderson_steps] < 1e-10 and anderson_steps <= 25

    def plain(carry):
        y, k = carry
        return g(y), k + 1

    y, plain_steps = jax.jit(lambda y: jax.lax.while_loop(
        lambda c: jnp.linalg.norm(g(c[0]) - c[0]) >= 1e-10, plain, (y, 0)))(jnp.zeros(n))
    assert int(plain_steps) > 2 * anderson_steps
    np.testing.assert_allclose(x, y, atol=1e-9)


def test_preconditioner_equal_to_inverse_jacobian_gives_newton_step():
    # g(x) = x + (c - A x): residual r = c - A x.  With P = A^{-1} the first step is the Newton step
    # x1 = x0 + A^{-1}(c - A x0) = A^{-1} c, exact whatever the conditioning of A.
    n = 6
    A = jnp.diag(jnp.logspace(0, 4, n))
    c = jnp.arange(1.0, n + 1)
    state = anderson_init(jnp.zeros(n), 4)
    step = jax.jit(lambda s, x, gx: anderson_step(s, x, gx, precond=lambda r: r / jnp.diag(A)))
    x1, _ = step(state, jnp.zeros(n), jnp.zeros(n) + c)
    np.testing.assert_allclose(x1, np.asarray(c) / np.asarray(jnp.diag(A)), rtol=1e-14)


def test_damping_first_step_is_linear_mixing():
    x0 = jnp.array([1.0, 2.0, 3.0])
    gx = jnp.array([2.0, 0.0, 3.0])
    x1, state = jax.jit(lambda s, x, gx: anderson_step(s, x, gx, beta=0.3))(anderson_init(x0, 3), x0, gx)
    np.testing.assert_allclose(x1, 0.7 * x0 + 0.3 * gx, rtol=1e-15)
    assert int(state.count) == 1


def test_step_works_inside_while_loop_under_jit():
    n = 5
    M, c = _contraction(11, n, radius=0.8)

    @jax.jit
    def solve(c):
        def body(carry):
            k, x, s = carry
            x, s = anderson_step(s, x, M @ x + c)
            return k + 1, x, s

        x0 = jnp.zeros(n)
        return jax.lax.while_loop(lambda carry: carry[0] < n + 2, body, (0, x0, anderson_init(x0, n)))[1]

    np.testing.assert_allclose(solve(c), np.linalg.solve(np.eye(n) - np.asarray(M), np.asarray(c)), rtol=1e-10)


def test_bad_input():
    with pytest.raises(InputError, match="m must be"):
        anderson_init(jnp.zeros(3), 0)
    with pytest.raises(InputError, match="flat vector"):
        anderson_init(jnp.zeros((2, 2)), 3)
    with pytest.raises(InputError, match="floating"):
        anderson_init(jnp.zeros(3, jnp.int32), 3)
    with pytest.raises(InputError, match="shape"):
        anderson_step(anderson_init(jnp.zeros(3), 2), jnp.zeros(4), jnp.zeros(4))
