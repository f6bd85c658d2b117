"""Symmetric (C4v) corner-transfer-matrix renormalisation group with implicit gradients.

One CTMRG step (Nishino–Okunishi; the C4v form of Liao et al., PRX 9, 031041 (2019)):

1. enlarged corner ``M[(α,r),(β,d)] = Σ C[γ,δ] T[γ,u,α] T[δ,l,β] a[u,l,d,r]``,
   a symmetric ``χD² × χD²`` matrix;
2. ``M = V diag(w) Vᵀ`` with the registry's :func:`qdiff.primitives.eigh`; keep the χ
   eigenpairs of largest ``|w|`` as the isometry ``P``;
3. ``C' = Pᵀ M P = diag(w)``, ``T' = Pᵀ (T a) P``; both normalised to unit Frobenius norm.

**Gauge.**  Eigenvectors are defined up to sign, and up to a rotation inside a
degenerate eigenspace, so the raw step reproduces a converged environment only up
to a gauge transformation ``(C, T) → (Uᵀ C U, Uᵀ T U)``.  The implicit-function
derivative needs an exact fixed point, so every step ends in a *canonical gauge*
that depends only on the gauge class of its output: the kept eigenvalues are
ordered by value (degenerate ones adjacent); inside each degenerate block the basis
diagonalises the block of ``X = Σ_s r_s T'[:, s, :]`` for a fixed generic vector
``r``; finally each basis vector's sign is chosen so that the resolvent vector
``(c − X)⁻¹ e₀`` is non-negative.  The step map is then invariant under gauge
transformations of its input, so at convergence ``f(env, a) = env`` holds exactly
(to rounding) and gauge directions lie in the kernel of its Jacobian.

**Derivative.**  The converged environment is differentiated by the implicit-function
theorem through the registry's :func:`qdiff.primitives.fixed_point` (plain forward
iteration, convergence judged by the measure below): for ``env* = f(env*, a)`` and a
cotangent ``ē``,

    ā = (∂_a f)ᵀ w,    w = ē + (∂_env f)ᵀ w,

solved by plain iteration (``adjoint_method="iterate"``, the default; it contracts at the
rate of the forward CTMRG iteration, the same Jacobian transposed) or by restarted GMRES
(``adjoint_method="gmres"``; far fewer transposed steps when that rate is close to 1 — at
the D=3 Heisenberg optimum, χ=54, 25 instead of ~130 for a relative residual 1e-7).  Memory does not depend on the number of CTMRG steps, and the
step is traced once in the forward loop and linearised once at the fixed point.

Convergence is judged on the corner spectrum (the change of the normalised ``|diag C|``),
together with the fixed-point residual of the environment itself, which the implicit
derivative needs: the measure is the larger of the two (:func:`_ctm_residual`).

**Compilation.**  The functions here are plain ``jit``-compatible JAX; for the fastest
compilation of a program that contains CTMRG, pass :func:`qdiff.tensornet.compiler_options`
to *your outermost* ``jax.jit`` (qdiff's own entry points — :func:`optimize_ipeps`, the CLI,
the benchmarks — do).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .. import primitives as _prims
from ..primitives.fixed_point import relative_change
from ..primitives.fixed_point_adjoint import ADJOINT_METHODS
from ..primitives.registry import Case, register
from ..errors import InputError
from ..precision import require_x64
from .ipeps import CTMEnv, double_layer, initial_env, random_tensor, symmetrize
from .ising_tensors import ising_peps_tensor

# Relative gap below which two kept corner eigenvalues are treated as degenerate.
_DEGENERACY_TOL = 1e-9


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class CTMInfo:
    """Diagnostics of a CTMRG run.

    Attributes:
      iterations: CTMRG steps taken by the forward iteration.
      spectrum_change: last change ``‖s_k − s_{k−1}‖₁`` of the normalised corner spectrum.
      converged: ``spectrum_change ≤ tol`` and (fixed-point mode) ``residual ≤ tol``.
      truncation: discarded weight ``Σ_{discarded} w² / Σ w²`` of the last step.
      residual: last ``‖f(env) − env‖ / max(1, ‖env‖)`` (canonical gauge).
    """

    iterations: jax.Array
    spectrum_change: jax.Array
    converged: jax.Array
    truncation: jax.Array
    residual: jax.Array


def _probe_vector(n: int, dtype) -> jax.Array:
    """A fixed, generic weight vector on the bulk leg (no symmetric structure)."""
    k = jnp.arange(n, dtype=dtype)
    return 1.0 / (k + jnp.pi) + 0.1 * jnp.cos(2.399963 * k + 0.3)


def _enlarged_corner(C, T, a):
    """``M[(α,r),(β,d)]`` as a (χD², χD²) matrix (symmetrised)."""
    chi, D2 = T.shape[0], T.shape[1]
    CT = jnp.einsum("gd,gua->dua", C, T)
    CTT = jnp.einsum("dua,dlb->ualb", CT, T)
    M = jnp.einsum("ualb,uldr->arbd", CTT, a).reshape(chi * D2, chi * D2)
    return 0.5 * (M + M.T)


def _renormalised_edge(P, T, a):
    """``T'[i, r, j] = Σ P[(α,u),i] T[α,l,β] a[u,l,d,r] P[(β,d),j]``."""
    chi, D2 = T.shape[0], T.shape[1]
    P3 = P.reshape(chi, D2, -1)
    PT = jnp.einsum("aui,alb->uilb", P3, T)
    PTa = jnp.einsum("uilb,uldr->ibdr", PT, a)
    return jnp.einsum("ibdr,bdj->irj", PTa, P3)


