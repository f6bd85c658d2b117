"""fixed_point: values against closed forms, implicit gradients against analytic derivatives, finite
differences and unrolled autodiff; jit / vmap / grad-of-grad; memory independence; both adjoint methods;
a caller's stopping measure and auxiliary output; the map traced once; failures; errors."""

import re

import jax
import jax.numpy as jnp
from jax.ad_checkpoint import print_saved_residuals
import numpy as np
import pytest

import qdiff  # noqa: F401  (float64)
from qdiff.errors import ConvergenceError, InputError
from qdiff.primitives import fixed_point, fixed_point_info, relative_change

DOTTIE = 0.7390851332151607  # the unique real solution of x = cos x (Dottie number)


def cos_map(x, a):
    return jnp.cos(a * x)


def linear_map(x, p):
    M, c = p
    return M @ x + c


def tree_map_(x, p):
    return {"u": 0.5 * jnp.tanh(p["w"] @ x["v"] + p["c"]), "v": 0.4 * jnp.sin(x["u"][:2] * p["s"])}


def _linear_problem(seed=0, n=6, radius=0.8):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    M = radius * M / np.max(np.abs(np.linalg.eigvals(M)))
    return jnp.asarray(M), jnp.asarray(rng.standard_normal(n))


def test_dottie_number_and_analytic_derivative():
    a = jnp.asarray(1.0)
    x = fixed_point(cos_map, a, jnp.asarray(0.0))
    assert float(x) == pytest.approx(DOTTIE, abs=1e-12)
    # x = cos(a x)  =>  dx/da = -x sin(a x) / (1 + a sin(a x))
    g = jax.grad(lambda a: fixed_point(cos_map, a, jnp.asarray(0.0)))(a)
    expected = -DOTTIE * np.sin(DOTTIE) / (1 + np.sin(DOTTIE))
    assert float(g) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("method, adjoint", [("anderson", "gmres"), ("iterate", "iterate"),
                                             pytest.param("iterate", "gmres", marks=pytest.mark.slow)])
def test_linear_fixed_point_value_and_gradient_are_exact(method, adjoint):
    M, c = _linear_problem()
    n = c.shape[0]
    options = {"method": method, "maxiter": 500, "adjoint_method": adjoint, "adjoint_tol": 1e-13}
    x = fixed_point(linear_map, (M, c), jnp.zeros(n), **options)
    A = np.eye(n) - np.asarray(M)
    exact = np.linalg.solve(A, np.asarray(c))
    np.testing.assert_allclose(x, exact, rtol=1e-8, atol=1e-9)
    # L = w·x*,  x* = (I − M)⁻¹ c  =>  ∂L/∂c = (I − M)⁻ᵀ w,  ∂L/∂M = (∂L/∂c) x*ᵀ
    w = jnp.arange(1.0, n + 1)
    gM, gc = jax.grad(lambda p: w @ fixed_point(linear_map, p, jnp.zeros(n), **options))((M, c))
    lam = np.linalg.solve(A.T, np.asarray(w))
    np.testing.assert_allclose(gc, lam, rtol=1e-8)
    np.testing.assert_allclose(gM, np.outer(lam, exact), rtol=1e-8, atol=1e-10)


def _unrolled(f, p, x0, steps=100):
    return jax.lax.fori_loop(0, steps, lambda _, x: f(x, p), x0)


def _tree_problem():
    rng = np.random.default_rng(5)
    p = {"w": jnp.asarray(0.5 * rng.standard_normal((3, 2))), "c": jnp.asarray(rng.standard_normal(3)),
         "s": jnp.asarray(rng.standard_normal(2))}
    x0 = {"u": jnp.zeros(3), "v": jnp.zeros(2)}
    return p, x0


def _tree_loss(solver):
    def loss(p):
        _, x0 = _tree_problem()
        x = solver(tree_map_, p, x0)
        return jnp.sum(x["u"] ** 2) + jnp.sum(jnp.arange(1.0, 3.0) * x["v"])

    return loss


