"""qdiff.dft: plane-wave Kohn–Sham DFT building blocks (atomic units: Hartree, Bohr).

Physics building blocks re-exported here: GTH/HGH pseudopotentials and their Fourier form
factors (:mod:`qdiff.dft.pseudopotentials`), the Ewald ion–ion energy (:mod:`qdiff.dft.ewald`).
"""

from .ewald import EwaldSetup, ewald_energy, ewald_setup
from .pseudopotentials import (
    GthPseudo,
    available_gth,
    load_gth,
    local_form_factor,
    local_form_factor_g0,
    local_potential_real,
    projector_form_factor,
    projector_real,
    real_ylm,
)

__all__ = [
    "GthPseudo",
    "available_gth",
    "load_gth",
    "local_form_factor",
    "local_form_factor_g0",
    "local_potential_real",
    "projector_form_factor",
    "projector_real",
    "real_ylm",
    "EwaldSetup",
    "ewald_setup",
    "ewald_energy",
]
