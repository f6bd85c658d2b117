"""Levin–Nave tensor renormalisation group (TRG) for the 2D classical Ising model.

The partition function of the square-lattice Ising model, ``H = -J Σ_<ij> s_i s_j
- h Σ_i s_i``, is the contraction of an infinite square-lattice network of one
rank-4 tensor ``T[l, u, r, d]`` per site (:func:`ising_tensor`).  One TRG step
(Levin & Nave, PRL 99, 120601 (2007)) splits ``T`` by truncated SVD along one
diagonal on sublattice A and along the other on sublattice B, and contracts the
four triangles around each plaquette into a new tensor on a lattice rotated by
45° with half as many sites.  After ``n`` steps one tensor stands for ``2^n``
sites; tensors are normalised every step and the logs accumulated, so

    ln Z / N = Σ_n 2^-n ln‖T_n‖ + 2^-steps ln Tr T_steps,

the last term closing the remaining tensor on a one-site torus.

Derivatives come from AD through the truncated SVDs (Liao, Liu, Wang & Xiang,
PRX 9, 031041 (2019)); ``trg_lnz`` supports forward and reverse mode (first
order) and forward-over-forward for second order.  Known limitation: reverse over
reverse (``grad(grad)``) through the ``lax.scan`` of fixed-χ steps gives NaN (the
same computation unrolled is finite and correct); ``trg_observables`` therefore uses
forward-over-forward, which is also the cheapest mode for one scalar β.  Energy ``u = -∂(ln Z/N)/∂β`` and specific heat
``c = β² ∂²(ln Z/N)/∂β²`` (:func:`trg_observables`).  The SVD is
``qdiff.primitives.svd``, whose reverse rule broadens ``1/(s_i² - s_j²)`` so that
degenerate singular values (which the Ising tensors have) give finite second
derivatives; ``svd="jax"`` selects ``jnp.linalg.svd`` for comparison.

Levin–Nave TRG rather than HOTRG: its step costs O(χ⁶) (HOTRG: O(χ⁷)), χ = 24
already reaches the accuracy targets away from βc, and its only decompositions
are the SVDs whose derivatives are the point of the exercise.

Bond dimensions grow exactly (no truncation) until they reach χ; those first few
steps have their own static shapes and are unrolled (their number depends on χ
only), the rest run in one ``lax.scan``, so compile time does not depend on
``steps``.  The kept number of singular values is capped by the exact rank of
each matricisation (2 for the site tensor, then ``d_{n-1}²``), so no exactly-zero
singular value is ever kept (its square root would have an infinite derivative).
"""

from __future__ import annotations

import functools
import logging
import math

import jax
import jax.numpy as jnp
from jax import lax

from ..errors import InputError
from .contraction import contract

logger = logging.getLogger(__name__)

_SVD_CHOICES = ("qdiff", "jax")
_SQRT_FLOOR = 1e-15  # relative floor of singular values under the square root (round-off level)


def ising_tensor(beta, J=1.0, h=0.0):
    """Site tensor ``T[l, u, r, d]`` of the square-lattice Ising model (bond dimension 2).

    Each bond's Boltzmann weight ``exp(βJ s s') = cosh βJ + s s' sinh βJ`` is split as
    ``Σ_a W[s, a] V[s', a]`` with ``W = [[cosh βJ, sinh βJ], [cosh βJ, -sinh βJ]]`` on a
    site's right and down legs and ``V = [[1, 1], [1, -1]]`` on its left and up legs;
    then ``T[l, u, r, d] = Σ_s exp(βhs) V[s, l] V[s, u] W[s, r] W[s, d]``.  The
    split is smooth in β, J and h everywhere (no square roots), for either sign of J.

    Args:
      beta: inverse temperature (1/J units), scalar.
      J: nearest-neighbour coupling (> 0 ferromagnetic).
      h: uniform magnetic field.

    Returns:
      ``(2, 2, 2, 2)`` array, float64.
    """
    k = jnp.asarray(beta, jnp.float64) * J
    c, s = jnp.cosh(k), jnp.sinh(k)
    w = jnp.stack([jnp.stack([c, s]), jnp.stack([c, -s])])
    v = jnp.array([[1.0, 1.0], [1.0, -1.0]])
    spins = jnp.array([1.0, -1.0])
    field = jnp.exp(jnp.asarray(beta, jnp.float64) * h * spins)
    return jnp.einsum("s,sl,su,sr,sd->lurd", field, v, v, w, w)


