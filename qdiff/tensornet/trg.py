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
order), forward over forward and reverse over forward (``grad`` of ``jvp``) for
second order.  Reverse mode *inside* another derivative (``grad(grad)``,
``jacfwd(grad)``, ``jax.hessian``) returns NaN: a JAX (0.10) limitation, not a
property of the rule.  Reverse mode of ``lax.scan`` hoists loop-invariant residuals
out of the loop by partially evaluating the scan body again with the carry unknown
(``_scan_known_hoisting`` in ``jax/_src/lax/control_flow/loops.py``); partial
evaluation of a ``custom_jvp`` call with unknown inputs inlines the primal function
and drops the custom rule (``JaxprTrace.process_custom_jvp_call``: "we assume
non-trivial partial evaluation is only performed to build linear functions").  The
primal part of the linearised scan therefore contains the bare ``jnp.linalg.svd``,
and the outer derivative goes through JAX's native SVD rule, which divides by
``s_i² - s_j²`` = 0 on the degenerate spectra of the Ising tensors.  The same code
unrolled (no scan) is finite and correct.  A 12-line reproduction without SVDs (a
``custom_jvp`` ``x² = sqrt(x⁴)`` in a length-1 scan) is in docs/benchmarks.md.
``trg_observables`` uses forward over forward, the cheapest mode for one scalar β.
Energy ``u = -∂(ln Z/N)/∂β`` and specific heat
``c = β² ∂²(ln Z/N)/∂β²`` (:func:`trg_observables`).  The SVD is
``qdiff.primitives.svd``, whose reverse rule broadens ``1/(s_i² - s_j²)`` so that
degenerate singular values (which the Ising tensors have) give finite second
derivatives; ``svd="jax"`` selects ``jnp.linalg.svd`` for comparison.

Levin–Nave TRG rather than HOTRG: its step costs O(χ⁶) (HOTRG: O(χ⁷)), χ = 24
already reaches the accuracy targets away from βc, and its only decompositions
are the SVDs whose derivatives are the point of the exercise.

Every step is the same ``lax.scan`` body at bond dimension χ: the 2-dimensional site
tensor is zero-padded to χ on every leg, so the first steps (whose exact rank is still
below χ) keep some exactly-zero singular values.  Their contribution ``u √s vᴴ`` and all
its derivatives are set to exactly zero (:func:`_split`; the registry SVD's broadened
couplings keep ``du``, ``dv`` finite next to zero and degenerate values), so values and
derivatives equal those of the unpadded network, and the compiled program is one step
whatever ``steps`` is: compile time does not depend on ``steps`` (or on how many steps
it takes the bond dimension to reach χ).
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
    """``m ≈ (U√S)(√S Vh)`` keeping the k largest singular values.

    Values at or below ``_SQRT_FLOOR · s_max`` (exact zeros of a zero-padded tensor, or
    round-off) are dropped: their factor is exactly 0 with zero derivatives of every order
    (√s has an infinite derivative at 0; the ``where`` keeps the unused branch finite).
    """
    u, s, vh = svd(m, k)
    floor = _SQRT_FLOOR * lax.stop_gradient(s[0])
    keep = s > floor
    root = jnp.where(keep, jnp.sqrt(jnp.where(keep, s, floor)), 0.0)
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


def _normalise(t):
    norm = jnp.sqrt(jnp.sum(t * t))
    return t / norm, jnp.log(norm)


@functools.partial(jax.jit, static_argnames=("chi", "steps", "svd"))
def _trg_lnz(beta, J, h, *, chi: int, steps: int, svd: str):
    svd_fn = _svd_fn(svd)
    t, lnz = _normalise(ising_tensor(beta, J, h))
    t = jnp.pad(t, [(0, chi - 2)] * 4)  # bond dimension chi from the start: one scan body for every step

    def body(carry, weight):
        t, lnz = carry
        t, log_norm = _normalise(_trg_step(t, chi, svd_fn))
        return (t, lnz + log_norm * weight), None

    weights = 2.0 ** -jnp.arange(1, steps + 1, dtype=jnp.float64)
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
    (reverse mode inside another derivative returns NaN through JAX's ``lax.scan``,
    see the module notes; reverse over forward works).  A finite χ smooths the logarithmic
    divergence of the specific heat at βc into a finite peak.

    Returns:
      ``{"lnz": …, "energy": …, "specific_heat": …}`` of float64 scalar arrays.
    """
    _validate(beta, J, h, chi, steps, svd)
    lnz, energy, heat = _observables(jnp.asarray(beta, jnp.float64), jnp.asarray(J, jnp.float64),
                                     jnp.asarray(h, jnp.float64), chi=chi, steps=steps, svd=svd)
    return {"lnz": lnz, "energy": energy, "specific_heat": heat}
