"""qdiff.dft: plane-wave Kohn–Sham DFT with GTH/HGH pseudopotentials (Hartree, Bohr).

Typical use::

    from qdiff.dft import model_lda, PlaneWaveBasis, self_consistent_field, compute_forces, silicon
    model = model_lda(*silicon())
    basis = PlaneWaveBasis(model, ecut=15, kgrid=(4, 4, 4))
    scfres = self_consistent_field(basis)
    forces = compute_forces(scfres)          # Hartree/Bohr, Cartesian

Parts: the model and its validation (:mod:`.model`), k-points and symmetry
(:mod:`.kpoints`, :mod:`.symmetry`), the padded plane-wave basis (:mod:`.basis`, :mod:`.fft`),
the energy terms (:mod:`.terms`), SCF (:mod:`.scf`), forces by AD (:mod:`.forces`);
building blocks: GTH pseudopotentials (:mod:`.pseudopotentials`), exchange–correlation
(:mod:`.xc`), Ewald (:mod:`.ewald`), smearing and occupations (:mod:`.smearing`,
:mod:`.occupation`).  The ASE calculator lives in :mod:`qdiff.dft.ase` (imported on demand).
"""

from .basis import BasisData, PlaneWaveBasis, default_fft_size
from .density import compute_density, guess_density
from .eigensolver import LobpcgInfo, dense_eigh, lobpcg
from .energy import energy_terms
from .ewald import EwaldSetup, ewald_energy, ewald_setup
from .forces import compute_forces
from .kpoints import KPoints, monkhorst_pack, reduce_kpoints
from .mixing import KerkerMixing, SimpleMixing, precondition, precondition_fourier
from .model import TERMS, Model, make_model, model_from_ase, model_lda, model_pbe
from .occupation import Occupations, fermi_level, occupations
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
from .results import SCFResult
from .scf import self_consistent_field
from .smearing import Smearing
from .structures import aluminium, builtin_structure, silicon, silicon_cubic
from .symmetry import SymOp, find_symmetries
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

__all__ = [
    # model, basis, SCF, forces
    "Model", "make_model", "model_lda", "model_pbe", "model_from_ase", "TERMS",
    "PlaneWaveBasis", "BasisData", "default_fft_size", "KPoints", "monkhorst_pack", "reduce_kpoints",
    "SymOp", "find_symmetries", "compute_density", "guess_density", "energy_terms",
    "self_consistent_field", "SCFResult", "compute_forces",
    "silicon", "silicon_cubic", "aluminium", "builtin_structure",
    # pseudopotentials, xc, ewald
    "GthPseudo", "available_gth", "load_gth", "local_form_factor", "local_form_factor_g0",
    "local_potential_real", "projector_form_factor", "projector_real", "real_ylm",
    "EwaldSetup", "ewald_setup", "ewald_energy",
    "Functional", "FUNCTIONALS", "get_functional", "lda_teter", "lda_slater_pw92", "gga_pbe",
    "slater_exchange", "pw92_correlation", "pbe_exchange", "pbe_correlation", "lda_potential",
    # eigensolvers, smearing and occupations
    "lobpcg", "LobpcgInfo", "dense_eigh", "SimpleMixing", "KerkerMixing", "precondition", "precondition_fourier",
    "Smearing", "Occupations", "fermi_level", "occupations",
]
