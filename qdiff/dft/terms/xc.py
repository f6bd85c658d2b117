"""Exchange–correlation energy and potential.

``E_xc = ∫ ρ ε_xc(ρ, |∇ρ|²) = (Ω/N) Σ_j e_xc(r_j)`` with ``e_xc`` the energy density of
:class:`qdiff.dft.xc.Functional`.  Gradients are computed spectrally,
``∇ρ = Σ_G iG ρ_G e^{iG·r}``.  The potential is the functional derivative
``V_xc(r_j) = (N/Ω) ∂E_xc/∂ρ(r_j)``, obtained by AD of the discretised energy — for a
GGA this includes the ``−∇·(∂e/∂∇ρ)`` term exactly as discretised.  Hartree.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..fft import to_fourier, to_real


def density_gradient(data, rho):
    """Cartesian gradient of ``rho`` on the grid, (n1, n2, n3, 3), Bohr⁻⁴."""
    B = 2 * jnp.pi * jnp.linalg.inv(data.lattice).T
    Gc = data.Ggrid @ B.T
    rG = to_fourier(rho)
    return jnp.stack([jnp.real(to_real(1j * Gc[..., i] * rG)) for i in range(3)], axis=-1)


def xc_energy(data, functional, rho):
    """Exchange–correlation energy of the density, Hartree.

    Args:
      functional: a :class:`qdiff.dft.xc.Functional`.
      rho: density on the real grid (electrons/Bohr³).
    """
    if functional.needs_gradient:
        g = density_gradient(data, rho)
        sigma = jnp.sum(g * g, axis=-1)
        e = functional.energy_density(rho, sigma)
    else:
        e = functional.energy_density(rho, None)
    return data.volume / rho.size * jnp.sum(e)


def xc_potential(data, functional, rho):
    """Exchange–correlation potential on the real grid, Hartree (AD of :func:`xc_energy`)."""
    return jax.grad(lambda r: xc_energy(data, functional, r))(rho) * (rho.size / data.volume)