def _canonical_gauge(w, P, T_new):
    """Rotate/sign the kept eigenvectors into the canonical gauge (see module docstring).

    Args:
      w: kept eigenvalues, ordered descending by value.
      P: the matching eigenvectors (columns).
      T_new: ``Pᵀ (T a) P`` in the basis of ``P``.

    Returns:
      ``T`` in the canonical basis (``C = diag(w)`` is unchanged by the rotation).
    """
    chi = w.shape[0]
    r = _probe_vector(T_new.shape[1], T_new.dtype)
    X = jnp.einsum("isj,s->ij", T_new, r)
    X = 0.5 * (X + X.T)
    # degenerate blocks of w (contiguous because w is sorted by value)
    ws = lax.stop_gradient(w)
    scale = jnp.maximum(jnp.max(jnp.abs(ws)), jnp.finfo(ws.dtype).tiny)
    gaps = jnp.abs(ws[:-1] - ws[1:])  # |·|: cut (zero) values follow negative kept ones
    new_block = jnp.concatenate([jnp.zeros((1,), jnp.int32),
                                 (gaps > _DEGENERACY_TOL * scale).astype(jnp.int32)])
    block = jnp.cumsum(new_block)
    same = block[:, None] == block[None, :]
    Xb = jnp.where(same, X, 0.0)
    shift = 4.0 * (lax.stop_gradient(jnp.linalg.norm(X)) + 1.0)
    _, Q = _prims.eigh(Xb + jnp.diag(shift * block.astype(X.dtype)))
    # Q is block diagonal with the blocks in order; the sign of its columns is fixed below
    T_rot = jnp.einsum("ai,asb,bj->isj", Q, T_new, Q)
    Xr = lax.stop_gradient(jnp.einsum("isj,s->ij", T_rot, r))
    # resolvent vector (c − X)⁻¹ e₀ = Σ_n Xⁿ e₀ / c^{n+1} (Neumann series; ‖X‖/c ≤ 1/2)
    Xc = Xr / (2.0 * jnp.linalg.norm(Xr) + 1.0)
    e0 = jnp.zeros((chi,), Xr.dtype).at[0].set(1.0)
    _, v = lax.fori_loop(0, 2 * chi + 8, lambda _, s: (Xc @ s[0], s[1] + Xc @ s[0]), (e0, e0))
    sigma = jnp.where(v >= 0, 1.0, -1.0).astype(T_new.dtype)
    return T_rot * sigma[:, None, None] * sigma[None, None, :]


