"""Onsager's exact solution of the 2D Ising model on the infinite square lattice (h = 0).

With ``H = -J sum_<ij> s_i s_j`` (nearest neighbours, ``s = ±1``) and ``K = beta*J``,
per site (Huang, *Statistical Mechanics*, 2nd ed., §15.3):

    ln Z / N = ln(2 cosh 2K) + (1/2π) ∫_0^π ln[(1 + sqrt(1 - κ² sin²φ)) / 2] dφ,
    κ = 2 sinh 2K / cosh² 2K,

    u = -∂(ln Z/N)/∂β = -J coth 2K [1 + (2/π)(2 tanh² 2K - 1) K(κ)],

    c = β² ∂²(ln Z/N)/∂β² = K² d/dK[coth 2K (1 + (2/π)(2 tanh² 2K - 1) K(κ))],

the last derivative taken analytically with dK(κ)/dκ = E(κ)/(κ(1 - κ²)) - K(κ)/κ,

where K(κ), E(κ) are the complete elliptic integrals of modulus κ (scipy's
``ellipk``/``ellipe`` take the *parameter* m = κ²).  Units: energies in units of
J (u is per site, in the units of J), β in 1/J, c per site in units of k_B.
The critical point is ``βc J = ln(1 + √2)/2``, where c diverges logarithmically.
These are numpy/scipy reference values (not differentiable JAX code).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

#: Critical inverse temperature βc·J = ln(1 + √2)/2 of the square-lattice Ising model.
BETA_C = 0.5 * math.log1p(math.sqrt(2.0))


def _coupling(beta, J) -> np.ndarray:
    beta = np.asarray(beta, dtype=float)
    if not np.all(np.isfinite(beta)) or np.any(beta < 0):
        raise InputError(f"onsager: beta must be finite and >= 0, got {beta}")
    if not math.isfinite(J):
        raise InputError(f"onsager: J must be finite, got {J}")
    # Z is even in K on the bipartite square lattice at h = 0
    return np.abs(beta * J)


def _kappa_sq(k: np.ndarray) -> np.ndarray:
    return np.minimum((2.0 * np.sinh(2 * k) / np.cosh(2 * k) ** 2) ** 2, 1.0)


def _lnz_one(k: float) -> float:
    from scipy.integrate import quad

    kappa2 = float(_kappa_sq(np.asarray(k)))

    def integrand(phi):
        return math.log(0.5 * (1.0 + math.sqrt(max(1.0 - kappa2 * math.sin(phi) ** 2, 0.0))))

    # the integrand is symmetric about π/2 (where it has a kink at κ = 1)
    half, _ = quad(integrand, 0.0, 0.5 * math.pi, epsabs=1e-14, epsrel=1e-13, limit=200)
    return math.log(2.0 * math.cosh(2.0 * k)) + half / math.pi


def onsager_lnz(beta, J: float = 1.0):
    """Exact ln Z per site of the 2D square-lattice Ising model at h = 0.

    Args:
      beta: inverse temperature(s) in units of 1/J (scalar or array, ≥ 0).
      J: nearest-neighbour coupling (ferro- or antiferromagnetic give the same Z).

    Returns:
      ln Z / N (float or array like ``beta``), by adaptive quadrature to ~1e-13.
    """
    k = _coupling(beta, J)
    out = np.vectorize(_lnz_one, otypes=[float])(k)
    return out if out.ndim else float(out)


def _dlnz_dk(k: np.ndarray) -> np.ndarray:
    from scipy.special import ellipk

    t2 = np.tanh(2 * k) ** 2
    factor = 2.0 * t2 - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        kk = ellipk(_kappa_sq(k))
        term = np.where(factor == 0.0, 0.0, factor * kk)
        return np.where(k == 0.0, 0.0, (1.0 + (2.0 / math.pi) * term) / np.tanh(2 * k))


def onsager_energy(beta, J: float = 1.0):
    """Exact internal energy per site ``u = -∂(ln Z/N)/∂β`` (in units of |J|).

    Finite at βc, where ``u = -√2 |J|``.
    """
    k = _coupling(beta, J)
    out = -abs(J) * _dlnz_dk(k)
    return out if np.ndim(out) else float(out)


def _d2lnz_dk2(k: np.ndarray) -> np.ndarray:
    """d²(ln Z/N)/dK², by differentiating ``_dlnz_dk`` analytically (dK(κ)/dκ = E/(κ(1-κ²)) - K/κ)."""
    from scipy.special import ellipe, ellipk

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t, sech = np.tanh(2 * k), 1.0 / np.cosh(2 * k)
        coth = 1.0 / t
        kappa = 2.0 * t * sech
        m = _kappa_sq(k)
        kk, ee = ellipk(m), ellipe(m)
        q = 2.0 * t * t - 1.0
        dq = 8.0 * t * sech ** 2
        dkappa = 4.0 * sech * (sech ** 2 - t * t)
        # κ' → 0 and dK/dκ → ∞ at κ = 1; their product vanishes like (K - Kc) ln|K - Kc|
        dkk = np.where(m >= 1.0, 0.0, (ee / (kappa * (1.0 - m)) - kk / kappa) * dkappa)
        bracket = 1.0 + (2.0 / math.pi) * np.where(q == 0.0, 0.0, q * kk)
        out = -2.0 * coth ** 2 * (1.0 - t * t) * bracket + coth * (2.0 / math.pi) * (dq * kk + q * dkk)
        # small-K limit: ln Z/N = ln 2 + 2 ln cosh K + O(K^4), so the second derivative → 2
        return np.where(k == 0.0, 2.0, np.where(m >= 1.0, np.inf, out))


def onsager_specific_heat(beta, J: float = 1.0):
    """Exact specific heat per site ``c = β² ∂²(ln Z/N)/∂β² = K² d²(ln Z/N)/dK²`` (units of k_B).

    Computed from the complete elliptic integrals K(κ), E(κ); +inf only where κ² rounds to 1;
    it diverges at βc like ``-(8/π) Kc² ln|1 - β/βc|``.
    """
    k = _coupling(beta, J)
    c = k * k * _d2lnz_dk2(k)
    return c if np.ndim(c) else float(c)


def critical_beta(J: float = 1.0) -> float:
    """Critical inverse temperature ``βc = ln(1 + √2) / (2|J|)``."""
    if not math.isfinite(J) or J == 0:
        raise InputError(f"critical_beta: J must be finite and non-zero, got {J}")
    return BETA_C / abs(J)
