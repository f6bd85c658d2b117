"""Fermi level, occupations and the smearing entropy term.

For band energies ``ε_nk`` (Hartree, shape ``(nk, nb)``, ascending in ``n``),
k-point weights ``w_k`` (``Σ_k w_k = 1``) and ``N`` electrons per cell, the Fermi
level ``μ`` solves the charge condition

    Σ_k w_k Σ_n g·f((ε_nk − μ)/T) = N,

``g`` the maximal occupation (2 for spin-degenerate bands) and ``f`` the
smearing's occupation function (:mod:`qdiff.dft.smearing`).  The occupations are
``g·f(x_nk)`` and the entropy term of the free energy is

    −T·S = −T·Σ_k w_k Σ_n g·s(x_nk)       (Hartree, ≤ 0 for Fermi–Dirac and Gaussian),

so that the free energy is ``F = E − T·S`` (ABINIT/DFTK convention).

Without smearing (``kind="none"``) the lowest ``N/g`` bands of every k-point are
filled (insulators; ``N/g`` must be an integer) and ``μ`` is the mid-gap energy
``(max_k ε_HOMO + min_k ε_LUMO)/2`` (the HOMO when no empty band was computed).

The Fermi level is found by bisection in a ``lax.while_loop`` down to the
floating-point resolution of ``μ``; for the non-monotone Methfessel–Paxton and
Marzari–Vanderbilt smearings the root is searched next to the (unique)
Gaussian-smearing root, the standard way to pick the physical one.  ``μ`` is
differentiable with respect to the eigenvalues and weights by the implicit
function theorem (a hand-written JVP):

    dμ = [Σ_k w_k Σ_n δ̃(x_nk)·dε_nk − T·Σ_k dw_k Σ_n f(x_nk)] / Σ_k w_k Σ_n δ̃(x_nk).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..errors import InputError
from .smearing import Smearing, delta_function, occupation_function

logger = logging.getLogger(__name__)

__all__ = ["Smearing", "Occupations", "fermi_level", "occupations"]

_BRACKET = 50.0  # f(±50) is 0/1 to double precision for every smearing kind


@partial(jax.tree_util.register_dataclass, data_fields=["occupation", "fermi_level", "entropy"],
         meta_fields=[])
@dataclass(frozen=True)
class Occupations:
    """Occupations of the Kohn–Sham states.

    Attributes:
      occupation: ``(nk, nb)`` electrons per state, ``g·f((ε − μ)/T)`` (``g`` = max occupation).
      fermi_level: ``μ`` in Hartree (scalar).
      entropy: the entropy term ``−T·S`` of the free energy in Hartree (scalar; 0 without smearing).
    """

    occupation: jax.Array
    fermi_level: jax.Array
    entropy: jax.Array


def _concrete(x):
    """``x`` as a NumPy array, or None when it is a tracer (inside jit/vmap/grad)."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _validate(eigenvalues, kweights, n_electrons, smearing, max_occupation):
    if not isinstance(smearing, Smearing):
        raise InputError(f"smearing must be a qdiff.dft.Smearing, got {type(smearing).__name__}")
    eigenvalues = jnp.asarray(eigenvalues)
    if eigenvalues.ndim != 2:
        raise InputError(f"eigenvalues must have shape (nk, nbands), got {eigenvalues.shape}")
    if jnp.iscomplexobj(eigenvalues):
        raise InputError("eigenvalues must be real")
    nk, nb = eigenvalues.shape
    if nk == 0 or nb == 0:
        raise InputError(f"eigenvalues must be non-empty, got shape {eigenvalues.shape}")
    kweights = jnp.asarray(kweights)
    if kweights.shape != (nk,):
        raise InputError(f"kweights must have shape ({nk},) to match eigenvalues, got {kweights.shape}")
    if isinstance(n_electrons, bool) or not isinstance(n_electrons, (int, float, np.integer, np.floating)):
        raise InputError(f"n_electrons must be a Python number, got {type(n_electrons).__name__}")
    n_electrons = float(n_electrons)
    if not math.isfinite(n_electrons) or n_electrons <= 0:
        raise InputError(f"n_electrons must be finite and > 0, got {n_electrons}")
    max_occupation = float(max_occupation)
    if not math.isfinite(max_occupation) or max_occupation <= 0:
        raise InputError(f"max_occupation must be finite and > 0, got {max_occupation}")
    w = _concrete(kweights)
    if w is not None:
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise InputError("kweights must be finite and non-negative")
        if abs(float(np.sum(w)) - 1.0) > 1e-10:
            raise InputError(f"kweights must sum to 1, got sum {float(np.sum(w))!r}")
    e = _concrete(eigenvalues)
    if e is not None and not np.all(np.isfinite(e)):
        raise InputError("eigenvalues contain NaN or infinity")
    if smearing.is_smeared:
        if n_electrons >= max_occupation * nb:
            raise InputError(f"{nb} bands hold at most {max_occupation * nb:g} electrons; smearing "
                             f"needs more bands than n_electrons/max_occupation = "
                             f"{n_electrons / max_occupation:g}")
        n_occ = None
    else:
        ratio = n_electrons / max_occupation
        n_occ = int(round(ratio))
        if abs(ratio - n_occ) > 1e-8:
            raise InputError(f"without smearing n_electrons/max_occupation must be an integer "
                             f"(filled bands), got {n_electrons:g}/{max_occupation:g}; an odd electron "
                             "count needs a smearing (e.g. Smearing('fermi-dirac', 0.01))")
        if n_occ > nb:
            raise InputError(f"{n_occ} filled bands needed but only {nb} eigenvalues per k-point given")
    rdtype = jnp.promote_types(eigenvalues.dtype, jnp.float32)
    rdtype = jnp.promote_types(rdtype, jnp.zeros((), float).dtype)
    return (eigenvalues.astype(rdtype), kweights.astype(rdtype), n_electrons, max_occupation, n_occ)