def _svd_fn(which: str):
    if which == "jax":
        def native(m, k):
            u, s, vh = jnp.linalg.svd(m, full_matrices=False)
            return u[:, :k], s[:k], vh[:k]
        return native
    from ..primitives import svd

    def ours(m, k):
        return svd(m, k=k)
    return ours


def _split(m, k: int, svd):
    """``m ≈ (U√S)(√S Vh)`` keeping the k largest singular values."""
    u, s, vh = svd(m, k)
    # Kept values at round-off level (a tensor near a low-rank fixed point) may be exactly 0,
    # where √ has an infinite derivative: floor them at ε·s_max, with zero derivative below.
    floor = _SQRT_FLOOR * lax.stop_gradient(s[0])
    root = jnp.sqrt(jnp.where(s > floor, s, floor))
    return u * root[None, :], root[:, None] * vh


def _trg_step(t, k: int, svd):
    """One Levin–Nave step: ``T[l,u,r,d]`` (all legs dim d) -> new tensor with legs dim k."""
    d = t.shape[0]
    # sublattice A: (l,u) | (r,d)
    p, q = _split(t.reshape(d * d, d * d), k, svd)
    p, q = p.reshape(d, d, k), q.reshape(k, d, d)            # P[l,u,a], Q[a,r,d]
    # sublattice B: (u,r) | (d,l)
    r, s = _split(jnp.transpose(t, (1, 2, 3, 0)).reshape(d * d, d * d), k, svd)
    r, s = r.reshape(d, d, k), s.reshape(k, d, d)            # R[u,r,b], S[b,d,l]
    # plaquette: NW gives Q (r=i, d=m), NE gives S (d=j, l=i), SE gives P (l=k, u=j), SW gives R (u=m, r=k)
    return contract(q, ("a1", "i", "m"), s, ("b2", "j", "i"), p, ("k", "j", "a3"), r, ("m", "k", "b4"),
                    output=("a1", "b2", "a3", "b4"), optimize="optimal")


def _schedule(chi: int, steps: int) -> tuple[tuple[int, ...], int]:
    """Kept dimensions of the unrolled (growing) steps, and the number of steps at fixed χ.

    The matricisation at step n has rank ≤ 2 for the site tensor (n = 0), and
    ≤ d_{n-1}² after (the two cut bonds of the previous lattice).
    """
    ks: list[int] = []
    d_prev, d = None, 2
    for n in range(steps):
        bound = 2 if n == 0 else d_prev * d_prev
        if d == chi and d_prev == chi:
            return tuple(ks), steps - n
        k = min(chi, d * d, bound)
        ks.append(k)
        d_prev, d = d, k
    return tuple(ks), 0


def _normalise(t):
    norm = jnp.sqrt(jnp.sum(t * t))
    return t / norm, jnp.log(norm)