def _multiplet_cut(s: jax.Array, multiplet_tol: float) -> jax.Array:
    """Number of values to keep so that no (near-)multiplet of ``s`` is split.

    Args:
      s: the ``χ+1`` largest ``|w|``, descending (``s[χ]`` is the largest discarded one).
      multiplet_tol: relative gap ``(s_{j−1} − s_j)/s_{j−1}`` at or below which ``s_{j−1}`` and
        ``s_j`` belong to one multiplet.

    Returns:
      the largest ``k ≤ χ`` with a gap between ``s_{k−1}`` and ``s_k`` (``χ`` when there is none).
    """
    keep = s.shape[0] - 1
    gap = (s[:-1] - s[1:]) > multiplet_tol * s[:-1]  # gap[j]: keeping j + 1 values splits nothing
    k = jnp.max(jnp.where(gap, jnp.arange(1, keep + 1), 0))
    return jnp.where(k == 0, keep, k)


def _step(env: CTMEnv, a: jax.Array, chi: int, multiplet_tol: float | None = None) -> tuple[CTMEnv, jax.Array]:
    """One canonical-gauge CTMRG step; returns ``(new_env, discarded_weight)``.

    With ``multiplet_tol`` the kept set ends at the last spectral gap at or below χ (see
    :func:`_multiplet_cut`); the projector columns beyond the cut are zero, so ``C`` and ``T``
    keep their ``χ``-shapes (trailing zero rows/columns) and nothing recompiles when the cut moves.
    """
    M = _enlarged_corner(env.C, env.T, a)
    w_all, V = _prims.eigh(M)
    n = w_all.shape[0]
    keep = min(chi, n)
    w_fixed = lax.stop_gradient(w_all)
    if multiplet_tol is not None and keep < n:
        s_top, top = lax.top_k(jnp.abs(w_fixed), keep + 1)
        order, mask = top[:keep], jnp.arange(keep) < _multiplet_cut(s_top, multiplet_tol)
    else:
        _, order = lax.top_k(jnp.abs(w_fixed), keep)
        mask = jnp.ones((keep,), bool)
    # among the kept ones, order by value so degenerate eigenvalues are adjacent (cut ones last)
    rank = jnp.argsort(jnp.where(mask, -w_fixed[order], jnp.inf))
    order, mask = order[rank], mask[rank]
    # selection as a 0/1 matrix: products (and their transposes) instead of gathers/scatters
    select = ((jnp.arange(n)[:, None] == order[None, :]) & mask[None, :]).astype(V.dtype)
    w = w_all @ select
    P = V @ select
    T_new = _renormalised_edge(P, env.T, a)
    T_new = _canonical_gauge(w, P, T_new)
    if keep < chi:  # χ larger than χD²: pad with zeros (only for tiny toy cases)
        w = jnp.pad(w, (0, chi - keep))
        T_new = jnp.pad(T_new, ((0, chi - keep), (0, 0), (0, chi - keep)))
    total = jnp.sum(w_all ** 2)
    kept = jnp.sum(w ** 2)
    C_new = jnp.eye(chi, dtype=w.dtype) * (w / jnp.linalg.norm(w))[None, :]
    T_new = T_new / jnp.linalg.norm(T_new)
    return CTMEnv(C_new, T_new), lax.stop_gradient(1.0 - kept / total)


def ctm_step(env: CTMEnv, a: jax.Array, multiplet_tol: float | None = None) -> CTMEnv:
    """One symmetric CTMRG step in the canonical gauge: the map whose fixed point is the environment.

    ``multiplet_tol``: as in :func:`ctmrg_info`.
    """
    return _step(env, a, env.chi, multiplet_tol)[0]


