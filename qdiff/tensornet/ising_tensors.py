"""Exactly known C4v tensors built from the 2D Ising model (test and benchmark inputs).

* :func:`ising_weight_tensor` — the classical square-lattice Ising partition function
  ``Z = Σ_σ exp(β Σ_⟨ij⟩ σᵢσⱼ)`` as a network of rank-4 tensors
  ``a[u, l, d, r] = Σ_σ W[σ,u] W[σ,l] W[σ,d] W[σ,r]`` with ``W Wᵀ = exp(β σσ')``.
  CTMRG on it gives ln Z per site (Onsager), a known correlation length, etc.
* :func:`ising_peps_tensor` — the iPEPS ``|ψ(β)⟩ ∝ exp(β/2 Σ_⟨ij⟩ σᶻᵢσᶻⱼ) |+…+⟩``
  (D = 2).  Its norm network is the classical Ising model at coupling β, so for
  β > β_c = ln(1+√2)/2 its Z2-symmetric environment has a doubly degenerate corner
  spectrum.
"""

from __future__ import annotations

import jax.numpy as jnp


def _sqrt_boltzmann(beta):
    """``W`` with ``W Wᵀ = [[e^β, e^−β], [e^−β, e^β]]`` (symmetric square root)."""
    c, s = jnp.sqrt(jnp.cosh(beta)), jnp.sqrt(jnp.sinh(beta))
    return jnp.array([[c, s], [c, -s]])


def ising_weight_tensor(beta) -> jnp.ndarray:
    """Classical Ising site tensor ``a[u, l, d, r]`` (bond dimension 2) at inverse temperature β (J = 1)."""
    W = _sqrt_boltzmann(beta)
    return jnp.einsum("su,sl,sd,sr->uldr", W, W, W, W)


def ising_peps_tensor(beta) -> jnp.ndarray:
    """Site tensor ``A[s, u, l, d, r]`` (d = D = 2) of the Ising PEPS whose norm is the Ising model at β."""
    W = _sqrt_boltzmann(beta / 2.0)
    return jnp.einsum("su,sl,sd,sr->suldr", W, W, W, W)


__all__ = ["ising_weight_tensor", "ising_peps_tensor"]