@functools.partial(jax.jit, static_argnames=("chi", "steps", "svd"))
def _trg_lnz(beta, J, h, *, chi: int, steps: int, svd: str):
    svd_fn = _svd_fn(svd)
    grow, fixed = _schedule(chi, steps)
    t, lnz = _normalise(ising_tensor(beta, J, h))
    for n, k in enumerate(grow):
        t, log_norm = _normalise(_trg_step(t, k, svd_fn))
        lnz = lnz + log_norm * 2.0 ** -(n + 1)

    def body(carry, weight):
        t, lnz = carry
        t, log_norm = _normalise(_trg_step(t, chi, svd_fn))
        return (t, lnz + log_norm * weight), None

    if fixed:
        weights = 2.0 ** -jnp.arange(len(grow) + 1, steps + 1, dtype=jnp.float64)
        (t, lnz), _ = lax.scan(body, (t, lnz), weights)
    trace = jnp.einsum("lulu->", t)
    return lnz + jnp.log(jnp.abs(trace)) * 2.0 ** -steps


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _validate(beta, J, h, chi, steps, svd) -> None:
    if isinstance(chi, bool) or not isinstance(chi, int) or chi < 2:
        raise InputError(f"trg: chi must be an integer >= 2, got {chi!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"trg: steps must be an integer >= 1, got {steps!r}")
    if svd not in _SVD_CHOICES:
        raise InputError(f"trg: svd must be one of {_SVD_CHOICES}, got {svd!r}")
    for name, x in (("beta", beta), ("J", J), ("h", h)):
        if _is_concrete(x) and jnp.ndim(x) != 0:
            raise InputError(f"trg: {name} must be a scalar, got shape {jnp.shape(x)}")
    if _is_concrete(beta) and not (math.isfinite(float(beta)) and float(beta) > 0):
        raise InputError(f"trg: beta must be finite and > 0, got {float(beta)}")
    if _is_concrete(J) and not (math.isfinite(float(J)) and float(J) != 0):
        raise InputError(f"trg: J must be finite and non-zero, got {float(J)}")
    if _is_concrete(h) and not math.isfinite(float(h)):
        raise InputError(f"trg: h must be finite, got {float(h)}")


def trg_lnz(beta, chi: int = 24, steps: int = 30, J=1.0, h=0.0, *, svd: str = "qdiff"):
    """ln Z per site of the square-lattice Ising model by Levin–Nave TRG.

    A differentiable (to any order, reverse mode) JAX function of ``beta``, ``J`` and
    ``h``; compiled once per ``(chi, steps, svd)``.

    Args:
      beta: inverse temperature, > 0 (units of 1/J when J = 1).
      chi: bond dimension kept by the truncated SVDs (≥ 2).
      steps: coarse-graining steps; the lattice has 2^steps sites (≥ 20 for the
        thermodynamic limit to double precision away from βc).
      J: nearest-neighbour coupling (non-zero).
      h: uniform field.
      svd: ``"qdiff"`` (registry SVD with degenerate-safe derivatives) or ``"jax"``
        (``jnp.linalg.svd``, whose derivatives break on degenerate spectra).

    Returns:
      ln Z / N, a float64 scalar array.

    Raises:
      InputError: non-positive/non-finite β, J = 0, non-integer or too small χ/steps.
    """
    _validate(beta, J, h, chi, steps, svd)
    return _trg_lnz(jnp.asarray(beta, jnp.float64), jnp.asarray(J, jnp.float64), jnp.asarray(h, jnp.float64),
                    chi=chi, steps=steps, svd=svd)


@functools.partial(jax.jit, static_argnames=("chi", "steps", "svd"))
def _observables(beta, J, h, *, chi: int, steps: int, svd: str):
    def lnz(b):
        return _trg_lnz(b, J, h, chi=chi, steps=steps, svd=svd)

    def first(b):
        return jax.jvp(lnz, (b,), (jnp.ones_like(b),))

    # forward over forward: one pass gives ln Z, d/dβ and d²/dβ², memory independent of steps
    (value, dlnz), (_, d2lnz) = jax.jvp(first, (beta,), (jnp.ones_like(beta),))
    return value, -dlnz, beta * beta * d2lnz


def trg_observables(beta, chi: int = 24, steps: int = 30, J=1.0, h=0.0, *, svd: str = "qdiff") -> dict:
    """ln Z, energy and specific heat per site from TRG, derivatives by AD.

    ``energy = -∂(ln Z/N)/∂β`` (units of J), ``specific_heat = β² ∂²(ln Z/N)/∂β²``
    (units of k_B), both by AD through the truncated SVDs, not finite differences:
    forward mode over forward mode (``jax.jvp`` twice), which for one scalar β gives
    both derivatives in a single pass whose memory does not grow with ``steps``
    (reverse over reverse through the ``lax.scan`` currently returns NaN, see the
    module notes).  A finite χ smooths the logarithmic
    divergence of the specific heat at βc into a finite peak.

    Returns:
      ``{"lnz": …, "energy": …, "specific_heat": …}`` of float64 scalar arrays.
    """
    _validate(beta, J, h, chi, steps, svd)
    lnz, energy, heat = _observables(jnp.asarray(beta, jnp.float64), jnp.asarray(J, jnp.float64),
                                     jnp.asarray(h, jnp.float64), chi=chi, steps=steps, svd=svd)
    return {"lnz": lnz, "energy": energy, "specific_heat": heat}
