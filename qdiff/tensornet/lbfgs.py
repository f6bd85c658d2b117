"""A small, exactly resumable L-BFGS minimiser for expensive jitted objectives.

Why not ``scipy.optimize.minimize(method="L-BFGS-B")``: its internal state (the
curvature pairs and line-search memory) is not exposed, so an interrupted run can
only restart with an empty history.  Why not ``optax.lbfgs``: its line search
calls the objective inside the optimiser's jitted update, which would re-trace and
re-compile the whole CTMRG for the line search.  Here the state is a handful of
plain arrays (:class:`LBFGSState`) that are checkpointed after every step, the
objective is one ``value_and_grad`` function compiled once, and the line search is
scipy's strong-Wolfe search (``scipy.optimize.line_search``).  A resumed run
continues on exactly the trajectory the uninterrupted run would have taken.

The two-loop recursion is Nocedal & Wright, *Numerical Optimization*, Alg. 7.4.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class LBFGSState:
    """Complete optimiser state (all numpy arrays; checkpointable).

    Attributes:
      x, f, g: current point, value, gradient.
      f_prev: value at the previous iterate (sets the line search's first trial step).
      S, Y: ring buffers (m, n) of the last m steps ``s = x_{k+1} − x_k`` and gradient changes.
      pairs: number of pairs stored so far (the newest is at ``(pairs − 1) % m``).
      step: iterations completed; nfev: objective evaluations.
      aux: extra arrays carried along (e.g. a warm-start environment), dict of arrays.
    """

    x: np.ndarray
    f: np.ndarray
    g: np.ndarray
    f_prev: np.ndarray
    S: np.ndarray
    Y: np.ndarray
    pairs: np.ndarray
    step: np.ndarray
    nfev: np.ndarray
    aux: dict

    def as_tree(self) -> dict:
        return {k: getattr(self, k) for k in ("x", "f", "g", "f_prev", "S", "Y", "pairs", "step", "nfev", "aux")}

    @classmethod
    def from_tree(cls, tree: dict) -> "LBFGSState":
        tree = dict(tree)
        aux = {k: np.asarray(v) for k, v in tree.pop("aux").items()}
        return cls(**{k: np.asarray(v) for k, v in tree.items()}, aux=aux)


def init_state(fun: Callable, x0: np.ndarray, memory: int, aux: dict) -> LBFGSState:
    """Evaluate ``fun`` at ``x0`` and return the initial state.

    ``fun(x, aux) -> (f, g, aux_new)``.
    """
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    f, g, aux = fun(x0, aux)
    n = x0.size
    return LBFGSState(x=x0, f=np.asarray(f, np.float64), g=np.asarray(g, np.float64),
                      f_prev=np.asarray(f + 0.5 * np.linalg.norm(g), np.float64),
                      S=np.zeros((memory, n)), Y=np.zeros((memory, n)), pairs=np.asarray(0, np.int64),
                      step=np.asarray(0, np.int64), nfev=np.asarray(1, np.int64), aux=aux)


def _direction(state: LBFGSState) -> np.ndarray:
    """``−H g`` by the two-loop recursion over the stored pairs."""
    m = state.S.shape[0]
    k = int(min(state.pairs, m))
    q = state.g.copy()
    idx = [(int(state.pairs) - 1 - i) % m for i in range(k)]  # newest first
    alpha = np.zeros(k)
    rho = np.zeros(k)
    for j, i in enumerate(idx):
        rho[j] = 1.0 / np.dot(state.Y[i], state.S[i])
        alpha[j] = rho[j] * np.dot(state.S[i], q)
        q -= alpha[j] * state.Y[i]
    if k:
        i = idx[0]
        q *= np.dot(state.S[i], state.Y[i]) / np.dot(state.Y[i], state.Y[i])
    else:
        q /= max(np.linalg.norm(q), 1e-300)  # first step: unit-length steepest descent
    for j in reversed(range(k)):
        i = idx[j]
        beta = rho[j] * np.dot(state.Y[i], q)
        q += (alpha[j] - beta) * state.S[i]
    return -q


def _backtrack(f: Callable, state: LBFGSState, p: np.ndarray, *, c1: float = 1e-4,
               halvings: int = 40) -> float | None:
    """Armijo backtracking ``α = α₀, α₀/2, …`` along ``p``; the first α with sufficient decrease, or None.

    The fallback when the strong-Wolfe search gives up (it needs the curvature condition, which a
    very stiff direction — a valley a thousand times narrower than the first trial step — or
    rounding in ``f`` can defeat).  ``α₀ = 1`` for the scaled L-BFGS direction; Armijo's
    condition alone guarantees a decrease, so the iteration still makes progress.
    """
    slope = float(np.dot(state.g, p))
    if not slope < 0:
        return None
    alpha = 1.0
    for _ in range(halvings):
        f_new = f(state.x + alpha * p)
        if np.isfinite(f_new) and f_new <= float(state.f) + c1 * alpha * slope:
            return alpha
        alpha *= 0.5
    return None


def lbfgs_step(fun: Callable, state: LBFGSState) -> tuple[LBFGSState, bool]:
    """One L-BFGS iteration (direction + strong-Wolfe line search).

    The step length comes from scipy's strong-Wolfe search; if that fails, from Armijo
    backtracking along the same direction; if that fails too, the curvature pairs are dropped
    and both are tried along steepest descent.

    Returns:
      ``(new_state, ok)``; ``ok`` is False when no acceptable step was found even along
      the steepest-descent direction (the state is then returned unchanged).
    """
    from scipy.optimize import line_search

    cache: dict[bytes, tuple] = {}
    counter = [0]

    def evaluate(x):
        key = x.tobytes()
        if key not in cache:
            counter[0] += 1
            cache[key] = fun(x, state.aux)
        return cache[key]

    def f(x):
        return float(evaluate(x)[0])

    def fprime(x):
        return np.asarray(evaluate(x)[1])

    for reset in (False, True):
        if reset:
            if int(state.pairs) == 0:
                break
            logger.info("L-BFGS: no acceptable step along the L-BFGS direction; retrying along steepest descent")
            state = LBFGSState(**{**state.as_tree(), "pairs": np.asarray(0, np.int64),
                                  "S": np.zeros_like(state.S), "Y": np.zeros_like(state.Y)})
        p = _direction(state)
        if np.dot(p, state.g) >= 0:  # not a descent direction: fall back to steepest descent
            p = -state.g / max(np.linalg.norm(state.g), 1e-300)
        cache[state.x.tobytes()] = (state.f, state.g, state.aux)
        with warnings.catch_warnings():  # a failed search is handled below (backtracking, then steepest descent)
            warnings.filterwarnings("ignore", message="(The line search algorithm|Rounding errors prevent)")
            alpha, _, _, f_new, _, _ = line_search(f, fprime, state.x, p, gfk=state.g, old_fval=float(state.f),
                                                   old_old_fval=float(state.f_prev), c1=1e-4, c2=0.9,
                                                   maxiter=20)
        if alpha is not None and np.isfinite(f_new):
            break
        alpha = _backtrack(f, state, p)
        if alpha is not None:
            break
    else:
        alpha = None
    if alpha is None:
        return state, False
    x_new = state.x + alpha * p
    f_new, g_new, aux_new = evaluate(x_new)
    s, y = x_new - state.x, np.asarray(g_new) - state.g
    S, Y, pairs = state.S.copy(), state.Y.copy(), int(state.pairs)
    sy, yy = float(np.dot(s, y)), float(np.dot(y, y))
    if sy > 1e-12 * yy and sy > 1e-300 and np.isfinite(1.0 / sy):  # keep the inverse Hessian positive definite
        S[pairs % S.shape[0]] = s
        Y[pairs % S.shape[0]] = y
        pairs += 1
    new = LBFGSState(x=x_new, f=np.asarray(f_new, np.float64), g=np.asarray(g_new, np.float64),
                     f_prev=np.asarray(state.f, np.float64), S=S, Y=Y, pairs=np.asarray(pairs, np.int64),
                     step=np.asarray(int(state.step) + 1, np.int64),
                     nfev=np.asarray(int(state.nfev) + counter[0], np.int64),
                     aux={k: np.asarray(v) for k, v in aux_new.items()})
    return new, True


__all__ = ["LBFGSState", "init_state", "lbfgs_step"]
