"""Hartree energy and potential.

``E_H = ½∫∫ ρ(r)ρ(r')/|r−r'| = (Ω/2) Σ_{G≠0} 4π |ρ_G|²/|G|²`` (the G = 0 term cancels
against the ions' and electrons' neutralising background) and
``V_H(G) = 4π ρ_G/|G|²``, ``V_H(G=0) = 0``.  Hartree, Bohr.
"""

from __future__ import annotations

import jax.numpy as jnp

from ..fft import to_fourier, to_real


def _coulomb(data):
    G2 = data.G2grid
    return jnp.where(G2 > 0, 4 * jnp.pi / jnp.where(G2 > 0, G2, 1.0), 0.0)


def hartree_energy(data, rho):
    """Hartree energy of the density ``rho`` (real grid, electrons/Bohr³)."""
    rG = to_fourier(rho)
    return 0.5 * data.volume * jnp.sum(_coulomb(data) * jnp.abs(rG) ** 2)


def hartree_potential(data, rho):
    """Hartree potential on the real grid, Hartree."""
    return jnp.real(to_real(_coulomb(data) * to_fourier(rho)))
