"""qdiff.dft: plane-wave Kohn–Sham DFT building blocks (atomic units: Hartree, Bohr).

Physics building blocks re-exported here: GTH/HGH pseudopotentials and their Fourier form
factors (:mod:`qdiff.dft.pseudopotentials`), the Ewald ion–ion energy (:mod:`qdiff.dft.ewald`).
"""

from .ewald import EwaldSetup, ewald_energy, ewald_setup
from .xc import (
    FUNCTIONALS,
    Functional,
    get_functional,
    gga_pbe,
    lda_potential,
    lda_slater_pw92,
    lda_teter,
    pbe_correlation,
    pbe_exchange,
    pw92_correlation,
    slater_exchange,
)
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
    "Functional",
    "FUNCTIONALS",
    "get_functional",
    "lda_teter",
    "lda_slater_pw92",
    "gga_pbe",
    "slater_exchange",
    "pw92_correlation",
    "pbe_exchange",
    "pbe_correlation",
    "lda_potential",
]
