"""Kinetic energy ``E_kin = Σ_k w_k Σ_n f_nk Σ_G ½|k+G|² |c_nk(G)|²`` (Hartree).

The operator is diagonal in the plane-wave basis: ``(T c)_G = ½|k+G|² c_G``
(``BasisData.kinetic``).
"""

from __future__ import annotations

import jax.numpy as jnp


def kinetic_energy(data, psi, occ):
    """Kinetic energy, Hartree.

    Args:
      data: :class:`~qdiff.dft.basis.BasisData`.
      psi: (nk, npw, nb) orbital coefficients (normalised).
      occ: (nk, nb) occupations (0..2, spin included).
    """
    per_band = jnp.einsum("kg,kgn->kn", data.kinetic, jnp.abs(psi) ** 2)
    return jnp.sum(data.kweights[:, None] * occ * per_band)


def kinetic_operator(data):
    """Diagonal of the kinetic operator per k-point, (nk, npw), Hartree."""
    return data.kinetic