def _charge(mu, eps, w, kind, T, g):
    """Electron count ``Σ_k w_k Σ_n g·f((ε − μ)/T)``."""
    return g * jnp.sum(w[:, None] * occupation_function(kind, (eps - mu) / T))


def _bisect(below, lo, hi):
    """Boundary of the predicate ``below`` (true at ``lo``, false at ``hi``) to machine resolution."""

    def cond(state):
        lo, hi, it = state
        mid = 0.5 * (lo + hi)
        return (it < 400) & (mid > lo) & (mid < hi)

    def body(state):
        lo, hi, it = state
        mid = 0.5 * (lo + hi)
        b = below(mid)
        return jnp.where(b, mid, lo), jnp.where(b, hi, mid), it + 1

    lo, hi, _ = lax.while_loop(cond, body, (lo, hi, jnp.asarray(0)))
    return 0.5 * (lo + hi)


def _plateau_root(excess, lo, hi, tol):
    """Root of a non-decreasing ``excess`` in ``[lo, hi]``: the middle of ``{|excess| <= tol}``.

    In a gap the electron count is flat (equal to N to rounding) over a whole interval; its middle
    is the deterministic, mid-gap choice.  For a metal the interval has width ~tol/DOS.
    """
    a = _bisect(lambda m: excess(m) < -tol, lo, hi)
    b = _bisect(lambda m: excess(m) <= tol, lo, hi)
    return 0.5 * (a + b)


def _expand_bracket(excess, centre, width, lo_limit, hi_limit, tol):
    """``[centre − a, centre + b]`` (a, b = width·2ᵏ) with excess < −tol at the left, > tol at the right."""

    def left_bad(a):
        return excess(jnp.maximum(centre - a, lo_limit)) >= -tol

    def right_bad(b):
        return excess(jnp.minimum(centre + b, hi_limit)) <= tol

    def body(state):
        a, b = state
        return jnp.where(left_bad(a), 2 * a, a), jnp.where(right_bad(b), 2 * b, b)

    a, b = lax.while_loop(lambda s: left_bad(s[0]) | right_bad(s[1]), body, (width, width))
    return jnp.maximum(centre - a, lo_limit), jnp.minimum(centre + b, hi_limit)


@partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _smeared_fermi_level(eps, w, n_electrons, T, kind, g):
    lo = jnp.min(eps) - _BRACKET * T
    hi = jnp.max(eps) + _BRACKET * T
    tol = 4 * jnp.finfo(eps.dtype).eps * (g * eps.size + n_electrons)
    if kind in ("fermi-dirac", "gaussian"):  # monotone: unique root (or plateau in a gap)
        return _plateau_root(lambda m: _charge(m, eps, w, kind, T, g) - n_electrons, lo, hi, tol)
    # Methfessel–Paxton, Marzari–Vanderbilt are not monotone: take the root next to the Gaussian one.
    mu_g = _plateau_root(lambda m: _charge(m, eps, w, "gaussian", T, g) - n_electrons, lo, hi, tol)
    excess = lambda m: _charge(m, eps, w, kind, T, g) - n_electrons  # noqa: E731

    def refine(mu_g):
        a, b = _expand_bracket(excess, mu_g, T, lo, hi, tol)
        return _bisect(lambda m: excess(m) < 0, a, b)

    return lax.cond(jnp.abs(excess(mu_g)) <= tol, lambda m: m, refine, mu_g)


_smeared_fermi_level_jit = jax.jit(_smeared_fermi_level, static_argnums=(4, 5))


