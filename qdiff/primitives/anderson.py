"""Anderson (Pulay / DIIS) acceleration of fixed-point iterations on flat vectors.

For a map ``g`` with residual ``r(x) = g(x) − x`` and the last ``m`` iterates,
Anderson mixing (type II, Walker & Ni 2011) keeps the differences

    ΔXᵢ = x_{i+1} − xᵢ,    ΔRᵢ = r_{i+1} − rᵢ,

solves the small least-squares problem ``γ = argmin ‖r_k − ΔR γ‖₂`` and steps to

    x̄ = x_k − ΔX γ,   r̄ = r_k − ΔR γ,   x_{k+1} = x̄ + β P(r̄),

with mixing parameter ``β`` and an optional linear preconditioner ``P`` (e.g. a
Kerker filter for SCF density mixing; ``P = 1`` by default).  With ``β = 1``,
no preconditioner and an unlimited history, Anderson applied to a linear map
``g(x) = Mx + c`` is equivalent to GMRES on ``(I − M)x = c``, so in ``Rⁿ`` it
converges in at most ``n + 1`` steps.

The least-squares problem is solved through its normal equations after scaling
every column of ``ΔR`` to unit norm, with a Tikhonov term ``regularization·I``
(relative, since the scaled Gram matrix has a unit diagonal): cheap (one
``m×n`` by ``n×m`` product) and stable against (nearly) linearly dependent
history columns, which simply get small coefficients.

Everything is a pure function of arrays; the history is a ring buffer of fixed
length ``m`` inside :class:`AndersonState`, so ``anderson_step`` works under
``jit`` inside ``lax.while_loop``.  Real and complex vectors are supported
(complex vectors get complex coefficients: right for maps that are
complex-linear to first order; for maps involving ``conj`` pass the real view
``concatenate([x.real, x.imag])`` instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp

from ..errors import InputError


@dataclass(frozen=True)
class AndersonState:
    """History of an Anderson iteration (a pytree; the history length ``m`` is ``dx.shape[0]``).

    Attributes:
      x_prev: previous iterate ``x_{k−1}``, shape ``(n,)``.
      r_prev: previous residual ``r_{k−1} = g(x_{k−1}) − x_{k−1}``.
      dx: ring buffer ``(m, n)`` of iterate differences ``ΔX``.
      dr: ring buffer ``(m, n)`` of residual differences ``ΔR``.
      count: number of steps taken so far (int32 scalar).
    """

    x_prev: jax.Array
    r_prev: jax.Array
    dx: jax.Array
    dr: jax.Array
    count: jax.Array


jax.tree_util.register_dataclass(AndersonState, data_fields=["x_prev", "r_prev", "dx", "dr", "count"],
                                 meta_fields=[])


def anderson_init(x0: jax.Array, m: int) -> AndersonState:
    """An empty Anderson history for vectors like ``x0``.

    Args:
      x0: the starting vector, shape ``(n,)``, real or complex (only its shape and dtype are used).
      m: history length (number of stored differences), a positive Python int.

    Raises:
      InputError: ``x0`` is not a 1-d inexact array or ``m`` is not a positive int.
    """
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise InputError(f"anderson_init: m must be a positive int, got {m!r}")
    x0 = jnp.asarray(x0)
    if x0.ndim != 1:
        raise InputError(f"anderson_init: x0 must be a flat vector (n,), got shape {x0.shape}")
    if not jnp.issubdtype(x0.dtype, jnp.inexact):
        raise InputError(f"anderson_init: x0 must be real or complex floating point, got {x0.dtype}")
    n = x0.shape[0]
    zeros = jnp.zeros((n,), x0.dtype)
    return AndersonState(x_prev=zeros, r_prev=zeros, dx=jnp.zeros((m, n), x0.dtype),
                         dr=jnp.zeros((m, n), x0.dtype), count=jnp.zeros((), jnp.int32))


def anderson_step(state: AndersonState, x: jax.Array, gx: jax.Array, *, beta: float = 1.0,
                  precond: Callable[[jax.Array], jax.Array] | None = None,
                  regularization: float = 1e-12) -> tuple[jax.Array, AndersonState]:
    """One Anderson update: from ``x`` and ``gx = g(x)`` to the next iterate.

    Args:
      state: history from :func:`anderson_init` or the previous step.
      x: current iterate, shape ``(n,)``.
      gx: the map's output ``g(x)``; the residual is ``r = gx − x``.
      beta: mixing parameter ``β`` (``1`` = undamped; ``β < 1`` damps, as in linear density mixing).
      precond: optional linear map ``P`` applied to the extrapolated residual (same shape in and out).
      regularization: Tikhonov term added to the unit-diagonal scaled Gram matrix.

    Returns:
      ``(x_next, new_state)``.  The first call (empty history) returns ``x + β P(r)``.

    Raises:
      InputError: ``x``/``gx`` shapes do not match the state (checked at trace time).
    """
    x = jnp.asarray(x)
    gx = jnp.asarray(gx)
    m, n = state.dx.shape
    if x.shape != (n,) or gx.shape != (n,):
        raise InputError(f"anderson_step: x and gx must have shape ({n},), got {x.shape} and {gx.shape}")
    dtype = state.dx.dtype
    x = x.astype(dtype)
    r = (gx - x).astype(dtype)

    k = state.count
    slot = jnp.mod(k - 1, m)
    have_prev = k >= 1
    dx = jnp.where(have_prev, state.dx.at[slot].set(x - state.x_prev), state.dx)
    dr = jnp.where(have_prev, state.dr.at[slot].set(r - state.r_prev), state.dr)

    filled = jnp.arange(m) < jnp.minimum(k, m)
    norms = jnp.linalg.norm(dr, axis=1)
    valid = filled & (norms > 0)
    scale = jnp.where(valid, norms, 1.0)
    d = jnp.where(valid[:, None], dr / scale[:, None].astype(dtype), 0)
    gram = jnp.conj(d) @ d.T
    gram = jnp.where(valid[:, None] & valid[None, :], gram, 0)
    gram = gram + jnp.diag(jnp.where(valid, regularization, 1.0)).astype(dtype)
    rhs = jnp.where(valid, jnp.conj(d) @ r, 0)
    gamma = jnp.linalg.solve(gram, rhs) / scale.astype(dtype)
    gamma = jnp.where(valid, gamma, 0)

    x_bar = x - gamma @ dx
    r_bar = r - gamma @ dr
    step = r_bar if precond is None else jnp.asarray(precond(r_bar)).astype(dtype)
    x_next = x_bar + jnp.asarray(beta).astype(dtype) * step
    new_state = AndersonState(x_prev=x, r_prev=r, dx=dx, dr=dr, count=k + 1)
    return x_next, new_state


__all__ = ["AndersonState", "anderson_init", "anderson_step"]
