"""Plain (non-differentiated) Krylov solvers used inside :func:`qdiff.primitives.linear_solve`.

Both work on arrays of any shape (flattened internally), real or complex, and
compile to small ``lax.while_loop`` programs (kept small on purpose: they are
re-traced for every new operator).  They are never differentiated — the
derivative of a solve is another solve (see ``linear_solve``).

* :func:`cg` — conjugate gradients for Hermitian positive definite ``A``.
* :func:`gmres` — restarted GMRES(k): Arnoldi with classical Gram–Schmidt applied
  twice (CGS2, orthogonal to working precision), Givens rotations for the running
  residual estimate, early exit inside a cycle once ``‖r‖ ≤ tol·‖b‖``, and the true
  residual ``b − A x`` recomputed at every restart.

Each returns ``(x, iterations, relative_residual)``; ``iterations`` counts matvecs
(excluding residual recomputations).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax


def _flat(matvec: Callable, shape) -> Callable:
    return lambda v: matvec(v.reshape(shape)).ravel()


def cg(matvec: Callable, b: jax.Array, x0: jax.Array | None = None, *, tol: float = 1e-10,
       maxiter: int | None = None):
    """Conjugate gradients on ``A x = b`` (``A`` Hermitian positive definite); stops at ``‖r‖ ≤ tol‖b‖``."""
    shape = b.shape
    A = _flat(matvec, shape)
    b = b.ravel()
    maxiter = 10 * b.size if maxiter is None else maxiter
    x = jnp.zeros_like(b) if x0 is None else x0.ravel().astype(b.dtype)
    bnorm = jnp.linalg.norm(b)
    target = tol * bnorm
    r = b - A(x) if x0 is not None else b
    rr = jnp.real(jnp.vdot(r, r))

    def cond(state):
        k, _, _, _, rr = state
        return (k < maxiter) & (jnp.sqrt(rr) > target)

    def body(state):
        k, x, r, p, rr = state
        ap = A(p)
        alpha = rr / jnp.real(jnp.vdot(p, ap))
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = jnp.real(jnp.vdot(r, r))
        p = r + (rr_new / rr) * p
        return k + 1, x, r, p, rr_new

    k, x, _, _, rr = lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), x, r, r, rr))
    return x.reshape(shape), k, jnp.sqrt(rr) / jnp.where(bnorm > 0, bnorm, 1.0)


def _givens(a, b):
    """Rotation ``(c, s)`` with real ``c`` and ``[[c, s], [−s̄, c]] @ [a, b] = [ρ, 0]``; ``b`` real ≥ 0."""
    abs_a = jnp.abs(a)
    rho = jnp.sqrt(abs_a ** 2 + b ** 2)
    safe_rho = jnp.where(rho > 0, rho, 1.0)
    phase = jnp.where(abs_a > 0, a / jnp.where(abs_a > 0, abs_a, 1.0), 1.0)
    c = jnp.where(rho > 0, abs_a / safe_rho, 1.0)
    s = jnp.where(rho > 0, phase * b / safe_rho, 0.0)
    return c.astype(a.real.dtype), s.astype(a.dtype), (phase * rho).astype(a.dtype)


def _back_substitute(R: jax.Array, g: jax.Array, j) -> jax.Array:
    """Solve the leading ``j×j`` upper-triangular block ``R y = g`` (entries ``≥ j`` of ``y`` are 0).

    A small ``fori_loop`` rather than a LAPACK triangular solve: it compiles in a fraction of the time.
    A zero pivot (exact breakdown on a singular ``A``) gives a zero coefficient instead of inf.
    """
    k = R.shape[0]

    def step(t, y):
        i = k - 1 - t
        pivot = R[i, i]
        val = (g[i] - R[i] @ y) / jnp.where(pivot != 0, pivot, 1.0)
        return y.at[i].set(jnp.where((i < j) & (pivot != 0), val, 0))

    return lax.fori_loop(0, k, step, jnp.zeros_like(g))


def gmres(matvec: Callable, b: jax.Array, x0: jax.Array | None = None, *, tol: float = 1e-10,
          restart: int = 30, maxiter: int | None = None):
    """Restarted GMRES on ``A x = b``; stops at ``‖r‖ ≤ tol‖b‖`` or after ``maxiter`` matvecs."""
    shape = b.shape
    A = _flat(matvec, shape)
    b = b.ravel()
    n = b.size
    k = max(1, min(restart, n))
    maxiter = 10 * n if maxiter is None else maxiter
    dtype = b.dtype
    bnorm = jnp.linalg.norm(b)
    target = tol * bnorm
    x = jnp.zeros_like(b) if x0 is None else x0.ravel().astype(dtype)
    r = b - A(x) if x0 is not None else b

    def cycle(x, r, used):
        beta = jnp.linalg.norm(r)
        V = jnp.zeros((k + 1, n), dtype).at[0].set(r / jnp.where(beta > 0, beta, 1.0))
        R = jnp.zeros((k + 1, k), dtype)
        cs = jnp.zeros((k,), dtype.type(0).real.dtype)
        sn = jnp.zeros((k,), dtype)
        g = jnp.zeros((k + 1,), dtype).at[0].set(beta)

        def cond(st):
            j, _, _, _, _, g = st
            return (j < k) & (used + j < maxiter) & (jnp.abs(g[j]) > target)

        def body(st):
            j, V, R, cs, sn, g = st
            w = A(V[j])
            h = jnp.conj(V) @ w
            w = w - V.T @ h
            h2 = jnp.conj(V) @ w
            w = w - V.T @ h2
            h = h + h2
            hn = jnp.linalg.norm(w)
            V = V.at[j + 1].set(w / jnp.where(hn > 0, hn, 1.0) * (hn > 0))

            def rotate(i, h):
                hi, hi1 = h[i], h[i + 1]
                return h.at[i].set(cs[i] * hi + sn[i] * hi1).at[i + 1].set(-jnp.conj(sn[i]) * hi + cs[i] * hi1)

            h = lax.fori_loop(0, j, rotate, h)
            c, s, rho = _givens(h[j], hn)
            h = h.at[j].set(rho).at[j + 1].set(0)
            R = R.at[:, j].set(h)
            gj = g[j]
            g = g.at[j].set(c * gj).at[j + 1].set(-jnp.conj(s) * gj)
            return j + 1, V, R, cs.at[j].set(c), sn.at[j].set(s), g

        j, V, R, _, _, g = lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), V, R, cs, sn, g))
        y = _back_substitute(R[:k], g[:k], j)
        x = x + V[:k].T @ y
        return x, b - A(x), used + j, j

    def outer_cond(st):
        _, r, used, last = st
        # ``last == 0``: the cycle's residual estimate already met the target while the true residual
        # did not (rounding); another cycle would not progress.
        return (used < maxiter) & (last > 0) & (jnp.linalg.norm(r) > target)

    x, r, used, _ = lax.while_loop(outer_cond, lambda st: cycle(*st[:3]),
                                   (x, r, jnp.zeros((), jnp.int32), jnp.ones((), jnp.int32)))
    return x.reshape(shape), used, jnp.linalg.norm(r) / jnp.where(bnorm > 0, bnorm, 1.0)


__all__ = ["cg", "gmres"]