@_smeared_fermi_level.defjvp
def _smeared_fermi_level_jvp(kind, g, primals, tangents):
    # Implicit function theorem on G(μ, ε, w, N, T) = g Σ_k w_k Σ_n f((ε − μ)/T) − N = 0.
    eps, w, n_electrons, T = primals
    deps, dw, dn, dT = tangents
    mu = _smeared_fermi_level_jit(eps, w, n_electrons, T, kind, g)
    x = (eps - mu) / T
    wdelta = w[:, None] * delta_function(kind, x)
    dos = jnp.sum(wdelta)
    num = (jnp.sum(wdelta * deps) - T * jnp.sum(dw * jnp.sum(occupation_function(kind, x), axis=1))
           + T * dn / g - jnp.sum(wdelta * x) * dT)
    safe = jnp.where(dos != 0, dos, 1.0)
    return mu, jnp.where(dos != 0, num / safe, 0.0)


def fermi_level(eigenvalues, kweights, n_electrons, smearing: Smearing, *, max_occupation: float = 2.0):
    """Fermi level ``μ`` (Hartree) putting ``n_electrons`` in the bands.

    Args:
      eigenvalues: ``(nk, nb)`` real band energies in Hartree, ascending along bands.
      kweights: ``(nk,)`` non-negative k-point weights summing to 1.
      n_electrons: electrons per cell (a Python number; static under ``jit``).
      smearing: a :class:`Smearing`.
      max_occupation: electrons per state (2 spin-degenerate, 1 spin-polarised).

    Returns:
      Scalar ``μ``: the root of ``Σ_k w_k Σ_n g·f((ε_nk − μ)/T) = N`` for a smearing; the
      mid-gap ``(max_k ε_HOMO + min_k ε_LUMO)/2`` (or the HOMO when ``nb = N/g``) for ``"none"``.

    Raises:
      InputError: wrong shapes, weights not summing to 1, too few bands, or (without smearing)
        ``N/g`` not an integer — an odd electron count needs a smearing.
    """
    eps, w, n_electrons, g, n_occ = _validate(eigenvalues, kweights, n_electrons, smearing, max_occupation)
    if smearing.is_smeared:
        return _smeared_fermi_level_jit(eps, w, jnp.asarray(n_electrons, eps.dtype),
                                        jnp.asarray(smearing.temperature, eps.dtype), smearing.kind, g)
    homo = jnp.max(eps[:, n_occ - 1])
    if n_occ == eps.shape[1]:
        return homo
    lumo = jnp.min(eps[:, n_occ])
    e_homo, e_lumo = _concrete(homo), _concrete(lumo)
    if e_homo is not None and e_lumo is not None and e_homo > e_lumo:
        logger.warning("no smearing but the highest occupied band (%.6g Ha) lies above the lowest empty "
                       "band (%.6g Ha): the system looks metallic; use a smearing", e_homo, e_lumo)
    return 0.5 * (homo + lumo)


def occupations(eigenvalues, kweights, n_electrons, smearing: Smearing, *,
                max_occupation: float = 2.0) -> Occupations:
    """Occupations, Fermi level and entropy term ``−T·S`` for the given bands.

    Args:
      eigenvalues: ``(nk, nb)`` real band energies in Hartree, ascending along bands.
      kweights: ``(nk,)`` k-point weights summing to 1.
      n_electrons: electrons per cell (Python number).
      smearing: a :class:`Smearing`.
      max_occupation: electrons per state (2 spin-degenerate).

    Returns:
      :class:`Occupations` with ``occupation = g·f((ε − μ)/T)`` (``Σ_k w_k Σ_n occupation = N``),
      ``fermi_level = μ`` and ``entropy = −T·Σ_k w_k Σ_n g·s((ε − μ)/T)`` (Hartree).
      Without smearing the lowest ``N/g`` bands of each k-point hold ``g`` electrons, the rest 0.

    Raises:
      InputError: as :func:`fermi_level`.
    """
    eps, w, n_electrons, g, n_occ = _validate(eigenvalues, kweights, n_electrons, smearing, max_occupation)
    mu = fermi_level(eps, w, n_electrons, smearing, max_occupation=g)
    if not smearing.is_smeared:
        occ = jnp.where(jnp.arange(eps.shape[1]) < n_occ, g, 0.0).astype(eps.dtype)
        occ = jnp.broadcast_to(occ, eps.shape)
        return Occupations(occupation=occ, fermi_level=mu, entropy=jnp.zeros((), eps.dtype))
    T = smearing.temperature
    x = (eps - mu) / T
    occ = g * smearing.occupation(x)
    minus_ts = -T * g * jnp.sum(w[:, None] * smearing.entropy(x))
    return Occupations(occupation=occ, fermi_level=mu, entropy=minus_ts)