def test_pytree_gradient_matches_unrolled_autodiff_and_finite_difference():
    p, _ = _tree_problem()
    loss = _tree_loss(fixed_point)
    g = jax.grad(loss)(p)
    g_ref = jax.grad(_tree_loss(_unrolled))(p)
    for k in p:
        np.testing.assert_allclose(g[k], g_ref[k], rtol=1e-8, atol=1e-11)
    rng = np.random.default_rng(9)
    t = {k: jnp.asarray(rng.standard_normal(v.shape)) for k, v in p.items()}
    h = 1e-4
    shift = lambda s: {k: p[k] + s * t[k] for k in p}  # noqa: E731
    fd = (loss(shift(h)) - loss(shift(-h))) / (2 * h)
    assert float(sum(jnp.sum(g[k] * t[k]) for k in p)) == pytest.approx(float(fd), rel=1e-7)


def test_grad_of_grad_matches_finite_difference_of_analytic_derivative():
    # x*(a) solves x = cos(a x); dx*/da = -x sin(ax) / (1 + a sin(ax)).  The second derivative from
    # reverse-over-reverse AD must match the central difference of that formula, with x*(a ± h) from
    # scipy's root finder (independent of qdiff).
    brentq = pytest.importorskip("scipy.optimize").brentq

    def x_star(a):
        return brentq(lambda x: x - np.cos(a * x), 0.0, 1.0, xtol=1e-15)

    def first(a):
        x = x_star(a)
        return -x * np.sin(a * x) / (1 + a * np.sin(a * x))

    a, h = 0.8, 1e-4
    fd = (8 * (first(a + h) - first(a - h)) - (first(a + 2 * h) - first(a - 2 * h))) / (12 * h)
    d2 = jax.grad(jax.grad(lambda a: fixed_point(cos_map, a, jnp.asarray(0.0))))(jnp.asarray(a))
    assert float(d2) == pytest.approx(fd, rel=1e-8)


def test_complex_non_holomorphic_map_gradient_matches_unrolled():
    rng = np.random.default_rng(4)
    n = 4
    m = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    m = jnp.asarray(m / np.linalg.norm(m, 2))

    def f(z, c):
        return 0.4 * (m @ z) + 0.2 * jnp.conj(z) * jnp.exp(-jnp.abs(z) ** 2) + c

    def loss(solver):
        return lambda c: jnp.sum(jnp.abs(solver(f, c, jnp.zeros(n, complex)) - 0.3j) ** 2)

    c = jnp.asarray(0.5 * (rng.standard_normal(n) + 1j * rng.standard_normal(n)))
    np.testing.assert_allclose(jax.grad(loss(fixed_point))(c), jax.grad(loss(_unrolled))(c), rtol=1e-8)


def test_jit_and_vmap_over_params():
    a = jnp.asarray([0.5, 1.0, 1.5])
    solve = jax.jit(lambda a: fixed_point(cos_map, a, jnp.asarray(0.0)))
    xs = jax.vmap(solve)(a)
    np.testing.assert_allclose(np.cos(np.asarray(a) * np.asarray(xs)), xs, atol=1e-12)
    assert float(xs[1]) == pytest.approx(DOTTIE, abs=1e-12)


@pytest.mark.slow  # vmap of the loss (not of its gradient) is also checked by the registry harness
def test_vmap_of_gradient():
    a = jnp.asarray([0.5, 1.0, 1.5])
    solve = jax.jit(lambda a: fixed_point(cos_map, a, jnp.asarray(0.0)))
    x = np.asarray(jax.vmap(solve)(a))
    gs = jax.vmap(jax.grad(solve))(a)
    an = np.asarray(a)
    np.testing.assert_allclose(gs, -x * np.sin(an * x) / (1 + an * np.sin(an * x)), rtol=1e-9)


