"""qdiff.dft: plane-wave Kohn–Sham DFT (atomic units: Hartree, Bohr).

Building blocks: GTH/HGH pseudopotentials, Ewald, exchange–correlation; numerical engines:
occupations and smearing, LOBPCG eigensolver, density-mixing preconditioners.
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
from .eigensolver import LobpcgInfo, dense_eigh, lobpcg
from .mixing import KerkerMixing, SimpleMixing, precondition, precondition_fourier
from .occupation import Occupations, fermi_level, occupations
from .smearing import Smearing

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

    "Smearing", "Occupations", "fermi_level", "occupations",
    "lobpcg", "LobpcgInfo", "dense_eigh",
    "SimpleMixing", "KerkerMixing", "precondition", "precondition_fourier",
]
