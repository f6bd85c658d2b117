"""Differentiable linear solves ``A x = b`` with a matrix or a matrix-free operator.

``linear_solve(A, b)`` returns ``x = A⁻¹ b``.  ``A`` is a square matrix or a
linear callable ``A(x)`` acting on arrays shaped like ``b``; the callable may
close over arrays being differentiated (e.g. ``lambda x: H(θ) @ x``).

Derivatives (implicit differentiation; :func:`jax.lax.custom_linear_solve`):

* forward: ``ẋ = A⁻¹ (ḃ − Ȧ x)``, one more solve with ``A``;
* reverse: ``b̄ = A⁻ᵀ x̄`` (JAX's cotangent convention, i.e. one *adjoint* solve
  with ``Aᴴ`` up to complex conjugation), and the cotangent of every array ``A``
  closes over is the VJP of the matvec ``x ↦ A x`` applied to ``−b̄``:
  ``θ̄ = −(∂(A x)/∂θ)ᵀ b̄``.

The iterative solver itself is never differentiated (no iteration count in the
backward pass), and because the tangent/adjoint systems are again
``custom_linear_solve`` calls, derivatives of any order are available, as are
``jit`` and ``vmap`` (over ``b`` and over batched arrays ``A`` closes over).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from ..errors import InputError
from . import krylov
from .registry import Case, register

logger = logging.getLogger(__name__)

_METHODS = ("auto", "cg", "gmres", "dense")


def _is_matrix_like(a: Any) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype")


def _validate(A, b, method, tol, maxiter, x0, restart):
    """Check the arguments and return ``(A, b, x0, matrix, out_dtype)`` before any solve."""
    if method not in _METHODS:
        raise InputError(f"linear_solve: method must be one of {_METHODS}, got {method!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise InputError(f"linear_solve: tol must be a positive finite number, got {tol!r}")
    for name, val in (("maxiter", maxiter), ("restart", restart)):
        if val is not None and (not isinstance(val, int) or isinstance(val, bool) or val < 1):
            raise InputError(f"linear_solve: {name} must be a positive int or None, got {val!r}")
    if not _is_matrix_like(b):
        try:
            b = jnp.asarray(b)
        except TypeError as exc:
            raise InputError(f"linear_solve: b must be an array, got {type(b).__name__}") from exc
    if b.ndim == 0:
        raise InputError("linear_solve: b must have at least one dimension, got a scalar")
    if not (jnp.issubdtype(b.dtype, jnp.inexact) or jnp.issubdtype(b.dtype, jnp.integer)):
        raise InputError(f"linear_solve: b must be a real or complex array, got dtype {b.dtype}")
    if not jnp.issubdtype(b.dtype, jnp.inexact):
        b = b.astype(jnp.result_type(float))

    if callable(A):
        matrix = False
        try:
            out = jax.eval_shape(A, b)
        except Exception as exc:
            raise InputError(f"linear_solve: A(b) failed for b of shape {b.shape} and dtype {b.dtype}: "
                             f"{type(exc).__name__}: {exc}") from exc
        if not hasattr(out, "shape") or out.shape != b.shape:
            raise InputError(f"linear_solve: A must map arrays of b's shape {b.shape} to the same shape, "
                             f"got {getattr(out, 'shape', type(out).__name__)}")
        if not jnp.issubdtype(out.dtype, jnp.inexact):
            raise InputError(f"linear_solve: A(b) must be real or complex, got dtype {out.dtype}")
        dtype = jnp.result_type(out.dtype, b.dtype)
    elif _is_matrix_like(A) or isinstance(A, (list, tuple)):
        try:
            A = jnp.asarray(A)
        except TypeError as exc:
            raise InputError(f"linear_solve: A must be a square matrix or a linear callable, "
                             f"got {type(A).__name__}") from exc
        matrix = True
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise InputError(f"linear_solve: A must be a square (n, n) matrix, got shape {A.shape}")
        if not (jnp.issubdtype(A.dtype, jnp.inexact) or jnp.issubdtype(A.dtype, jnp.integer)):
            raise InputError(f"linear_solve: A must be real or complex, got dtype {A.dtype}")
        if b.shape[0] != A.shape[1]:
            raise InputError(f"linear_solve: b has shape {b.shape} but A is {A.shape}; "
                             f"b.shape[0] must be {A.shape[1]}")
        if b.ndim > 2:
            raise InputError(f"linear_solve: with a matrix A, b must be (n,) or (n, k), got {b.shape}")
        dtype = jnp.result_type(A.dtype, b.dtype, float)
        A = A.astype(dtype)
    else:
        raise InputError(f"linear_solve: A must be a square matrix or a linear callable, got {type(A).__name__}")

    b = b.astype(dtype)
    if x0 is not None:
        x0 = jnp.asarray(x0)
        if x0.shape != b.shape:
            raise InputError(f"linear_solve: x0 has shape {x0.shape}, expected b's shape {b.shape}")
        x0 = x0.astype(dtype)
    return A, b, x0, matrix, dtype


def _as_matrix(matvec: Callable, like: jax.Array) -> jax.Array:
    """The dense matrix of ``matvec`` on arrays shaped like ``like`` (acting on ``like.ravel()``)."""
    n = like.size
    eye = jnp.eye(n, dtype=like.dtype)
    cols = jax.vmap(lambda e: matvec(e.reshape(like.shape)).ravel())(eye)
    return cols.T


def _krylov_solver(method: str, tol: float, maxiter: int | None, restart: int, x0=None):
    """``solve(matvec, rhs)`` running CG or GMRES (never differentiated; see module docstring)."""

    def solve(matvec, rhs):
        guess = None if x0 is None else lax.stop_gradient(x0)
        if method == "cg":
            return krylov.cg(matvec, rhs, guess, tol=tol, maxiter=maxiter)[0]
        return krylov.gmres(matvec, rhs, guess, tol=tol, restart=restart, maxiter=maxiter)[0]

    return solve


def linear_solve(A, b, *, method: str = "auto", tol: float = 1e-10, maxiter: int | None = None,
                 x0=None, hermitian: bool = False, positive: bool = False,
                 restart: int | None = None) -> jax.Array:
    """Solve ``A x = b`` for ``x``, differentiably (see the module docstring for the rules).

    Args:
      A: a square ``(n, n)`` matrix (then ``b`` is ``(n,)`` or ``(n, k)``), or a linear callable
        ``A(x)`` mapping arrays shaped like ``b`` to the same shape.  The callable may close over
        arrays being differentiated; it must be linear in ``x``.
      b: right-hand side, real or complex.
      method: ``"cg"`` (conjugate gradients; ``A`` must be Hermitian positive definite),
        ``"gmres"`` (restarted GMRES, any non-singular ``A``), ``"dense"`` (LU via
        ``jnp.linalg.solve``; a callable is materialised with ``b.size`` matvecs) or ``"auto"``:
        CG when ``positive=True``; otherwise dense for a matrix ``A`` and GMRES for a callable.
      tol: relative residual target ``‖A x − b‖ ≤ tol·‖b‖`` of the iterative methods (also used
        for the tangent/adjoint solves).
      maxiter: maximum number of Krylov iterations (matvecs); default ``10·b.size``.
      x0: initial guess for the primal solve (not differentiated; the solution does not depend on it).
      hermitian: ``A = Aᴴ``; lets the adjoint solve reuse ``A`` instead of transposing the matvec.
      positive: ``A`` is Hermitian positive definite (implies ``hermitian``).
      restart: GMRES Krylov subspace size between restarts; default ``min(b.size, 30)``.

    Returns:
      ``x`` with ``b``'s shape and the promoted dtype of ``A`` and ``b``.

    Raises:
      InputError: unknown method, non-callable non-array ``A``, non-square ``A``, ``b`` whose shape
        does not match ``A``, a callable ``A`` that does not map ``b``'s shape to itself, bad
        ``tol``/``maxiter``/``x0``.  Raised before any computation.

    Convergence of CG/GMRES is not reported; check ``‖A x − b‖`` when in doubt.
    """
    A, b, x0, matrix, dtype = _validate(A, b, method, tol, maxiter, x0, restart)
    hermitian = bool(hermitian or positive)
    if method == "auto":
        method = "cg" if positive else ("dense" if matrix else "gmres")
    if method == "cg":
        hermitian = True

    if method == "dense":
        M = A if matrix else _as_matrix(lambda v: A(v).astype(dtype), b)
        if matrix:
            return jnp.linalg.solve(M, b)
        return jnp.linalg.solve(M, b.ravel()).reshape(b.shape)

    if matrix:
        mat = A

        def matvec(v):
            return mat @ v
    else:
        op = A

        def matvec(v):
            return op(v).astype(dtype)

    restart = min(b.size, 30) if restart is None else restart
    solve = _krylov_solver(method, tol, maxiter, restart, x0)
    adjoint = _krylov_solver(method, tol, maxiter, restart)
    complex_ = jnp.issubdtype(dtype, jnp.complexfloating)

    if hermitian and complex_:
        # Aᵀ = conj(A): solve Aᵀ y = c as y = conj(A⁻¹ conj(c)), with A z = conj(Aᵀ conj(z)).
        def transpose_solve(vecmat, rhs):
            def herm(z):
                return jnp.conj(vecmat(jnp.conj(z)))

            return jnp.conj(adjoint(herm, jnp.conj(rhs)))
    else:
        def transpose_solve(vecmat, rhs):
            return adjoint(vecmat, rhs)

    # For real symmetric A, ``symmetric=True`` makes the adjoint reuse the matvec (no transpose).
    return lax.custom_linear_solve(matvec, b, solve, transpose_solve, symmetric=hermitian and not complex_)


# ----------------------------------------------------------------------------- registry entry


def _dense_reference(A, b, **_ignored):
    """Plain-JAX reference: materialise ``A`` and call ``jnp.linalg.solve`` (autodiff through LU)."""
    b = jnp.asarray(b)
    if callable(A):
        out = jax.eval_shape(A, b)
        dtype = jnp.result_type(out.dtype, b.dtype)
        b = b.astype(dtype)
        M = _as_matrix(lambda v: A(v).astype(dtype), b)
        return jnp.linalg.solve(M, b.ravel()).reshape(b.shape)
    return jnp.linalg.solve(A, b.astype(jnp.result_type(A, b)))


def _spd(p):
    n = p.shape[0]
    return p @ p.T / n + jnp.eye(n)


def _hpd(p):
    n = p.shape[0]
    return p @ p.conj().T / n + jnp.eye(n)


def _nonsym(p):
    n = p.shape[0]
    return jnp.eye(n) * 2.0 + 0.4 * p / jnp.sqrt(n)


def _examples(key):
    k = jax.random.split(key, 8)
    n = 6
    p_real = jax.random.normal(k[0], (n, n))
    p_cplx = jax.random.normal(k[1], (n, n)) + 1j * jax.random.normal(k[2], (n, n))
    b_real = jax.random.normal(k[3], (n,))
    b_cplx = jax.random.normal(k[4], (n,)) + 1j * jax.random.normal(k[5], (n,))
    a_nonsym = _nonsym(jax.random.normal(k[6], (n, n)))
    return [
        Case("SPD real, callable closing over params, CG", (p_real, b_real),
             call=lambda fn, p, b: fn(lambda x: _spd(p) @ x, b, method="cg")),
        Case("Hermitian positive complex, callable, CG", (p_cplx, b_cplx),
             call=lambda fn, p, b: fn(lambda x: _hpd(p) @ x, b, positive=True)),
        Case("non-symmetric real, callable, GMRES", (p_real, b_real),
             call=lambda fn, p, b: fn(lambda x: _nonsym(p) @ x, b, method="gmres")),
        Case("non-Hermitian complex, callable, GMRES", (p_cplx, b_cplx),
             call=lambda fn, p, b: fn(lambda x: _nonsym(p) @ x, b, method="gmres")),
        Case("non-symmetric real matrix, GMRES", (a_nonsym, b_real), kwargs={"method": "gmres"}),
        Case("complex matrix, real b, dense", (a_nonsym + 0.3j * jnp.eye(n), b_real), kwargs={"method": "dense"}),
    ]


def _probe(x):
    w = jnp.arange(1, x.size + 1, dtype=jnp.result_type(float)).reshape(x.shape)
    return jnp.sum(jnp.abs(x) ** 2) + jnp.sum(w * jnp.real(x)) - jnp.sum(jnp.imag(x))


register("linear_solve", examples=_examples, probe=_probe, reference=_dense_reference,
         modes=("fwd", "rev"), order=2, rtol=1e-6)(linear_solve)

__all__ = ["linear_solve"]
