"""The Kohn–Sham energy functional, assembled from the terms of :mod:`qdiff.dft.terms`.

``E[ψ, f, ρ; τ] = E_kin[ψ,f] + E_loc[ρ;τ] + E_nl[ψ,f;τ] + E_H[ρ] + E_xc[ρ] + E_Ewald[τ]
+ E_pspcorr − TS`` (Hartree).  Everything here is a pure JAX function of arrays, so the
energy can be differentiated with respect to orbitals, density and (reduced) atomic
positions τ; the Hamiltonian's local potential is the derivative of the density terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from .terms.hartree import hartree_energy, hartree_potential
from .terms.kinetic import kinetic_energy
from .terms.local import local_energy, local_form_factors, local_potential, species_index
from .terms.projectors import nonlocal_energy, projector_data, projectors
from .terms.xc import xc_energy, xc_potential


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class TermsData:
    """Position-independent arrays of the pseudopotential terms.

    Attributes:
      form_factors: (nspecies, n1, n2, n3) local form factors V̂_s(|G|), Hartree·Bohr³.
      species_idx: (n_atoms,) species index of each atom.
      proj_radial: (nk, npw, nproj) projector elements without structure factor.
      proj_D: (nproj, nproj) projector couplings, Hartree.
      proj_atom: (nproj,) atom of each projector.
      charges: (n_atoms,) ionic charges.
    """

    form_factors: jax.Array
    species_idx: jax.Array
    proj_radial: jax.Array
    proj_D: jax.Array
    proj_atom: jax.Array
    charges: jax.Array


def build_terms_data(basis) -> TermsData:
    """Precompute the position-independent pseudopotential data of a basis."""
    radial, D, atom_of = projector_data(basis)
    return TermsData(local_form_factors(basis), jnp.asarray(species_index(basis.model)), radial, D,
                     jnp.asarray(atom_of), jnp.asarray(basis.model.charges))


def functional_by_name(name: str):
    """The :class:`qdiff.dft.xc.Functional` of that name."""
    from .xc import get_functional

    return get_functional(name)


def total_local_potential(data, td: TermsData, functional_name: str, positions, rho, include=None):
    """Local pseudopotential + Hartree + xc potential on the real grid, Hartree."""
    include = include or ("local", "hartree", "xc")
    V = jnp.zeros(data.fft_size)
    if "local" in include:
        V = V + local_potential(data, td.form_factors, td.species_idx, positions)
    if "hartree" in include:
        V = V + hartree_potential(data, rho)
    if "xc" in include:
        V = V + xc_potential(data, functional_by_name(functional_name), rho)
    return V


def ewald(lattice, charges, positions):
    """Ewald energy, Hartree."""
    from .ewald import ewald_energy

    return ewald_energy(lattice, charges, positions)


def energy_terms(data, td: TermsData, functional_name: str, positions, psi, occ, rho, *,
                 psp_correction: float, entropy_term, terms, ewald_energy=None) -> dict:
    """Every energy term (Hartree) as a dict; ``terms`` lists those included.

    ``ewald_energy``: precomputed ion–ion energy (a constant during the SCF), else computed.
    """
    out = {}
    if "kinetic" in terms:
        out["kinetic"] = kinetic_energy(data, psi, occ)
    if "local" in terms:
        out["local"] = local_energy(data, td.form_factors, td.species_idx, positions, rho)
    if "nonlocal" in terms:
        P = projectors(data, td.proj_radial, td.proj_atom, positions)
        out["nonlocal"] = nonlocal_energy(data, P, td.proj_D, psi, occ)
    if "hartree" in terms:
        out["hartree"] = hartree_energy(data, rho)
    if "xc" in terms:
        out["xc"] = xc_energy(data, functional_by_name(functional_name), rho)
    if "ewald" in terms:
        out["ewald"] = (ewald(data.lattice, td.charges, positions) if ewald_energy is None
                        else jnp.asarray(ewald_energy))
    if "psp_correction" in terms:
        out["psp_correction"] = jnp.asarray(psp_correction)
    if "entropy" in terms:
        out["entropy"] = jnp.asarray(entropy_term)
    return out


__all__ = ["TermsData", "build_terms_data", "energy_terms", "total_local_potential"]
