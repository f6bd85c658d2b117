"""linear_solve: values against LAPACK, derivatives against dense autodiff and finite differences,
jit / vmap / grad-of-grad, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import qdiff  # noqa: F401  (float64)
from qdiff.errors import InputError
from qdiff.primitives import linear_solve

N = 12
_RNG = np.random.default_rng(2024)
P_REAL = jnp.asarray(_RNG.standard_normal((N, N)))
P_CPLX = jnp.asarray(_RNG.standard_normal((N, N)) + 1j * _RNG.standard_normal((N, N)))
B_REAL = jnp.asarray(_RNG.standard_normal(N))
B_CPLX = jnp.asarray(_RNG.standard_normal(N) + 1j * _RNG.standard_normal(N))


def spd(p):
    return p @ jnp.conj(p).T / p.shape[0] + jnp.eye(p.shape[0])


def nonsym(p):
    return 2.0 * jnp.eye(p.shape[0]) + 0.5 * p / jnp.sqrt(p.shape[0])


def _loss(solver, build, method):
    def loss(p, b):
        x = solver(build(p), b, method) if solver is not linear_solve else \
            linear_solve(lambda v: build(p) @ v, b, method=method)
        w = jnp.arange(1.0, x.size + 1)
        return jnp.sum(jnp.abs(x) ** 2) + jnp.sum(w * jnp.real(x)) + jnp.sum(jnp.imag(x))

    return loss


def _dense(A, b, method):
    return jnp.linalg.solve(A, b)


_SLOW = pytest.mark.slow  # same code paths as the default cases, other dtype (test-time budget)
CASES = [
    pytest.param("cg", spd, P_REAL, B_REAL, id="cg-real", marks=_SLOW),
    pytest.param("cg", spd, P_CPLX, B_CPLX, id="cg-complex-hermitian"),
    pytest.param("gmres", nonsym, P_REAL, B_REAL, id="gmres-real"),
    pytest.param("gmres", nonsym, P_CPLX, B_CPLX, id="gmres-complex", marks=_SLOW),
    pytest.param("dense", nonsym, P_CPLX, B_REAL, id="dense-callable-complex-A-real-b"),
]


@pytest.mark.parametrize("method,build,p,b", CASES)
def test_value_and_gradient_match_dense_lapack(method, build, p, b):
    A = np.asarray(build(p))
    x = linear_solve(lambda v: build(p) @ v, b, method=method)
    np.testing.assert_allclose(x, np.linalg.solve(A, np.asarray(b)), rtol=1e-9, atol=1e-12)
    g = jax.grad(_loss(linear_solve, build, method), argnums=(0, 1))(p, b)
    g_ref = jax.grad(_loss(_dense, build, method), argnums=(0, 1))(p, b)
    for gi, ri in zip(g, g_ref):
        np.testing.assert_allclose(gi, ri, rtol=1e-8, atol=1e-10)


def test_reverse_mode_matches_central_finite_difference():
    loss = _loss(linear_solve, nonsym, "gmres")
    g = jax.grad(loss)(P_REAL, B_REAL)
    t = jnp.asarray(np.random.default_rng(1).standard_normal((N, N)))
    h = 1e-4
    fd = (loss(P_REAL + h * t, B_REAL) - loss(P_REAL - h * t, B_REAL)) / (2 * h)
    assert float(jnp.sum(g * t)) == pytest.approx(float(fd), rel=1e-7)


@pytest.mark.slow  # forward mode is also checked against finite differences by the registry harness
def test_forward_mode_matches_central_finite_difference():
    loss = _loss(linear_solve, nonsym, "gmres")
    t = jnp.asarray(np.random.default_rng(1).standard_normal((N, N)))
    h = 1e-4
    fd = (loss(P_REAL + h * t, B_REAL) - loss(P_REAL - h * t, B_REAL)) / (2 * h)
    _, d_fwd = jax.jvp(lambda p: loss(p, B_REAL), (P_REAL,), (t,))
    assert float(d_fwd) == pytest.approx(float(fd), rel=1e-7)


def test_grad_of_grad_matches_dense_autodiff():
    def second(solver):
        loss = _loss(solver, spd, "cg")
        return jax.grad(lambda p: jnp.sum(jax.grad(loss, argnums=1)(p, B_REAL) ** 2))(P_REAL)

    np.testing.assert_allclose(second(linear_solve), second(_dense), rtol=1e-7, atol=1e-9)


def test_restarted_gmres_on_larger_system_and_multiple_rhs_matrix():
    rng = np.random.default_rng(3)
    n = 80
    A = 3.0 * np.eye(n) + rng.standard_normal((n, n)) / np.sqrt(n)
    b = rng.standard_normal(n)
    x = linear_solve(lambda v: jnp.asarray(A) @ v, jnp.asarray(b), method="gmres", restart=10, tol=1e-12)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-9)
    B = rng.standard_normal((n, 3))
    X = linear_solve(jnp.asarray(A), jnp.asarray(B))          # auto -> dense for a matrix
    np.testing.assert_allclose(X, np.linalg.solve(A, B), rtol=1e-10)


def test_initial_guess_is_used_but_not_differentiated():
    A = spd(P_REAL)
    exact = np.linalg.solve(np.asarray(A), np.asarray(B_REAL))
    x = linear_solve(A, B_REAL, method="cg", x0=jnp.asarray(exact) + 1e-3)
    np.testing.assert_allclose(x, exact, rtol=1e-9, atol=1e-10)
    g = jax.grad(lambda x0: jnp.sum(linear_solve(A, B_REAL, method="cg", x0=x0)))(jnp.zeros(N))
    np.testing.assert_array_equal(g, 0.0)


def test_jit_and_vmap_over_b_and_over_params():
    A_of = jax.jit(lambda p, b: linear_solve(lambda v: spd(p) @ v, b, positive=True))
    bs = jnp.stack([B_REAL, 2 * B_REAL + 1, -B_REAL])
    xs = jax.vmap(A_of, in_axes=(None, 0))(P_REAL, bs)
    np.testing.assert_allclose(xs, np.linalg.solve(np.asarray(spd(P_REAL)), np.asarray(bs).T).T,
                               rtol=1e-9, atol=1e-10)
    ps = jnp.stack([P_REAL, 0.5 * P_REAL, P_REAL.T])
    xs = jax.vmap(A_of, in_axes=(0, None))(ps, B_REAL)
    for x, p in zip(xs, ps):
        np.testing.assert_allclose(x, np.linalg.solve(np.asarray(spd(p)), np.asarray(B_REAL)), rtol=1e-9,
                                   atol=1e-10)


@pytest.mark.slow  # vmap of the loss over batched params is also checked by the registry harness
def test_vmap_of_gradient_over_batched_params():
    ps = jnp.stack([P_REAL, 0.5 * P_REAL, P_REAL.T])
    loss = _loss(linear_solve, spd, "cg")
    gs = jax.vmap(jax.grad(loss), in_axes=(0, None))(ps, B_REAL)
    g_ref = jax.grad(_loss(_dense, spd, "cg"))(ps[1], B_REAL)
    np.testing.assert_allclose(gs[1], g_ref, rtol=1e-8, atol=1e-10)


def test_bad_input_raises_before_computing():
    A = jnp.eye(3)
    with pytest.raises(InputError, match="b has shape"):
        linear_solve(A, jnp.ones(4))
    with pytest.raises(InputError, match="square"):
        linear_solve(jnp.ones((3, 4)), jnp.ones(3))
    with pytest.raises(InputError, match="linear callable"):
        linear_solve("not a matrix", jnp.ones(3))
    with pytest.raises(InputError, match="linear callable"):
        linear_solve(None, jnp.ones(3))
    with pytest.raises(InputError, match="same shape"):
        linear_solve(lambda v: v[:2], jnp.ones(3))
    with pytest.raises(InputError, match="A\\(b\\) failed"):
        linear_solve(lambda v: jnp.ones((4, 4)) @ v, jnp.ones(3))
    with pytest.raises(InputError, match="method"):
        linear_solve(A, jnp.ones(3), method="lu")
    with pytest.raises(InputError, match="tol"):
        linear_solve(A, jnp.ones(3), tol=-1.0)
    with pytest.raises(InputError, match="maxiter"):
        linear_solve(A, jnp.ones(3), maxiter=0)
    with pytest.raises(InputError, match="x0"):
        linear_solve(A, jnp.ones(3), x0=jnp.ones(2))


def test_compiled_solve_is_not_reused_for_a_different_nested_closure():
    # Two operators with identical structure whose matrices hide inside separately jitted closures:
    # the structural compile cache must tell them apart (exact answers b/2 and b/4).
    def make(scale):
        W = scale * jnp.eye(3)
        return jax.jit(lambda v: W @ v)

    b = jnp.asarray([1.0, 2.0, 3.0])
    op2, op4 = make(2.0), make(4.0)
    np.testing.assert_allclose(linear_solve(lambda v: op2(v), b, method="cg"), b / 2, rtol=1e-12)
    np.testing.assert_allclose(linear_solve(lambda v: op4(v), b, method="cg"), b / 4, rtol=1e-12)


def test_unconverged_solve_logs_a_warning(caplog):
    A = spd(P_REAL)
    with caplog.at_level("WARNING", logger="qdiff.primitives.linear_solve"):
        x = linear_solve(A, B_REAL, method="cg", maxiter=2)
        x.block_until_ready()
        jax.effects_barrier()
    assert "stopped at relative residual" in caplog.text
    assert float(jnp.linalg.norm(A @ x - B_REAL)) > 1e-6     # it really is unconverged


def test_converged_batched_solves_do_not_warn(caplog):
    with caplog.at_level("WARNING", logger="qdiff.primitives.linear_solve"):
        xs = jax.vmap(lambda b: linear_solve(spd(P_REAL), b, method="cg"))(jnp.stack([B_REAL, -B_REAL]))
        xs.block_until_ready()
        jax.effects_barrier()
    assert "stopped at relative residual" not in caplog.text
