"""The adjoint (reverse-mode) solve of an implicitly differentiated fixed point ``x* = f(x*, θ)``.

For a cotangent ``x̄`` of ``x*`` the implicit function theorem gives ``θ̄ = (∂_θ f)ᵀ w`` with
``w = x̄ + (∂_x f)ᵀ w``.  Both unknowns solve one block-triangular linear system for
``y = (w, θ̄)``,

    [ I − (∂_x f)ᵀ   0 ] [ w ]   [ x̄ ]
    [  −(∂_θ f)ᵀ     I ] [ θ̄ ] = [ 0 ],

whose matrix–vector product costs one VJP of the step ``f`` (both blocks at once, from one
linearisation at ``x*``).  Two solvers:

* ``"iterate"`` — Richardson iteration ``y ← y + (b − A y)``, i.e. ``w ← x̄ + (∂_x f)ᵀ w`` and
  ``θ̄ ← (∂_θ f)ᵀ w``: the adjoint of plain forward iteration, contracting at the same rate
  (the same Jacobian, transposed).  The transposed step appears once in the compiled program.
* ``"gmres"`` — restarted GMRES (:func:`qdiff.primitives.krylov.gmres`), for maps whose plain
  iteration does not contract (Anderson-accelerated forward solves).

Either runs inside :func:`jax.lax.custom_linear_solve`, so the backward pass is itself
differentiable to any order (grad of grad) without differentiating the iteration.

Stopping rule of ``"iterate"``: ``‖b − A y‖ ≤ tol · max(‖y‖, ‖b‖)`` — the last update of ``y``
is ``tol`` relative to the solution (or to the cotangent, whichever is larger); ``"gmres"``
stops at ``‖b − A y‖ ≤ tol · ‖b‖``.  A solve that stops more than 10× above its target logs a
warning (on this module's logger for ``"iterate"``, on :mod:`qdiff.primitives.linear_solve`'s for
``"gmres"``, whose Krylov driver it shares).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._real_view import tree_norm as _norm
from .linear_solve import _krylov_solver

logger = logging.getLogger(__name__)

ADJOINT_METHODS = ("gmres", "iterate")


def _log_richardson(change, iterations, *, tol: float) -> None:
    change = np.asarray(change)
    if np.any(change > 10 * tol):
        logger.warning("fixed_point: adjoint iteration stopped after %d steps with relative update %.2e > "
                       "adjoint_tol %.1e; the gradient is inaccurate (raise adjoint_maxiter, or use "
                       "adjoint_method='gmres')", int(np.max(np.asarray(iterations))), float(np.max(change)), tol)


def _richardson(tol: float, maxiter: int) -> Callable:
    """``solve(matvec, b)``: Richardson iteration from ``y = 0`` on a pytree of real vectors
    (module docstring's stopping rule)."""
    add = partial(jax.tree_util.tree_map, jnp.add)
    sub = partial(jax.tree_util.tree_map, jnp.subtract)

    def solve(matvec, b):
        b_norm = _norm(b)

        def cond(state):
            k, y, _, r_norm = state
            return (k < maxiter) & (r_norm > tol * jnp.maximum(_norm(y), b_norm))

        def body(state):
            k, y, r, _ = state
            y = add(y, r)
            r = sub(b, matvec(y))
            return k + 1, y, r, _norm(r)

        zeros = jax.tree_util.tree_map(jnp.zeros_like, b)
        k, y, _, r_norm = lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), zeros, b, b_norm))
        change = r_norm / jnp.maximum(jnp.maximum(_norm(y), b_norm), jnp.finfo(b_norm.dtype).tiny)
        lax.cond(change > 10 * tol, lambda: jax.debug.callback(partial(_log_richardson, tol=tol), change, k),
                 lambda: None)
        return y

    return solve


def adjoint_solve(step_vjp: Callable, z_bar: jax.Array, n_theta: int, *, method: str, tol: float,
                  maxiter: int | None) -> tuple[jax.Array, jax.Array]:
    """Solve the system of the module docstring on flat real vectors.

    Args:
      step_vjp: ``w ↦ ((∂_x f)ᵀ w, (∂_θ f)ᵀ w)`` on the flat real views of ``x`` and ``θ``
        (the function returned by one :func:`jax.vjp` of the step at the fixed point).
      z_bar: cotangent of the fixed point, flat real vector ``(n,)``.
      n_theta: length of the flat real view of ``θ``.
      method: ``"iterate"`` or ``"gmres"``.
      tol: stopping tolerance (module docstring).
      maxiter: most iterations (``"iterate"``: Richardson steps, required; ``"gmres"``: matvecs,
        ``None`` for GMRES's default ``10·size``).

    Returns:
      ``(w, θ̄)``, flat real vectors of lengths ``n`` and ``n_theta``.
    """
    dtype = z_bar.dtype
    b = (z_bar, jnp.zeros((n_theta,), dtype))

    def matvec(y):
        w, v = y
        kw, pw = step_vjp(w)
        return w - kw.astype(dtype), v - pw.astype(dtype)

    if method == "iterate":   # on the pair itself: no concatenation per iteration
        return lax.custom_linear_solve(matvec, b, _richardson(tol, maxiter), _richardson(tol, maxiter))
    n = z_bar.shape[0]       # GMRES works on one flat vector

    def flat_matvec(y):
        return jnp.concatenate(matvec((y[:n], y[n:])))

    solve = _krylov_solver("gmres", tol, maxiter, min(n + n_theta, 30))
    y = lax.custom_linear_solve(flat_matvec, jnp.concatenate(b), solve, solve)
    return y[:n], y[n:]


__all__ = ["adjoint_solve", "ADJOINT_METHODS"]