def test_backward_memory_does_not_grow_with_iterations(capsys):
    # Contraction factor 0.998: ~11 000 plain iterations to reach tol.  The reverse pass keeps only
    # x*, params and x0 (saved residuals O(n)), whatever the iteration count.
    n = 3

    def slow(x, p):
        return 0.998 * x + p

    def loss(p):
        return jnp.sum(fixed_point(slow, p, jnp.zeros(n), method="iterate", maxiter=20000, tol=1e-12) ** 2)

    p = jnp.asarray([1.0, 2.0, 3.0])
    _, info = fixed_point_info(slow, p, jnp.zeros(n), method="iterate", maxiter=20000, tol=1e-12)
    assert bool(info.converged) and int(info.iterations) > 10000
    capsys.readouterr()
    print_saved_residuals(loss, p)          # one line per array kept for the backward pass
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    sizes = [int(np.prod([int(d) for d in m.group(1).split(",") if d])) for m in
             (re.match(r"\s*\w+\[([\d,]*)\]", ln) for ln in lines) if m]
    assert lines and len(sizes) == len(lines)
    assert sum(sizes) <= 10 * n
    # x* = p / (1 − 0.998),  dL/dp = 2 x* / 0.002
    np.testing.assert_allclose(jax.grad(loss)(p), 2 * (np.asarray(p) / 0.002) / 0.002, rtol=1e-7)


def test_anderson_needs_fewer_iterations_than_plain_iteration():
    M, c = _linear_problem(seed=3, n=6, radius=0.95)
    _, info_a = fixed_point_info(linear_map, (M, c), jnp.zeros(6), method="anderson", maxiter=2000)
    _, info_p = fixed_point_info(linear_map, (M, c), jnp.zeros(6), method="iterate", maxiter=2000)
    assert bool(info_a.converged) and bool(info_p.converged)
    assert int(info_a.iterations) * 5 < int(info_p.iterations)


def test_non_convergence_is_reported_and_raised_on_request():
    x, info = fixed_point_info(cos_map, jnp.asarray(1.0), jnp.asarray(0.0), method="iterate", maxiter=3)
    assert not bool(info.converged) and int(info.iterations) == 3 and float(info.residual) > 1e-3
    with pytest.raises(ConvergenceError, match="not converged") as excinfo:
        fixed_point(cos_map, jnp.asarray(1.0), jnp.asarray(0.0), method="iterate", maxiter=3,
                    raise_on_failure=True)
    assert float(excinfo.value.state) == pytest.approx(float(x))
    with pytest.raises(InputError, match="raise_on_failure"):
        jax.jit(lambda a: fixed_point(cos_map, a, jnp.asarray(0.0), raise_on_failure=True))(1.0)


def test_bad_input_raises_before_iterating():
    with pytest.raises(InputError, match="callable"):
        fixed_point("not a function", 1.0, jnp.zeros(2))
    with pytest.raises(InputError, match="structure, shapes and dtypes"):
        fixed_point(lambda x, p: x[:1], 1.0, jnp.zeros(2))
    with pytest.raises(InputError, match="structure, shapes and dtypes"):
        fixed_point(lambda x, p: {"a": x}, 1.0, jnp.zeros(2))
    with pytest.raises(InputError, match="structure, shapes and dtypes"):
        fixed_point(lambda x, p: x * 1j, 1.0, jnp.zeros(2))
    with pytest.raises(InputError, match="failed"):
        fixed_point(lambda x, p: x @ jnp.ones((3, 3)), 1.0, jnp.zeros(2))
    with pytest.raises(InputError, match="method"):
        fixed_point(cos_map, 1.0, jnp.zeros(2), method="newton")
    with pytest.raises(InputError, match="maxiter"):
        fixed_point(cos_map, 1.0, jnp.zeros(2), maxiter=-1)
    with pytest.raises(InputError, match="float or complex"):
        fixed_point(cos_map, 1.0, jnp.zeros(2, jnp.int32))


