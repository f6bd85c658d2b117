"""Iterative eigensolver for the lowest eigenpairs of a Hermitian operator: block LOBPCG.

:func:`lobpcg` finds the ``m`` lowest eigenpairs of a Hermitian (or real symmetric)
operator given only through its action ``apply_h(X)`` on blocks of vectors,
``X`` of shape ``(n, m)``.  It is the locally optimal block preconditioned
conjugate gradient method (Knyazev 2001) in the robust form of Hetmaniuk &
Lehoucq (2006) and Duersch, Shao, Yang & Gu (SIAM J. Sci. Comput. 40, C655, 2018):

* each iteration minimises the Rayleigh quotient over the span of
  ``S = [X, P, W]``: the current Ritz vectors ``X``, the previous search
  directions ``P`` and the preconditioned residuals ``W = T(R)``,
  ``R = HX − XΛ``;
* ``S`` is kept orthonormal so the Rayleigh–Ritz problem is a standard ``3m × 3m``
  Hermitian eigenproblem.  ``X`` and ``P`` are orthonormal by construction
  (``P``'s coefficients are orthogonalised against ``X``'s in the small
  coefficient space, so ``HP`` is updated without amplifying rounding errors);
  ``W`` is orthogonalised against ``[X, P]`` and within itself by two passes of
  projection + SVQB (Stathopoulos & Wu 2002), dropping directions that are
  numerically dependent, *before* ``H`` is applied to it — so ``HW`` is exact;
* optionally (``soft_locking=True``) converged vectors are soft-locked: they stay in
  the Rayleigh–Ritz problem but contribute no new residual or search directions.  By
  default every vector keeps its directions until the block has converged (with
  static shapes locking saves no work, and it slows convergence on clustered spectra);
  directions of fully converged vectors that are numerically dependent are dropped;
* all shapes are static (dropped directions are zero columns whose diagonal in
  the projected problem is pushed above the spectrum), so the whole solve is a
  ``lax.while_loop`` that runs under ``jax.jit``.

At the end ``HX`` is recomputed once from scratch: the returned eigenvalues are the
Rayleigh quotients and the residual norms those of the returned pairs.
No derivative is taken through the solver (the derivative of the SCF energy
does not need one), so it uses plain ``jnp.linalg.eigh``.

Calling it outside ``jit`` traces the loop anew on every call; inside a jitted
SCF step it is traced once per shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..errors import InputError

__all__ = ["LobpcgInfo", "lobpcg", "dense_eigh"]

_DROP_NORM = 1e-12  # a direction keeping less than this fraction of its norm after projection is dependent
_DROP_GRAM = 1e-12  # SVQB drops eigen-directions of the normalised Gram matrix below this
_REORTH_FACTOR = 1e3  # a second orthonormalisation pass when the first can leave errors above this × eps


@partial(jax.tree_util.register_dataclass, data_fields=["iterations", "residual_norms", "converged"],
         meta_fields=[])
@dataclass(frozen=True)
class LobpcgInfo:
    """Diagnostics of a :func:`lobpcg` solve.

    Attributes:
      iterations: number of LOBPCG iterations done (int scalar).
      residual_norms: ``(m,)`` 2-norms ``‖H x_j − λ_j x_j‖`` of the returned pairs (``‖x_j‖ = 1``).
      converged: True when the first ``n_conv`` residual norms are below ``tol``.
    """

    iterations: jax.Array
    residual_norms: jax.Array
    converged: jax.Array


def _adj(a):
    return jnp.conj(a).T


def _herm(a):
    return 0.5 * (a + _adj(a))


def _colnorms(v):
    return jnp.sqrt(jnp.sum(jnp.abs(v) ** 2, axis=0))


def _project_out(v, blocks):
    """``v − Σ_B B(Bᴴv)`` over orthonormal, mutually orthogonal blocks ``B`` (one Gram–Schmidt pass)."""
    return v - sum(b @ (_adj(b) @ v) for b in blocks)


def _svqb(v, valid, with_condition=False):
    """Orthonormalise the columns of ``v`` (zero columns where not ``valid``) by SVQB.

    Returns ``(v @ M, M, keep)``: ``M`` the ``(m, m)`` transformation and ``keep`` the mask of
    non-zero output columns; eigen-directions of the normalised Gram matrix below
    ``_DROP_GRAM`` (numerical rank deficiency) become zero columns.  With ``with_condition``
    also the condition number of the kept part of the normalised Gram matrix.
    """
    gram = _herm(_adj(v) @ v)
    d = jnp.sqrt(jnp.maximum(jnp.real(jnp.diagonal(gram)), 0.0))
    dinv = jnp.where(valid & (d > 0), 1.0 / jnp.where(d > 0, d, 1.0), 0.0)
    theta, u = jnp.linalg.eigh(dinv[:, None] * gram * dinv[None, :])
    keep = theta > _DROP_GRAM
    scale = jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, theta, 1.0)), 0.0)
    m = dinv[:, None] * u * scale[None, :]
    m = m.astype(v.dtype)
    if with_condition:
        kept = jnp.where(keep, theta, jnp.inf)
        cond = jnp.where(jnp.any(keep), jnp.max(jnp.where(keep, theta, 0.0)) / jnp.min(kept), 1.0)
        return v @ m, m, keep, cond
    return v @ m, m, keep


def _ortho_pass(v, blocks, valid):
    """One pass of (projection, drop of dependent columns, SVQB).

    Also returns the worst cancellation factor of the pass: the largest ``‖v‖/‖v − proj‖`` over the
    kept columns times the condition number of SVQB's normalised Gram matrix; the orthonormality
    error left behind is about this factor times the machine epsilon.
    """
    before = _colnorms(v)
    v = _project_out(v, blocks)
    after = _colnorms(v)
    valid = valid & (after > _DROP_NORM * before) & (before > 0)
    v = v * valid.astype(v.dtype)[None, :]
    ratio = jnp.max(jnp.where(valid, before / jnp.where(valid, after, 1.0), 1.0))
    v, _, valid, cond = _svqb(v, valid, with_condition=True)
    return v, valid, ratio * cond


def _orthonormalize_against(v, blocks, valid):
    """Columns of ``v`` made orthonormal and orthogonal to the orthonormal ``blocks``.

    One pass of (projection, drop of dependent columns, SVQB), and a second one, which restores
    orthogonality lost to cancellation in the first, only where that loss can exceed
    :data:`_REORTH_FACTOR` × machine epsilon (``lax.cond``: the common well-conditioned case
    costs one pass).  Returns ``(w, keep)``.
    """
    v, valid, factor = _ortho_pass(v, blocks, valid)

    def again(args):
        return _ortho_pass(args[0], blocks, args[1])[:2]

    return lax.cond(factor > _REORTH_FACTOR, again, lambda args: args, (v, valid))


def _combine(s, coef):
    """``s @ coef``; for complex data as one real product ``[Re s, Im s] @ [[Re c, Im c], [−Im c, Re c]]``
    (XLA's real matrix products run about 1.5× faster on CPU than its complex ones)."""
    if not jnp.iscomplexobj(s):
        return s @ coef
    a = jnp.concatenate([jnp.real(s), jnp.imag(s)], axis=1)
    cr, ci = jnp.real(coef), jnp.imag(coef)
    c = jnp.concatenate([jnp.concatenate([cr, ci], axis=1), jnp.concatenate([-ci, cr], axis=1)], axis=0)
    r = a @ c
    k = coef.shape[1]
    return lax.complex(r[:, :k], r[:, k:])


def _rayleigh_ritz(x, hx):
    """Rotate the orthonormal block ``x`` to Ritz vectors: returns ``(λ, x C, hx C)``."""
    lam, c = jnp.linalg.eigh(_herm(_adj(x) @ hx))
    return lam, x @ c, hx @ c


def _concrete(x):
    """``x`` as a NumPy value, or None when it is traced."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _check_scalar(x, name, integer):
    """Positive real (or integer) scalar, possibly traced; checked where concrete."""
    kind = "integer" if integer else "number"
    try:
        dt = jnp.asarray(x).dtype
    except TypeError:
        raise InputError(f"{name} must be a positive {kind}, got {x!r}") from None
    ok_type = jnp.issubdtype(dt, jnp.integer) if integer else jnp.issubdtype(dt, jnp.floating) or \
        jnp.issubdtype(dt, jnp.integer)
    if isinstance(x, bool) or jnp.ndim(x) != 0 or not ok_type:
        raise InputError(f"{name} must be a positive {kind} scalar, got {x!r}")
    value = _concrete(x)
    if value is not None and not (np.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive {kind}, got {x!r}")


def _check_tol(tol, m):
    """``tol``: a positive scalar or one positive value per column ``(m,)``; traced allowed."""
    if jnp.ndim(tol) == 0:
        _check_scalar(tol, "tol", integer=False)
        return
    try:
        arr = jnp.asarray(tol)
    except TypeError:
        raise InputError(f"tol must be a positive number or an (m,) array of them, got {tol!r}") from None
    if arr.shape != (m,) or not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise InputError(f"tol must be a positive scalar or a real array of shape ({m},) (one per column), "
                         f"got shape {arr.shape} and dtype {arr.dtype}")
    value = _concrete(tol)
    if value is not None and not np.all(value > 0):
        raise InputError(f"every tol entry must be > 0 (infinity allowed), got {value}")


def _check_inputs(apply_h, x0, precond, tol, maxiter, n_conv):
    if not callable(apply_h):
        raise InputError(f"apply_h must be callable, got {type(apply_h).__name__}")
    if precond is not None and not callable(precond):
        raise InputError(f"precond must be callable or None, got {type(precond).__name__}")
    x0 = jnp.asarray(x0)
    if x0.ndim != 2:
        raise InputError(f"x0 must be a block of vectors of shape (n, m), got shape {x0.shape}")
    n, m = x0.shape
    if m < 1 or n < m:
        raise InputError(f"x0 must have 1 <= m <= n (shape (n, m)), got {x0.shape}")
    if not (jnp.issubdtype(x0.dtype, jnp.floating) or jnp.issubdtype(x0.dtype, jnp.complexfloating)):
        raise InputError(f"x0 must be float or complex, got dtype {x0.dtype}")
    _check_tol(tol, m)
    _check_scalar(maxiter, "maxiter", integer=True)
    n_conv = m if n_conv is None else n_conv
    if isinstance(n_conv, bool) or not isinstance(n_conv, (int, np.integer)) or not 1 <= n_conv <= m:
        raise InputError(f"n_conv must be an integer in [1, {m}], got {n_conv!r}")
    out = jax.eval_shape(apply_h, jax.ShapeDtypeStruct(x0.shape, x0.dtype))
    if getattr(out, "shape", None) != x0.shape:
        raise InputError(f"apply_h must map an (n, m) block to an (n, m) block: got "
                         f"{getattr(out, 'shape', type(out).__name__)} for input {x0.shape}")
    if jnp.iscomplexobj(jnp.zeros((), out.dtype)) and not jnp.iscomplexobj(x0):
        raise InputError("apply_h returns complex vectors for a real x0; pass a complex x0")
    if precond is not None:
        tout = jax.eval_shape(precond, jax.ShapeDtypeStruct(x0.shape, x0.dtype),
                              jax.ShapeDtypeStruct((m,), jnp.real(jnp.zeros((), x0.dtype)).dtype))
        if getattr(tout, "shape", None) != x0.shape:
            raise InputError(f"precond(R, eigenvalues) must return an array of R's shape {x0.shape}, "
                             f"got {getattr(tout, 'shape', type(tout).__name__)}")
    return x0, tol, maxiter, int(n_conv)


def lobpcg(apply_h: Callable, x0, *, precond: Callable | None = None, tol=1e-10,
           maxiter: int = 100, n_conv: int | None = None, soft_locking: bool = False,
           recompute_residuals: bool = True):
    """Lowest ``m`` eigenpairs of a Hermitian operator by preconditioned block LOBPCG.

    Args:
      apply_h: ``apply_h(X) -> HX`` for blocks ``X`` of shape ``(n, m)``; ``H`` Hermitian
        (real symmetric for real ``x0``).  Zero columns must map to zero columns (true for
        any linear operator).
      x0: ``(n, m)`` initial block (float64 or complex128), full column rank; its dtype is the
        working dtype.  Any starting guess works (random is fine); previous eigenvectors
        make it fast.
      precond: optional ``precond(R, eigenvalues) -> T``, ``R`` the ``(n, m)`` residual block
        (zero columns for soft-locked pairs) and ``eigenvalues`` the ``(m,)`` current Ritz
        values; should approximate ``(H − λ_j)⁻¹`` column-wise and be positive definite, e.g.
        the Teter–Payne–Allan kinetic preconditioner.  Default: identity.
      tol: convergence threshold on each residual norm ``‖H x_j − λ_j x_j‖₂`` (``‖x_j‖ = 1``,
        in the units of ``H``): a scalar, or an ``(m,)`` array with one threshold per column
        (``inf`` allowed: that column need not converge), e.g. tight for occupied and loose for
        empty bands.  May be traced: an SCF that tightens it every step does not recompile.
      maxiter: maximal number of iterations (Python int or traced integer scalar).
      n_conv: only the first ``n_conv`` pairs must converge (the rest are buffer vectors that
        speed up convergence when ``λ_m`` is close to ``λ_{m+1}``); default ``m``.
      soft_locking: stop generating search directions for pairs already below ``tol`` (they
        stay in the Rayleigh–Ritz problem).  Off by default: with static shapes it saves no
        work, and on clustered spectra it slows convergence (a locked vector's remaining error
        limits its near-degenerate neighbours): 314 instead of 176 iterations on the plane-wave
        model of ``benchmarks/dft_eigensolver.py`` (Ecut 10, 8 bands), 124 instead of 84 at Ecut 20.
      recompute_residuals: apply ``H`` once more after the loop to return Rayleigh quotients and
        residual norms computed from scratch (default).  With False the loop's own Ritz values
        and (recurrence-updated) residual norms are returned, saving one application of ``H``
        — what an SCF, which re-solves with a new ``H`` every step, wants.

    Returns:
      ``(eigenvalues, eigenvectors, info)``: ascending ``(m,)`` real eigenvalues, ``(n, m)``
      orthonormal eigenvectors (columns) and a :class:`LobpcgInfo`.  Not converging within
      ``maxiter`` is reported by ``info.converged``, not raised.

    Raises:
      InputError: bad shapes or options (checked before any computation).
    """
    x0, tol, maxiter, n_conv = _check_inputs(apply_h, x0, precond, tol, maxiter, n_conv)
    for name, flag in (("soft_locking", soft_locking), ("recompute_residuals", recompute_residuals)):
        if not isinstance(flag, bool):
            raise InputError(f"{name} must be True or False, got {flag!r}")
    n, m = x0.shape
    dtype = x0.dtype
    rdtype = jnp.real(jnp.zeros((), dtype)).dtype
    tol = jnp.broadcast_to(jnp.asarray(tol, rdtype), (m,))
    maxiter = jnp.asarray(maxiter)

    x = jnp.linalg.qr(x0)[0]
    lam, x, hx = _rayleigh_ritz(x, apply_h(x))
    r = hx - x * lam[None, :]
    zeros = jnp.zeros_like(x)
    state = (jnp.asarray(0), x, hx, zeros, zeros, jnp.zeros(m, bool), lam, r, _colnorms(r))

    def not_done(state):
        it, *_, rnorm = state
        return (it < maxiter) & jnp.any(rnorm[:n_conv] >= tol[:n_conv])

    def step(state):
        it, x, hx, p, hp, p_valid, lam, r, rnorm = state
        # soft locking: converged pairs get no new directions (off: every pair keeps improving)
        active = rnorm >= tol if soft_locking else jnp.ones(m, bool)
        act = active.astype(dtype)[None, :]
        w = r * act if precond is None else jnp.asarray(precond(r * act, lam), dtype) * act
        w, w_valid = _orthonormalize_against(w, (x, p), active)
        hw = apply_h(w)
        # Rayleigh–Ritz on S = [X, P, W] (orthonormal); upper blocks of Sᴴ H S, Hermitian by construction.
        xhx, xhp, xhw = _adj(x) @ hx, _adj(x) @ hp, _adj(x) @ hw
        php, phw, whw = _adj(p) @ hp, _adj(p) @ hw, _adj(w) @ hw
        a = jnp.block([[_herm(xhx), xhp, xhw],
                       [_adj(xhp), _herm(php), phw],
                       [_adj(xhw), _adj(phw), _herm(whw)]])
        valid = jnp.concatenate([jnp.ones(m, bool), p_valid, w_valid])
        a = jnp.where(valid[:, None] & valid[None, :], a, 0)
        big = 2.0 * jnp.sqrt(jnp.sum(jnp.abs(a) ** 2)) + 1.0  # dropped directions: above the spectrum
        a = a + jnp.diag(jnp.where(valid, 0.0, big)).astype(dtype)
        theta, c = jnp.linalg.eigh(a)
        cx = c[:, :m]
        lam_new = theta[:m].astype(rdtype)
        # Search directions: the [P, W] part of the Ritz coefficients of the active pairs,
        # orthonormalised against the Ritz coefficients themselves in the exact coefficient
        # space, so P stays orthonormal and ⊥ X and HP is updated without error amplification.
        u = cx.at[:m, :].set(0) * act
        cp, p_valid_new = _orthonormalize_against(u, (cx,), active)
        coef = jnp.concatenate([cx, cp], axis=1)
        # [X P W] and [HX HP HW] times the coefficients, as one matrix product
        both = _combine(jnp.concatenate([jnp.concatenate([x, p, w], axis=1),
                                         jnp.concatenate([hx, hp, hw], axis=1)], axis=0), coef)
        x_new, p_new, hx_new, hp_new = both[:n, :m], both[:n, m:], both[n:, :m], both[n:, m:]
        r_new = hx_new - x_new * lam_new[None, :]
        return (it + 1, x_new, hx_new, p_new, hp_new, p_valid_new, lam_new, r_new, _colnorms(r_new))

    it, x, _, _, _, _, lam, _, rnorm = lax.while_loop(not_done, step, state)
    if recompute_residuals:
        # Honest residuals from a fresh H X (the loop updates H X by linear combinations).  The
        # pairs are not rotated again: a rotation inside a (near-)degenerate cluster could raise
        # individual residuals up to √2·tol.
        hx = apply_h(x)
        lam = jnp.real(jnp.sum(jnp.conj(x) * hx, axis=0)) / jnp.real(jnp.sum(jnp.conj(x) * x, axis=0))
        rnorm = _colnorms(hx - x * lam[None, :])
        order = jnp.argsort(lam)  # ascending (the last Rayleigh–Ritz already is, up to rounding)
        lam, x, rnorm = lam[order], x[:, order], rnorm[order]
    info = LobpcgInfo(iterations=it, residual_norms=rnorm, converged=jnp.all(rnorm[:n_conv] < tol[:n_conv]))
    return lam, x, info


def dense_eigh(h, nbands: int):
    """Lowest ``nbands`` eigenpairs of a dense Hermitian matrix (the small-basis fallback).

    Args:
      h: ``(…, n, n)`` Hermitian / real symmetric matrix (batched allowed).
      nbands: number of lowest pairs, ``1 <= nbands <= n``.

    Returns:
      ``(eigenvalues (…, nbands), eigenvectors (…, n, nbands))``, ascending.

    Raises:
      InputError: ``h`` not square or ``nbands`` out of range.
    """
    h = jnp.asarray(h)
    if h.ndim < 2 or h.shape[-1] != h.shape[-2]:
        raise InputError(f"h must be a square matrix (…, n, n), got shape {h.shape}")
    n = h.shape[-1]
    if isinstance(nbands, bool) or not isinstance(nbands, (int, np.integer)) or not 1 <= nbands <= n:
        raise InputError(f"nbands must be an integer in [1, {n}], got {nbands!r}")
    w, v = jnp.linalg.eigh(0.5 * (h + jnp.conj(jnp.swapaxes(h, -1, -2))))
    return w[..., :nbands], v[..., :, :nbands]
