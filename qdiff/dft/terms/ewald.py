"""Ion–ion (Ewald) energy of the point charges Z_ion in a neutralising background, Hartree."""

from __future__ import annotations

import jax.numpy as jnp


def ewald_term_energy(model, positions, lattice=None):
    """Ewald energy for reduced ``positions`` (differentiable in positions and lattice)."""
    from ..ewald import ewald_energy

    lat = jnp.asarray(model.lattice) if lattice is None else lattice
    return ewald_energy(lat, jnp.asarray(model.charges), positions)
