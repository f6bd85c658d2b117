"""The resumable L-BFGS on functions with known minima where scipy's strong-Wolfe search gives up."""

import warnings

import numpy as np
from scipy.optimize import line_search

from qdiff.tensornet.lbfgs import init_state, lbfgs_step

_DELTA = 1e-9
_W = np.array([1.0, 3.0, 0.5])


def _smoothed_l1(x, aux):
    """``f = Σ w_i sqrt(x_i² + δ²)``: minimum ``δ Σ w_i`` at x = 0, a kink of width δ (stiff valley)."""
    r = np.sqrt(x ** 2 + _DELTA ** 2)
    return float(_W @ r), _W * x / r, aux


def test_strong_wolfe_fails_but_lbfgs_reaches_the_analytic_minimum():
    x0 = np.array([0.3, -0.2, 0.7])
    state = init_state(_smoothed_l1, x0, 5, {})
    # scipy's strong-Wolfe search cannot satisfy the curvature condition inside the δ-wide valley
    failures = 0
    for _ in range(40):
        p = -state.g
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alpha = line_search(lambda x: _smoothed_l1(x, {})[0], lambda x: _smoothed_l1(x, {})[1], state.x, p,
                                gfk=state.g, old_fval=float(state.f), c1=1e-4, c2=0.9, maxiter=20)[0]
        failures += alpha is None
        state, ok = lbfgs_step(_smoothed_l1, state)
        if not ok:
            break
    assert failures > 0
    for _ in range(200):
        state, ok = lbfgs_step(_smoothed_l1, state)
        if not ok:
            break
    assert abs(float(state.f) - _DELTA * _W.sum()) < 1e-15
    assert np.all(np.abs(state.x) < 1e-12)


def test_armijo_fallback_when_the_gradient_violates_every_curvature_condition():
    """``f = |x|²`` with a gradient oracle exact only at x0 (as a CTMRG gradient is only accurate to a tolerance).

    Along the search line the reported slope keeps growing more negative, so no step meets the strong-Wolfe
    curvature condition and scipy's search fails; the step must still decrease ``f`` by Armijo's rule.
    """
    x0 = np.array([1.0, -2.0])

    def fun(x, aux):
        return float(x @ x), 2.0 * x - 1e3 * (x - x0), aux

    state = init_state(fun, x0, 5, {})
    p = -state.g / np.linalg.norm(state.g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alpha = line_search(lambda x: fun(x, {})[0], lambda x: fun(x, {})[1], x0, p, gfk=state.g,
                            old_fval=float(state.f), c1=1e-4, c2=0.9, maxiter=20)[0]
    assert alpha is None
    new, ok = lbfgs_step(fun, state)
    assert ok
    step = new.x - x0
    assert float(new.f) <= 5.0 + 1e-4 * float(np.dot(2.0 * x0, step))  # f(x0) = 5, ∇f(x0) = 2 x0
    assert float(new.f) < 5.0
