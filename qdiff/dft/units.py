"""Unit conversions (CODATA 2018), used only at the boundaries (ASE, CLI output).

qdiff.dft computes in Hartree atomic units: energies in Hartree, lengths in Bohr.
"""

#: one Ångström in Bohr
ANGSTROM = 1.0 / 0.529177210903
#: one Bohr in Ångström
BOHR = 0.529177210903
#: one Hartree in electronvolt
HARTREE = 27.211386245988