@pytest.mark.parametrize("kwargs, match", [
    ({"adjoint_method": "cg"}, "adjoint_method must be one of"),
    ({"adjoint_maxiter": 0}, "adjoint_maxiter must be a positive int"),
    ({"adjoint_tol": float("nan")}, "adjoint_tol must be a positive finite"),
    ({"residual": "max"}, "residual must be None or a callable"),
    ({"residual": lambda x, fx: fx - x}, "residual.*real floating-point scalar"),
    ({"residual": lambda x, fx: jnp.sum(fx - x) > 0}, "residual.*real floating-point scalar"),
    ({"residual": lambda x, fx: jnp.sum(x @ jnp.ones((3, 3)))}, r"residual\(x0, x0\) failed"),
    ({"has_aux": 1}, "has_aux must be True or False"),
    ({"has_aux": True}, r"pair \(x_new, aux\)"),
])
def test_bad_new_options_raise_before_iterating(kwargs, match):
    _assert_raises_before_iterating(lambda f: fixed_point(f, 1.0, jnp.zeros(2), **kwargs), match)


def test_residual_must_take_aux_when_f_has_one():
    def f_aux(x, p):
        return jnp.cos(p * x), jnp.sum(x)

    _assert_raises_before_iterating(
        lambda f: fixed_point(lambda x, p: (f(x, p), jnp.sum(x)), 1.0, jnp.zeros(2), has_aux=True,
                              residual=lambda x, fx: jnp.sum(jnp.abs(fx - x))),
        r"residual\(x0, x0, aux\) failed")
    x = fixed_point(f_aux, 1.0, jnp.zeros(2), has_aux=True, residual=lambda x, fx, aux: jnp.max(jnp.abs(fx - x)))
    np.testing.assert_allclose(x, DOTTIE, atol=1e-9)


def _assert_raises_before_iterating(call, match):
    calls = []

    def f(x, p):
        calls.append(1)
        return jnp.cos(p * x)

    with pytest.raises(InputError, match=match):
        call(f)
    assert len(calls) <= 1   # at most the one trace that checks f's output, never an iteration


def _halving(x, c):
    return 0.5 * x + c


def test_callers_residual_sets_the_stopping_point():
    # x_{k+1} = x_k / 2 + 1 from 0: x_k = 2 (1 − 2^−k), and x_{k+1} − x_k = 2^−k.  With the caller's
    # measure |f(x) − x| and tol 1e-3 the loop stops at the first k with 2^−k ≤ 1e-3, k = 10; the
    # default measure divides by max(1, |x_k|) and stops at k = 9.
    c, x0 = jnp.asarray(1.0), jnp.asarray(0.0)
    x, info = fixed_point_info(_halving, c, x0, method="iterate", tol=1e-3,
                               residual=lambda x, fx: jnp.abs(fx - x))
    assert int(info.iterations) == 10 and float(info.residual) == 2.0 ** -10 and bool(info.converged)
    assert float(x) == pytest.approx(2 * (1 - 2.0 ** -11), abs=1e-15)   # f(x_10)
    _, default = fixed_point_info(_halving, c, x0, method="iterate", tol=1e-3)
    assert int(default.iterations) == 9
    assert float(default.residual) == pytest.approx(2.0 ** -9 / (2 * (1 - 2.0 ** -9)), rel=1e-14)
    assert float(default.residual) == pytest.approx(float(relative_change(2 * (1 - 2.0 ** -9),
                                                                          2 * (1 - 2.0 ** -10))), rel=1e-14)


