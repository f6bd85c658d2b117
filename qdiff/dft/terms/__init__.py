"""The terms of the Kohn–Sham energy, one module each.

kinetic, local (GTH local part), projectors (GTH nonlocal part), hartree, xc, ewald,
psp_correction; the entropy term −TS comes from :mod:`qdiff.dft.occupation`.  Each
module owns its energy and, where hand-written, its operator; the operators are checked
against AD derivatives of the energies in ``tests/dft/test_terms_consistency.py``.
"""

from .ewald import ewald_term_energy
from .hartree import hartree_energy, hartree_potential
from .kinetic import kinetic_energy, kinetic_operator
from .local import local_energy, local_form_factors, local_potential, local_potential_fourier
from .projectors import apply_nonlocal, nonlocal_energy, projector_data, projectors
from .psp_correction import psp_correction_energy
from .xc import density_gradient, xc_energy, xc_potential

__all__ = [
    "ewald_term_energy", "hartree_energy", "hartree_potential", "kinetic_energy", "kinetic_operator",
    "local_energy", "local_form_factors", "local_potential", "local_potential_fourier", "apply_nonlocal",
    "nonlocal_energy", "projector_data", "projectors", "psp_correction_energy", "density_gradient",
    "xc_energy", "xc_potential",
]
