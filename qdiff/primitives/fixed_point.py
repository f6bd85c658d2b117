"""Fixed points ``x* = f(x*, θ)`` with implicit (memory-free) derivatives.

Forward: one ``lax.while_loop`` of plain iteration ``x ← f(x, θ)`` on the pytree ``x``, or
of Anderson acceleration (:mod:`qdiff.primitives.anderson`) on its real view (the flattened
pytree with complex leaves as real and imaginary parts, so maps that involve ``conj`` —
normalisations, densities — are handled correctly).  The loop evaluates ``f`` at one
place, so the map is traced once per program; it stops when the residual

    res(x, f(x)) = ‖f(x, θ) − x‖₂ / max(1, ‖x‖₂)       (:func:`relative_change`)

— or the caller's own ``residual(x, f(x))`` — drops to ``tol``, or after ``maxiter``
updates, and returns ``f(x_k, θ)``.

Reverse (implicit function theorem): differentiating ``x* = f(x*, θ)`` gives
``dx* = (I − ∂ₓf)⁻¹ ∂_θf dθ``; for a cotangent ``x̄`` the adjoint ``w`` solves

    w = x̄ + (∂ₓf)ᵀ w      i.e.   (I − (∂ₓf)ᵀ) w = x̄,

and ``θ̄ = (∂_θf)ᵀ w``.  The step is linearised once, at ``x*``; ``w`` and ``θ̄`` come from
one linear system (:mod:`qdiff.primitives.fixed_point_adjoint`) solved by GMRES
(``adjoint_method="gmres"``) or by plain iteration of the equation above
(``adjoint_method="iterate"``, which contracts at the rate of the forward plain iteration
and puts the transposed step into the compiled program once).  Memory does not grow with
the number of forward iterations, and because the solve is a
:func:`jax.lax.custom_linear_solve`, the backward pass is itself differentiable (grad of
grad).  Arrays that ``f`` closes over are differentiated too (hoisted into explicit
arguments by :func:`qdiff.primitives.jaxpr_cache.hoist`, which also lets ``jit`` reuse the
compiled loop for eager calls).

Contract for callers: ``f(x*, θ)`` must equal ``x*`` itself, not merely up to a
gauge (phase, sign, basis rotation) — gauge-fix the map first (CTMRG does), or
``I − ∂ₓf`` is singular on the gauge directions and the adjoint solve fails.  A caller's
``residual`` must likewise vanish only at a fixed point (combine a physical criterion with
:func:`relative_change`), since the derivative is exact only there.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..errors import ConvergenceError, InputError
from ._fixed_point_examples import examples as _examples, probe as _probe, unrolled as _unrolled
from ._real_view import flatten_real, real_view, squared_norm
from .anderson import anderson_init, anderson_step
from .fixed_point_adjoint import ADJOINT_METHODS, adjoint_solve
from .jaxpr_cache import hoist
from .registry import register

logger = logging.getLogger(__name__)

_TREE = jax.tree_util
_METHODS = ("anderson", "iterate")


@dataclass(frozen=True)
class FixedPointInfo:
    """Diagnostics of a fixed-point solve (a pytree of arrays; not differentiated).

    Attributes:
      iterations: number of updates performed (``f`` was evaluated ``iterations + 1`` times).
      residual: the stopping measure at the last iterate ``x`` (before the final ``f``): the
        caller's ``residual(x, f(x))``, by default ``‖f(x) − x‖₂ / max(1, ‖x‖₂)``.
      converged: ``residual <= tol``.
      aux: with ``has_aux=True``, the auxiliary output of the final evaluation of ``f``; else ``None``.
    """

    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array
    aux: Any = None


_TREE.register_dataclass(FixedPointInfo, data_fields=["iterations", "residual", "converged", "aux"],
                         meta_fields=[])


def relative_change(x: Any, fx: Any) -> jax.Array:
    """``‖fx − x‖₂ / max(1, ‖x‖₂)`` over all leaves of two like-shaped pytrees (complex by modulus).

    The default convergence measure of :func:`fixed_point`, for callers who combine it with their own.
    """
    pairs = list(zip(_TREE.tree_leaves(x), _TREE.tree_leaves(fx)))
    change = sum(squared_norm(b - a) for a, b in pairs)
    size = sum(squared_norm(a) for a, _ in pairs)
    return jnp.sqrt(change) / jnp.maximum(1.0, jnp.sqrt(size))


# ----------------------------------------------------------------------------- validation


def _describe(tree) -> str:
    return str(_TREE.tree_map(lambda a: f"{a.dtype}{list(a.shape)}", tree))


def _check_options(f, method, tol, maxiter, anderson_m, residual, has_aux, adjoint_method, adjoint_tol,
                   adjoint_maxiter):
    if not callable(f):
        raise InputError(f"fixed_point: f must be a callable f(x, params), got {type(f).__name__}")
    if method not in _METHODS:
        raise InputError(f"fixed_point: method must be one of {_METHODS}, got {method!r}")
    if adjoint_method not in ADJOINT_METHODS:
        raise InputError(f"fixed_point: adjoint_method must be one of {ADJOINT_METHODS}, got {adjoint_method!r}")
    if residual is not None and not callable(residual):
        raise InputError(f"fixed_point: residual must be None or a callable residual(x, fx[, aux]), "
                         f"got {type(residual).__name__}")
    if not isinstance(has_aux, bool):
        raise InputError(f"fixed_point: has_aux must be True or False, got {has_aux!r}")
    for name, val in (("tol", tol), ("adjoint_tol", adjoint_tol)):
        if val is not None and not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
            raise InputError(f"fixed_point: {name} must be a positive finite number, got {val!r}")
    for name, val, low in (("maxiter", maxiter, 0), ("anderson_m", anderson_m, 1),
                           ("adjoint_maxiter", adjoint_maxiter, 1)):
        if val is None and name == "adjoint_maxiter":
            continue
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < low:
            kind = "non-negative" if low == 0 else "positive"
            raise InputError(f"fixed_point: {name} must be a {kind} int, got {val!r}")


def _check_x0(x0):
    if not _TREE.tree_leaves(x0):
        raise InputError("fixed_point: x0 has no array leaves")
    try:
        x0 = _TREE.tree_map(jnp.asarray, x0)
    except TypeError as exc:
        raise InputError(f"fixed_point: x0 must be a pytree of arrays: {exc}") from exc
    for leaf in _TREE.tree_leaves(x0):
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            raise InputError(f"fixed_point: x0 leaves must be float or complex arrays, got dtype {leaf.dtype}")
    return x0


def _like(out, x0) -> bool:
    return (_TREE.tree_structure(out) == _TREE.tree_structure(x0)
            and all(o.shape == a.shape and o.dtype == a.dtype
                    for o, a in zip(_TREE.tree_leaves(out), _TREE.tree_leaves(x0))))


def _trace_map(f, x0, params, has_aux):
    """Trace ``f`` once: ``(pure, consts, aux_shape)``, or InputError if its output does not fit ``x0``."""
    try:
        pure, consts, out = hoist(f, x0, params, return_shape=True)
    except Exception as exc:
        raise InputError(f"fixed_point: evaluating f(x0, params) failed: {type(exc).__name__}: {exc}") from exc
    aux = None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise InputError("fixed_point: with has_aux=True, f(x, params) must return a pair (x_new, aux), "
                             f"got {_describe(out)}")
        out, aux = out
    if not _like(out, x0):
        raise InputError("fixed_point: f(x, params) must return the structure, shapes and dtypes of x0; "
                         f"x0 is {_describe(x0)}, f returned {_describe(out)}")
    return pure, consts, aux


def _trace_residual(residual, x0, has_aux, aux_shape):
    """Hoist the caller's ``residual(x, fx[, aux])`` (``None``: the default); it must give a real scalar."""
    if residual is None:
        return None, ()
    args = (x0, x0, aux_shape) if has_aux else (x0, x0)
    try:
        pure, consts, out = hoist(residual, *args, return_shape=True)
    except Exception as exc:
        call = "residual(x0, x0, aux)" if has_aux else "residual(x0, x0)"
        raise InputError(f"fixed_point: evaluating {call} failed: {type(exc).__name__}: {exc}") from exc
    if not (hasattr(out, "shape") and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        raise InputError("fixed_point: residual must return a real floating-point scalar, got "
                         f"{_describe(out) if _TREE.tree_leaves(out) else type(out).__name__}")
    return pure, tuple(lax.stop_gradient(c) for c in consts)


# ----------------------------------------------------------------------------- forward iteration


def _iterate(g, residual, z0, aux0, method, tol, maxiter, anderson_m):
    """One while loop of ``z ← g(z)`` (``g(z) -> (g(z), aux)``); return ``(g(z_k), FixedPointInfo)``.

    ``z`` is a pytree for plain iteration and the flat real view for Anderson.  The state
    carries the next point to evaluate, so ``g`` stands once in the loop body; the first pass
    evaluates ``g(z0)`` (the residual starts at ``inf``).
    """
    acc0 = anderson_init(z0, anderson_m) if method == "anderson" else None
    real = jnp.result_type(*(jnp.finfo(leaf.dtype).dtype for leaf in _TREE.tree_leaves(z0)))
    state0 = (jnp.zeros((), jnp.int32), z0, z0, jnp.asarray(jnp.inf, real), aux0, acc0)

    def cond(state):
        k, _, _, res, _, _ = state
        return (k <= maxiter) & (res > tol)   # NaN residual stops the loop (and is not converged)

    def body(state):
        k, z, _, _, _, acc = state
        gz, aux = g(z)
        res = jnp.asarray(residual(z, gz, aux), real)
        if method == "anderson":
            z_next, acc = anderson_step(acc, z, gz)
        else:
            z_next = gz
        return k + 1, z_next, gz, res, aux, acc

    k, _, gz, res, aux, _ = lax.while_loop(cond, body, state0)
    return gz, FixedPointInfo(iterations=k - 1, residual=res, converged=res <= tol, aux=aux)


def _zero_cotangent(tree):
    """Zero cotangents (``float0`` for integer leaves, as :func:`jax.vjp` gives)."""
    return _TREE.tree_map(lambda a: jnp.zeros_like(a) if jnp.issubdtype(jnp.result_type(a), jnp.inexact)
                          else np.zeros(jnp.shape(a), jax.dtypes.float0), tree)


def _solve(pure_f, consts, pure_res, res_consts, params, x0, opts):
    """custom_vjp-wrapped solve of ``x = f(x, params)``; returns ``(x*, info)``."""
    method, tol, maxiter, anderson_m, has_aux, aux_spec, adjoint_method, adjoint_tol, adjoint_maxiter = opts

    def step(x, p, c):
        out = pure_f((x, p), c)
        return out if has_aux else (out, None)

    @jax.custom_vjp
    def run(params, consts, res_consts, x0):
        if method == "anderson":   # Anderson mixes flat real vectors
            z0, decode = real_view(x0)
            encode = flatten_real
        else:
            z0, decode, encode = x0, (lambda z: z), (lambda x: x)

        def g(z):
            fx, aux = step(decode(z), params, consts)
            return encode(fx), aux

        def residual(z, gz, aux):
            if pure_res is None:   # the same value on the pytree and on its real view
                return relative_change(z, gz)
            return pure_res((decode(z), decode(gz)) + ((aux,) if has_aux else ()), res_consts)

        aux0 = None if aux_spec is None else _TREE.tree_unflatten(
            aux_spec[0], [jnp.zeros(shape, dtype) for shape, dtype in aux_spec[1]])
        z_star, info = _iterate(g, residual, z0, aux0, method, tol, maxiter, anderson_m)
        return decode(z_star), info

    def fwd(params, consts, res_consts, x0):
        x_star, info = run(params, consts, res_consts, x0)
        return (x_star, info), (x_star, params, consts, res_consts)

    def bwd(saved, cotangents):
        x_star, params, consts, res_consts = saved
        z_star, to_tree = real_view(x_star)
        z_bar = jax.vjp(to_tree, z_star)[1](cotangents[0])[0]
        leaves, treedef = _TREE.tree_flatten((params, consts))
        diff = [i for i, leaf in enumerate(leaves) if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
        theta = [leaves[i] for i in diff]
        u0, u_to_tree = real_view(theta)

        def g_theta(z, u):
            new = list(leaves)
            for i, value in zip(diff, u_to_tree(u)):
                new[i] = value
            p, c = _TREE.tree_unflatten(treedef, new)
            return flatten_real(step(to_tree(z), p, c)[0])

        _, step_vjp = jax.vjp(g_theta, z_star, u0)   # the one linearisation of the step, at x*
        _, u_bar = adjoint_solve(step_vjp, z_bar, u0.size, method=adjoint_method, tol=adjoint_tol,
                                 maxiter=adjoint_maxiter)
        theta_bar = jax.vjp(flatten_real, theta)[1](u_bar.astype(u0.dtype))[0]
        bars = _zero_cotangent(leaves)
        for i, value in zip(diff, theta_bar):
            bars[i] = value
        params_bar, consts_bar = _TREE.tree_unflatten(treedef, bars)
        return params_bar, consts_bar, _zero_cotangent(res_consts), _zero_cotangent(x_star)

    run.defvjp(fwd, bwd)
    return run(params, consts, res_consts, x0)


@partial(jax.jit, static_argnames=("pure_f", "pure_res", "opts"))
def _solve_jit(consts, res_consts, params, x0, *, pure_f, pure_res, opts):
    """Compiled once per map structure and options (``pure_f``/``pure_res`` are cached by ``hoist``)."""
    return _solve(pure_f, consts, pure_res, res_consts, params, x0, opts)


def fixed_point_info(f: Callable[[Any, Any], Any], params: Any, x0: Any, *, method: str = "anderson",
                     tol: float = 1e-10, maxiter: int = 200, anderson_m: int = 5,
                     residual: Callable[[Any, Any], Any] | None = None, has_aux: bool = False,
                     adjoint_method: str = "gmres", adjoint_tol: float | None = None,
                     adjoint_maxiter: int | None = None,
                     raise_on_failure: bool = False) -> tuple[Any, FixedPointInfo]:
    """Solve ``x* = f(x*, params)`` and report diagnostics; see :func:`fixed_point`.

    Returns:
      ``(x_star, FixedPointInfo(iterations, residual, converged, aux))``; the info is not differentiated.
    """
    _check_options(f, method, tol, maxiter, anderson_m, residual, has_aux, adjoint_method, adjoint_tol,
                   adjoint_maxiter)
    x0 = _check_x0(x0)
    pure_f, consts, aux_shape = _trace_map(f, x0, params, has_aux)
    pure_res, res_consts = _trace_residual(residual, x0, has_aux, aux_shape)
    aux_spec = None
    if has_aux:
        aux_leaves, aux_tree = _TREE.tree_flatten(aux_shape)
        aux_spec = (aux_tree, tuple((tuple(a.shape), jnp.dtype(a.dtype)) for a in aux_leaves))
    if adjoint_maxiter is None and adjoint_method == "iterate":
        adjoint_maxiter = max(int(maxiter), 1)
    opts = (method, float(tol), int(maxiter), int(anderson_m), has_aux, aux_spec, adjoint_method,
            float(tol if adjoint_tol is None else adjoint_tol), adjoint_maxiter)
    x_star, info = _solve_jit(consts, res_consts, params, x0, pure_f=pure_f, pure_res=pure_res, opts=opts)
    concrete = not isinstance(info.converged, jax.core.Tracer)
    if raise_on_failure:
        if not concrete:
            raise InputError("fixed_point: raise_on_failure=True needs concrete values; under jit/vmap "
                             "use fixed_point_info and inspect info.converged instead")
        if not bool(info.converged):
            raise ConvergenceError(
                f"fixed_point: not converged after {int(info.iterations)} iterations "
                f"(residual {float(info.residual):.3e} > tol {tol:.1e}); the last iterate is in .state",
                state=x_star)
    if concrete and not bool(np.all(info.converged)):
        logger.warning("fixed_point: not converged after %d iterations (residual %.3e > tol %.1e)",
                       int(np.max(info.iterations)), float(np.max(info.residual)), tol)
    return x_star, info


def fixed_point(f: Callable[[Any, Any], Any], params: Any, x0: Any, *, method: str = "anderson",
                tol: float = 1e-10, maxiter: int = 200, anderson_m: int = 5,
                residual: Callable[[Any, Any], Any] | None = None, has_aux: bool = False,
                adjoint_method: str = "gmres", adjoint_tol: float | None = None,
                adjoint_maxiter: int | None = None, raise_on_failure: bool = False) -> Any:
    """Solve ``x* = f(x*, params)``; differentiable w.r.t. ``params`` (and arrays ``f`` closes over).

    Args:
      f: the map ``f(x, params) -> x`` (same pytree structure, shapes and dtypes as ``x0``), or
        ``-> (x, aux)`` with ``has_aux=True``.  It must be gauge-fixed: ``f(x*, params) == x*``
        exactly at the fixed point (see module docstring).  It is traced once.
      params: pytree of arrays the map depends on; gradients flow to it by the implicit function theorem.
      x0: starting pytree of float/complex arrays.  The result does not depend on it (zero gradient).
      method: ``"anderson"`` (Anderson acceleration with history ``anderson_m``) or ``"iterate"``
        (plain iteration ``x ← f(x)``; needs a contraction).
      tol: stop when the residual (below) is ``≤ tol``.
      maxiter: maximum number of updates (``0``: return ``f(x0)``).
      anderson_m: Anderson history length.
      residual: the caller's stopping measure ``residual(x, fx) -> real scalar`` of an iterate ``x``
        and its image ``fx = f(x)`` (pytrees like ``x0``), e.g. the change of a spectrum; with
        ``has_aux=True`` it is called as ``residual(x, fx, aux)``, so a quantity ``f`` computes
        anyway need not be recomputed.  Default :func:`relative_change`, ``‖fx − x‖₂ / max(1, ‖x‖₂)``.
        It must vanish only at a fixed point (combine it with :func:`relative_change` if needed).
        Not differentiated.  For eager calls, a function with the same trace (jaxpr) reuses the
        compiled loop.
      has_aux: ``f`` returns ``(x_new, aux)``; ``aux`` (a pytree of arrays, not differentiated)
        of the final evaluation is returned as ``info.aux`` by :func:`fixed_point_info`.
      adjoint_method: how the reverse pass solves ``w = x̄ + (∂ₓf)ᵀ w``: ``"gmres"`` (any map
        with ``I − ∂ₓf`` non-singular) or ``"iterate"`` (plain iteration of that equation, which
        converges when plain forward iteration does, at the same rate; the cheapest program).
      adjoint_tol: relative tolerance of the adjoint solve (default ``tol``; see
        :mod:`qdiff.primitives.fixed_point_adjoint` for the exact stopping rules).
      adjoint_maxiter: most adjoint iterations (``"iterate"``: default ``maxiter``; ``"gmres"``:
        matvecs, default ``10·size``).
      raise_on_failure: raise :class:`~qdiff.errors.ConvergenceError` (carrying the last iterate)
        when not converged; only outside ``jit``/``vmap``.  Otherwise non-convergence is logged
        (eagerly) and visible through :func:`fixed_point_info`.

    Returns:
      The fixed point ``x*``, a pytree like ``x0``.

    Raises:
      InputError: ``f`` not callable, ``f(x0, params)`` not shaped like ``x0`` (or not a pair with
        ``has_aux``), ``residual`` not callable or not returning a real scalar, bad options; raised
        before iterating.
      ConvergenceError: only with ``raise_on_failure=True``.
    """
    return fixed_point_info(f, params, x0, method=method, tol=tol, maxiter=maxiter, anderson_m=anderson_m,
                            residual=residual, has_aux=has_aux, adjoint_method=adjoint_method,
                            adjoint_tol=adjoint_tol, adjoint_maxiter=adjoint_maxiter,
                            raise_on_failure=raise_on_failure)[0]


register("fixed_point", examples=_examples, probe=_probe, reference=_unrolled, order=2,
         rtol=1e-6)(fixed_point)

__all__ = ["fixed_point", "fixed_point_info", "FixedPointInfo", "relative_change"]