def corner_spectrum(env: CTMEnv) -> jax.Array:
    """Normalised corner spectrum ``|diag C| / ‖diag C‖`` (descending for canonical environments)."""
    s = jnp.abs(jnp.diag(env.C))
    s = jnp.sort(s)[::-1]
    return s / jnp.linalg.norm(s)


def _spectrum_change(env: CTMEnv, env_new: CTMEnv) -> jax.Array:
    """``‖s(env_new) − s(env)‖₁`` of the normalised corner spectra."""
    return jnp.sum(jnp.abs(corner_spectrum(env_new) - corner_spectrum(env)))


def _ctm_update(env: CTMEnv, a: jax.Array, chi: int, multiplet_tol: float | None = None):
    """The map iterated by :func:`ctmrg_info`: one step, and ``(truncation, spectrum change, residual)``."""
    env_new, trunc = _step(env, a, chi, multiplet_tol)
    return env_new, (trunc, _spectrum_change(env, env_new), relative_change(env, env_new))


def _ctm_residual(env: CTMEnv, env_new: CTMEnv, aux) -> jax.Array:
    """Convergence measure: the larger of the corner-spectrum change and the relative change.

    The spectrum is the physical criterion; the relative change of the environment (entrywise
    meaningful in the canonical gauge) makes the result a fixed point, which the implicit
    derivative needs.  The edge tensor converges more slowly than the spectrum, so the second
    usually sets the step count.  Both come from :func:`_ctm_update`'s auxiliary output.
    """
    _, change, residual = aux
    return jnp.maximum(change, residual)