def test_aux_output_is_returned_and_does_not_change_the_gradient():
    # f returns (x/2 + c, f(x) − x): the aux of the final evaluation is 2^−k at x_k; x* = 2c, dx*/dc = 2.
    def f(x, c):
        fx = _halving(x, c)
        return fx, {"step": fx - x, "count": jnp.ones((), jnp.int32)}

    c, x0 = jnp.asarray(1.0), jnp.asarray(0.0)
    x, info = fixed_point_info(f, c, x0, method="iterate", tol=1e-3, has_aux=True,
                               residual=lambda x, fx, aux: jnp.abs(aux["step"]))   # with has_aux: (x, fx, aux)
    assert int(info.iterations) == 10 and float(info.residual) == 2.0 ** -10
    assert float(info.aux["step"]) == 2.0 ** -10 and int(info.aux["count"]) == 1
    assert float(x) == pytest.approx(2 * (1 - 2.0 ** -11), abs=1e-15)
    g = jax.grad(lambda c: fixed_point(f, c, x0, method="iterate", tol=1e-12, has_aux=True,
                                       adjoint_method="iterate"))(c)
    assert float(g) == pytest.approx(2.0, rel=1e-10)


def test_zero_maxiter_returns_the_first_image():
    x, info = fixed_point_info(cos_map, jnp.asarray(1.0), jnp.asarray(0.0), maxiter=0)
    assert float(x) == 1.0 and int(info.iterations) == 0 and not bool(info.converged)


def test_iterated_adjoint_matches_finite_differences_and_grad_of_grad():
    # x = cos(a x): first derivative against the analytic formula, second against its finite difference
    a = jnp.asarray(0.8)
    solve = lambda a: fixed_point(cos_map, a, jnp.asarray(0.0), method="iterate", tol=1e-13, maxiter=500,
                                  adjoint_method="iterate")  # noqa: E731
    x = float(solve(a))
    first = lambda a, x: -x * np.sin(a * x) / (1 + a * np.sin(a * x))  # noqa: E731
    assert float(jax.grad(solve)(a)) == pytest.approx(first(0.8, x), rel=1e-10)
    h = 1e-4
    fd = (first(0.8 + h, float(solve(0.8 + h))) - first(0.8 - h, float(solve(0.8 - h)))) / (2 * h)
    assert float(jax.grad(jax.grad(solve))(a)) == pytest.approx(fd, rel=1e-7)


@pytest.mark.parametrize("adjoint", ["gmres", "iterate"])
def test_map_is_traced_once_and_stands_twice_in_the_compiled_gradient(adjoint):
    """f's Python body runs once per program; tanh appears in the forward loop body and in the one
    linearisation at the fixed point, nowhere else (no second trace in the backward pass)."""
    calls = []

    def f(x, p):
        calls.append(1)
        a, b = p
        return jnp.tanh(a @ x + b)

    p = (0.3 * jnp.eye(3) + 0.1, jnp.ones(3))
    loss = lambda p: jnp.sum(fixed_point(f, p, jnp.zeros(3), method="iterate", adjoint_method=adjoint) ** 2)  # noqa: E731
    hlo = jax.jit(jax.grad(loss)).lower(p).as_text()
    assert len(calls) == 1
    assert hlo.count("stablehlo.tanh") == 2


def test_unconverged_iterated_adjoint_is_logged(caplog):
    # x = 0.9 x + p: dx*/dp = 1 / (1 − 0.9) = 10 needs ~300 adjoint steps to 1e-12.  Two Richardson steps on
    # y = (w, p̄) from 0 give y₁ = (x̄, 0) = (1, 0), y₂ = (1 + 0.9, 1): p̄ = 1 (it lags w by one step)
    loss = lambda p: fixed_point(lambda x, p: 0.9 * x + p, p, jnp.asarray(0.0), method="iterate", maxiter=2000,  # noqa: E731
                                 tol=1e-12, adjoint_method="iterate", adjoint_maxiter=2)
    with caplog.at_level("WARNING", logger="qdiff.primitives.fixed_point_adjoint"):
        g = jax.grad(loss)(jnp.asarray(1.0))
        jax.effects_barrier()
    assert float(g) == pytest.approx(1.0, rel=1e-12)
    assert any("adjoint iteration stopped after 2 steps" in r.getMessage() for r in caplog.records)
