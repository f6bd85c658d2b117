"""Fixed points ``x* = f(x*, θ)`` with implicit (memory-free) derivatives.

Forward: ``lax.while_loop`` of plain iteration ``x ← f(x, θ)`` or of Anderson
acceleration (:mod:`qdiff.primitives.anderson`), on the real view of the
flattened pytree ``x`` (complex leaves as real and imaginary parts, so maps that
involve ``conj`` — normalisations, densities — are handled correctly).  The
iteration stops when the residual

    res(x) = ‖f(x, θ) − x‖₂ / max(1, ‖x‖₂)

drops to ``tol`` or after ``maxiter`` updates, and returns ``f(x_k, θ)``.

Reverse (implicit function theorem): differentiating ``x* = f(x*, θ)`` gives
``dx* = (I − ∂ₓf)⁻¹ ∂_θf dθ``; for a cotangent ``x̄`` the adjoint ``w`` solves

    w = x̄ + (∂ₓf)ᵀ w      i.e.   (I − (∂ₓf)ᵀ) w = x̄,

and ``θ̄ = (∂_θf)ᵀ w``.  The adjoint system is solved matrix-free by GMRES
through :func:`qdiff.primitives.linear_solve` — one VJP of ``f`` per Krylov
step, evaluated at ``x*`` only — so memory does not grow with the number of
forward iterations, and because ``linear_solve`` has its own derivative rule
the backward pass is itself differentiable (grad of grad).  Arrays that ``f``
closes over are differentiated too (hoisted with :func:`jax.closure_convert`).

Contract for callers: ``f(x*, θ)`` must equal ``x*`` itself, not merely up to a
gauge (phase, sign, basis rotation) — gauge-fix the map first (CTMRG does), or
``I − ∂ₓf`` is singular on the gauge directions and the adjoint solve fails.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from ..errors import ConvergenceError, InputError
from .anderson import anderson_init, anderson_step
from .linear_solve import linear_solve
from .registry import Case, register

logger = logging.getLogger(__name__)

_TREE = jax.tree_util
_METHODS = ("anderson", "iterate")


@dataclass(frozen=True)
class FixedPointInfo:
    """Diagnostics of a fixed-point solve (a pytree of arrays; not differentiated).

    Attributes:
      iterations: number of updates performed (``f`` was evaluated ``iterations + 1`` times).
      residual: ``‖f(x) − x‖₂ / max(1, ‖x‖₂)`` at the last iterate ``x`` (before the final ``f``).
      converged: ``residual <= tol``.
    """

    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array


_TREE.register_dataclass(FixedPointInfo, data_fields=["iterations", "residual", "converged"], meta_fields=[])


# ----------------------------------------------------------------------------- real view of pytrees


def _split(tree):
    """Complex leaves -> stacked (real, imag); real leaves unchanged."""
    return _TREE.tree_map(lambda a: jnp.stack([a.real, a.imag]) if jnp.iscomplexobj(a) else a, tree)


def _merge(split_tree, like):
    """Inverse of :func:`_split` given a template ``like`` with the original dtypes."""
    return _TREE.tree_map(lambda a, l: (a[0] + 1j * a[1]).astype(l.dtype) if jnp.iscomplexobj(l) else a,
                          split_tree, like)


def _real_view(x0):
    """``(z0, to_tree)``: the flat real vector of pytree ``x0`` and its inverse map."""
    z0, unravel = ravel_pytree(_split(x0))
    template = _TREE.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), x0)

    def to_tree(z):
        return _merge(unravel(z), template)

    return z0, to_tree


# ----------------------------------------------------------------------------- validation


def _describe(tree) -> str:
    return str(_TREE.tree_map(lambda a: f"{a.dtype}{list(a.shape)}", tree))


def _validate(f, params, x0, method, tol, maxiter, anderson_m, adjoint_tol, adjoint_maxiter):
    if not callable(f):
        raise InputError(f"fixed_point: f must be a callable f(x, params), got {type(f).__name__}")
    if method not in _METHODS:
        raise InputError(f"fixed_point: method must be one of {_METHODS}, got {method!r}")
    for name, val in (("tol", tol), ("adjoint_tol", adjoint_tol)):
        if val is not None and not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
            raise InputError(f"fixed_point: {name} must be a positive finite number, got {val!r}")
    for name, val, allow_none in (("maxiter", maxiter, False), ("anderson_m", anderson_m, False),
                                  ("adjoint_maxiter", adjoint_maxiter, True)):
        if val is None and allow_none:
            continue
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise InputError(f"fixed_point: {name} must be a positive int, got {val!r}")
    leaves = _TREE.tree_leaves(x0)
    if not leaves:
        raise InputError("fixed_point: x0 has no array leaves")
    try:
        x0 = _TREE.tree_map(jnp.asarray, x0)
    except TypeError as exc:
        raise InputError(f"fixed_point: x0 must be a pytree of arrays: {exc}") from exc
    for leaf in _TREE.tree_leaves(x0):
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            raise InputError(f"fixed_point: x0 leaves must be float or complex arrays, got dtype {leaf.dtype}")
    try:
        out = jax.eval_shape(f, x0, params)
    except Exception as exc:
        raise InputError(f"fixed_point: evaluating f(x0, params) failed: {type(exc).__name__}: {exc}") from exc
    same_tree = _TREE.tree_structure(out) == _TREE.tree_structure(x0)
    if not same_tree or any(o.shape != a.shape or o.dtype != a.dtype
                            for o, a in zip(_TREE.tree_leaves(out), _TREE.tree_leaves(x0))):
        raise InputError("fixed_point: f(x, params) must return the structure, shapes and dtypes of x0; "
                         f"x0 is {_describe(x0)}, f returned {_describe(out)}")
    return x0


# ----------------------------------------------------------------------------- forward iteration


def _iterate(g, z0, method, tol, maxiter, anderson_m):
    """Run the while loop on the flat real map ``g``; return ``(g(z_k), FixedPointInfo)``."""

    def residual(z, gz):
        return jnp.linalg.norm(gz - z) / jnp.maximum(1.0, jnp.linalg.norm(z))

    gz0 = g(z0)
    state0 = (jnp.zeros((), jnp.int32), z0, gz0, residual(z0, gz0), anderson_init(z0, anderson_m))

    def cond(state):
        k, _, _, res, _ = state
        return (k < maxiter) & (res > tol)   # NaN residual stops the loop (and is not converged)

    def body(state):
        k, z, gz, _, acc = state
        if method == "anderson":
            z_new, acc = anderson_step(acc, z, gz)
        else:
            z_new = gz
        gz_new = g(z_new)
        return k + 1, z_new, gz_new, residual(z_new, gz_new), acc

    k, _, gz, res, _ = lax.while_loop(cond, body, state0)
    return gz, FixedPointInfo(iterations=k, residual=res, converged=res <= tol)


def _solve(f_conv, consts, params, x0, opts):
    """custom_vjp-wrapped solve of ``x = f_conv(x, params, *consts)``; returns ``(x*, info)``."""
    method, tol, maxiter, anderson_m, adjoint_tol, adjoint_maxiter = opts

    @jax.custom_vjp
    def run(params, consts, x0):
        z0, to_tree = _real_view(x0)

        def g(z):
            return ravel_pytree(_split(f_conv(to_tree(z), params, *consts)))[0]

        z_star, info = _iterate(g, z0, method, tol, maxiter, anderson_m)
        return to_tree(z_star), info

    def fwd(params, consts, x0):
        x_star, info = run(params, consts, x0)
        return (x_star, info), (x_star, params, consts, x0)

    def bwd(res, cotangents):
        x_star, params, consts, x0 = res
        x_bar = cotangents[0]
        z_star, to_tree = _real_view(x_star)

        def g(z, p, c):
            return ravel_pytree(_split(f_conv(to_tree(z), p, *c)))[0]

        _, to_tree_vjp = jax.vjp(to_tree, z_star)
        z_bar = to_tree_vjp(x_bar)[0]
        _, g_z_vjp = jax.vjp(lambda z: g(z, params, consts), z_star)
        w = linear_solve(lambda v: v - g_z_vjp(v)[0], z_bar, method="gmres", tol=adjoint_tol,
                         maxiter=adjoint_maxiter)
        _, g_pc_vjp = jax.vjp(lambda p, c: g(z_star, p, c), params, consts)
        params_bar, consts_bar = g_pc_vjp(w)
        return params_bar, consts_bar, _TREE.tree_map(jnp.zeros_like, x0)

    run.defvjp(fwd, bwd)
    return run(params, consts, x0)


def fixed_point_info(f: Callable[[Any, Any], Any], params: Any, x0: Any, *, method: str = "anderson",
                     tol: float = 1e-10, maxiter: int = 200, anderson_m: int = 5,
                     adjoint_tol: float | None = None, adjoint_maxiter: int | None = None,
                     raise_on_failure: bool = False) -> tuple[Any, FixedPointInfo]:
    """Solve ``x* = f(x*, params)`` and report diagnostics; see :func:`fixed_point`.

    Returns:
      ``(x_star, FixedPointInfo(iterations, residual, converged))``; the info is not differentiated.
    """
    x0 = _validate(f, params, x0, method, tol, maxiter, anderson_m, adjoint_tol, adjoint_maxiter)
    f_conv, consts = jax.closure_convert(f, x0, params)
    opts = (method, float(tol), int(maxiter), int(anderson_m),
            float(tol if adjoint_tol is None else adjoint_tol), adjoint_maxiter)
    x_star, info = _solve(f_conv, tuple(consts), params, x0, opts)
    if raise_on_failure:
        if isinstance(info.converged, jax.core.Tracer):
            raise InputError("fixed_point: raise_on_failure=True needs concrete values; under jit/vmap "
                             "use fixed_point_info and inspect info.converged instead")
        if not bool(info.converged):
            raise ConvergenceError(
                f"fixed_point: not converged after {int(info.iterations)} iterations "
                f"(residual {float(info.residual):.3e} > tol {tol:.1e}); the last iterate is in .state",
                state=x_star)
    if not isinstance(info.converged, jax.core.Tracer) and not bool(info.converged):
        logger.warning("fixed_point: not converged after %d iterations (residual %.3e > tol %.1e)",
                       int(info.iterations), float(info.residual), tol)
    return x_star, info


def fixed_point(f: Callable[[Any, Any], Any], params: Any, x0: Any, *, method: str = "anderson",
                tol: float = 1e-10, maxiter: int = 200, anderson_m: int = 5,
                adjoint_tol: float | None = None, adjoint_maxiter: int | None = None,
                raise_on_failure: bool = False) -> Any:
    """Solve ``x* = f(x*, params)``; differentiable w.r.t. ``params`` (and arrays ``f`` closes over).

    Args:
      f: the map ``f(x, params) -> x`` (same pytree structure, shapes and dtypes as ``x0``).  It must
        be gauge-fixed: ``f(x*, params) == x*`` exactly at the fixed point (see module docstring).
      params: pytree of arrays the map depends on; gradients flow to it by the implicit function theorem.
      x0: starting pytree of float/complex arrays.  The result does not depend on it (zero gradient).
      method: ``"anderson"`` (Anderson acceleration with history ``anderson_m``) or ``"iterate"``
        (plain iteration ``x ← f(x)``; needs a contraction).
      tol: stop when ``‖f(x) − x‖₂ / max(1, ‖x‖₂) ≤ tol``.
      maxiter: maximum number of updates.
      anderson_m: Anderson history length.
      adjoint_tol: relative residual target of the adjoint GMRES solve (default ``tol``).
      adjoint_maxiter: maximum Krylov iterations of the adjoint solve (default: linear_solve's).
      raise_on_failure: raise :class:`~qdiff.errors.ConvergenceError` (carrying the last iterate)
        when not converged; only outside ``jit``/``vmap``.  Otherwise non-convergence is logged
        (eagerly) and visible through :func:`fixed_point_info`.

    Returns:
      The fixed point ``x*``, a pytree like ``x0``.

    Raises:
      InputError: ``f`` not callable, ``f(x0, params)`` not shaped like ``x0``, bad options; raised
        before iterating.
      ConvergenceError: only with ``raise_on_failure=True``.
    """
    return fixed_point_info(f, params, x0, method=method, tol=tol, maxiter=maxiter, anderson_m=anderson_m,
                            adjoint_tol=adjoint_tol, adjoint_maxiter=adjoint_maxiter,
                            raise_on_failure=raise_on_failure)[0]


# ----------------------------------------------------------------------------- registry entry


def _unrolled(f, params, x0, *, method="anderson", steps: int = 160, **_ignored):
    """Reference: ``steps`` plain iterations, differentiated by ordinary JAX autodiff (unrolled)."""
    del method
    return lax.fori_loop(0, steps, lambda _, x: f(x, params), x0)


def _vector_map(x, p):
    a, b = p
    return jnp.tanh(a @ x + b)


def _tree_map(x, p):
    u, v = x["u"], x["v"]
    u_new = 0.5 * jnp.tanh(p["w"] @ v.ravel() + p["c"])
    v_new = 0.3 * jnp.cos(jnp.outer(u[:2], u[1:]) + p["d"])
    return {"u": u_new, "v": v_new}


def _complex_map(z, p):
    """Non-holomorphic contraction (uses conj and |z|²), complex params."""
    m, c = p
    return 0.4 * (m @ z) + 0.2 * jnp.conj(z) * jnp.exp(-jnp.abs(z) ** 2) + c


def _examples(key):
    k = jax.random.split(key, 10)
    n = 5
    a = jax.random.normal(k[0], (n, n))
    a = 0.5 * a / jnp.linalg.norm(a, 2)
    b = jax.random.normal(k[1], (n,))
    tree_params = {"w": 0.4 * jax.random.normal(k[2], (3, 4)) / 2, "c": jax.random.normal(k[3], (3,)),
                   "d": jax.random.normal(k[4], (2, 2))}
    tree_x0 = {"u": jnp.zeros(3), "v": jnp.zeros((2, 2))}
    mc = jax.random.normal(k[5], (n, n)) + 1j * jax.random.normal(k[6], (n, n))
    mc = mc / jnp.linalg.norm(mc, 2)
    cc = 0.5 * (jax.random.normal(k[7], (n,)) + 1j * jax.random.normal(k[8], (n,)))
    q = 0.3 * jax.random.normal(k[9], (n,))
    x0 = jnp.zeros(n)
    return [
        Case("vector x, tanh contraction, Anderson", ((a, b),),
             call=lambda fn, p: fn(_vector_map, p, x0, method="anderson")),
        Case("vector x, tanh contraction, plain iteration", ((a, b),),
             call=lambda fn, p: fn(_vector_map, p, x0, method="iterate")),
        Case("pytree x (dict of two arrays), dict params, Anderson", (tree_params,),
             call=lambda fn, p: fn(_tree_map, p, tree_x0)),
        Case("complex x, non-holomorphic map (conj, |z|^2), Anderson", ((mc, cc),),
             call=lambda fn, p: fn(_complex_map, p, jnp.zeros(n, complex))),
        Case("f closes over a differentiated array", ((a, b), q),
             call=lambda fn, p, s: fn(lambda x, pp: _vector_map(x, pp) * jnp.cos(s), p, x0)),
    ]


def _probe(x):
    total = 0.0
    for i, leaf in enumerate(_TREE.tree_leaves(x)):
        w = jnp.arange(1, leaf.size + 1, dtype=jnp.result_type(float)).reshape(leaf.shape)
        total = total + jnp.sum(jnp.abs(leaf) ** 2) + jnp.sum(w * jnp.real(leaf)) / (i + 1)
    return total


register("fixed_point", examples=_examples, probe=_probe, reference=_unrolled, order=2,
         rtol=1e-6)(fixed_point)

__all__ = ["fixed_point", "fixed_point_info", "FixedPointInfo"]