def _validate(a, chi, tol, max_iter, gradient, steps, multiplet_tol, adjoint_method="iterate"):
    shape = jnp.shape(a)
    if len(shape) != 4 or len(set(shape)) != 1:
        raise InputError(f"a must be a rank-4 tensor with four equal legs (D², D², D², D²), got shape {shape}")
    if jnp.iscomplexobj(a):
        raise InputError("a must be real (the symmetric CTMRG here assumes a real C4v-symmetric tensor)")
    if not isinstance(chi, int) or isinstance(chi, bool) or chi < 1:
        raise InputError(f"chi must be a positive integer, got {chi!r}")
    if not (tol > 0):
        raise InputError(f"tol must be positive, got {tol!r}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise InputError(f"max_iter must be a positive integer, got {max_iter!r}")
    if gradient not in ("fixed_point", "unrolled"):
        raise InputError(f"gradient must be 'fixed_point' or 'unrolled', got {gradient!r}")
    if not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    if multiplet_tol is not None and not (0 < multiplet_tol < 1):
        raise InputError(f"multiplet_tol must be None or in (0, 1), got {multiplet_tol!r}")
    if adjoint_method not in ADJOINT_METHODS:
        raise InputError(f"adjoint_method must be one of {ADJOINT_METHODS}, got {adjoint_method!r}")


def ctmrg_info(a: jax.Array, chi: int, *, tol: float = 1e-10, max_iter: int = 200,
               gradient: str = "fixed_point", steps: int = 40, adjoint_tol: float | None = None,
               env0: CTMEnv | None = None, multiplet_tol: float | None = None,
               adjoint_method: str = "iterate") -> tuple[CTMEnv, CTMInfo]:
    """Converged C4v CTMRG environment of the double-layer tensor ``a`` and diagnostics.

    Compiled with ``jax.jit`` (once per shape and options); for faster compilation, call it
    inside your own outermost ``jax.jit(..., compiler_options=qdiff.tensornet.compiler_options())``.

    Args:
      a: C4v-symmetric real tensor ``a[u, l, d, r]`` (a double layer, or a classical
        Boltzmann-weight tensor), legs of equal dimension.
      chi: environment (boundary) bond dimension χ.
      tol: forward convergence threshold on the change of the normalised corner spectrum
        (ℓ¹ norm) between steps, and on the fixed-point residual ``‖f(env) − env‖``.
      max_iter: most forward CTMRG steps (and most adjoint steps).
      gradient: ``"fixed_point"`` (default) — :func:`qdiff.primitives.fixed_point`: forward
        iteration without AD, then the implicit-function derivative (module docstring; memory
        independent of the iteration count); ``"unrolled"`` — exactly ``steps`` CTMRG
        steps differentiated by plain reverse-mode AD, each step rematerialised
        (``jax.checkpoint``), memory growing with ``steps``.
      steps: number of steps of the ``"unrolled"`` mode.
      adjoint_tol: relative size of the last adjoint update at which the adjoint iteration
        stops (at most ``max_iter`` steps; see :mod:`qdiff.primitives.fixed_point_adjoint`);
        default ``tol``.
      env0: starting environment (default :func:`~qdiff.tensornet.ipeps.initial_env`).
      multiplet_tol: ``None`` (default): keep the χ largest ``|w|`` of the enlarged corner.  A
        number ε: never split a (near-)multiplet — with ``s₁ ≥ s₂ ≥ …`` the descending ``|w|``,
        keep the first ``k ≤ χ`` values, ``k`` the largest with ``s_{k+1} < (1 − ε) s_k`` (χ if
        none), and zero the rest (``C``, ``T`` keep their χ-shapes; nothing is cut when
        χ ≥ χD²).  A near-degenerate pair at the cut then no longer makes the energy jump when
        the pair swaps order; jumps remain where a gap at the cut crosses ε, and where CTMRG
        reaches a different fixed point.  When the gap at χ exceeds ε the result equals the
        plain truncation.
      adjoint_method: how the gradient's linear system ``(I − (∂_env f)ᵀ) w = ē`` is solved.
        ``"iterate"`` (default): plain (Richardson) iteration, the cheapest program; it contracts
        at the rate of CTMRG's own Jacobian, so where that has an eigenvalue close to 1 (slow
        CTMRG convergence, near-degenerate corner multiplets) it stops at ``max_iter`` steps, or on
        a small relative update far from the solution, and the gradient is inaccurate (a warning
        is logged when the final update exceeds ``10·adjoint_tol``).  ``"gmres"``: restarted
        GMRES(30) on the same system, at most ``max_iter`` matrix–vector products (one transposed
        CTMRG step each), stopping at a relative residual ``adjoint_tol``.

    Returns:
      ``(env, info)``; ``env`` is in the canonical gauge, ``info`` a :class:`CTMInfo`.

    Raises:
      InputError: malformed ``a`` or options.
    """
    require_x64("ctmrg")
    _validate(a, chi, tol, max_iter, gradient, steps, multiplet_tol, adjoint_method)
    if env0 is None:
        env0 = initial_env(lax.stop_gradient(a), chi)
    return _ctmrg_jit(a, env0, chi=chi, tol=float(tol), max_iter=max_iter, gradient=gradient, steps=steps,
                      adjoint_tol=None if adjoint_tol is None else float(adjoint_tol),
                      multiplet_tol=None if multiplet_tol is None else float(multiplet_tol),
                      adjoint_method=adjoint_method)


@partial(jax.jit, static_argnames=("chi", "tol", "max_iter", "gradient", "steps", "adjoint_tol", "multiplet_tol",
                                   "adjoint_method"))
def _ctmrg_jit(a, env0, *, chi, tol, max_iter, gradient, steps, adjoint_tol, multiplet_tol, adjoint_method):
    """The compiled body of :func:`ctmrg_info` (one compilation per option set and shape)."""
    if gradient == "unrolled":
        step = jax.checkpoint(lambda env, _: (_step(env, a, chi, multiplet_tol)[0], None))
        env_prev, _ = lax.scan(step, env0, None, length=steps - 1)
        env, trunc = _step(env_prev, a, chi, multiplet_tol)
        change = _spectrum_change(env_prev, env)
        residual = relative_change(env_prev, env)
        return env, CTMInfo(jnp.asarray(steps), lax.stop_gradient(change), change <= tol, trunc,
                            lax.stop_gradient(residual))
    # fixed_point counts updates (its f runs iterations + 1 times); a CTMRG step is one run of the
    # step map, so max_iter steps are max_iter − 1 updates and the steps taken are iterations + 1
    env, info = _prims.fixed_point_info(
        partial(_ctm_update, chi=chi, multiplet_tol=multiplet_tol), a, lax.stop_gradient(env0), method="iterate",
        tol=tol, maxiter=max_iter - 1, residual=_ctm_residual, has_aux=True, adjoint_method=adjoint_method,
        adjoint_tol=tol if adjoint_tol is None else adjoint_tol, adjoint_maxiter=max_iter)
    truncation, change, residual = info.aux
    return env, CTMInfo(info.iterations + 1, change, info.converged, truncation, residual)


_EXAMPLE_CHI = 6


def _z2_c4v_project(t):
    """Tangent projection onto C4v- and Z2-symmetric tensors (Z2: flip every index of a D=2 tensor)."""
    (A,) = t
    A = symmetrize(A)
    return (0.5 * (A + jnp.flip(A)),)


def _examples(key):
    """A generic D=2 state, and the Z2-symmetric Ising PEPS in its ordered phase (β = 0.6).

    The second one's environment has exactly degenerate pairs in its corner spectrum; its
    tangents are kept Z2-symmetric so the degeneracy persists along the finite differences.
    """
    A = random_tensor(key, 2, 2)
    A = A + 0.4 * ising_peps_tensor(0.25)  # short correlation length: CTMRG converges quickly
    call = lambda fn, A: (fn(double_layer(symmetrize(A)), _EXAMPLE_CHI, tol=1e-12, max_iter=300), symmetrize(A))
    return [
        Case("random C4v D=2 state, chi=6", (A / jnp.linalg.norm(A),), call=call, project=lambda t: (symmetrize(t[0]),),
             fd_step=1e-3, check_vmap=False),
        Case("Z2 Ising PEPS beta=0.6, degenerate corner spectrum, chi=6", (ising_peps_tensor(0.6),), call=call,
             project=_z2_c4v_project, fd_step=1e-3, check_vmap=False),
    ]


def _probe(outputs):
    """Norm per site ``ln κ`` plus a nearest-neighbour correlator: gauge-invariant functions of the environment."""
    from .observables import log_kappa, rdm_nn

    env, A = outputs
    rho = rdm_nn(A, env)
    zz = jnp.diag(jnp.array([1.0, -1.0, -1.0, 1.0]))
    xx = jnp.kron(jnp.array([[0.0, 1.0], [1.0, 0.0]]), jnp.array([[0.0, 1.0], [1.0, 0.0]]))
    return log_kappa(double_layer(A), env) + jnp.sum(rho * (zz + 0.5 * xx))


def _unrolled_reference(a, chi, **options):
    options = {k: v for k, v in options.items() if k not in ("gradient", "steps")}
    return ctmrg_info(a, chi, gradient="unrolled", steps=120, **options)[0]


@register("tensornet.ctmrg", examples=_examples, probe=_probe, reference=_unrolled_reference, rtol=1e-5,
          tags=("slow",))
def ctmrg(a: jax.Array, chi: int, **options) -> CTMEnv:
    """Converged C4v CTMRG environment of ``a`` (fixed-point gradient); see :func:`ctmrg_info`."""
    return ctmrg_info(a, chi, **options)[0]


__all__ = ["ctmrg", "ctmrg_info", "ctm_step", "corner_spectrum", "CTMInfo"]
