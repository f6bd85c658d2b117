"""An ASE calculator running qdiff's plane-wave DFT (``energy``, ``free_energy``, ``forces``).

Usage::

    from qdiff.dft.ase import QdiffCalculator
    atoms.calc = QdiffCalculator(ecut=408.0, kpts=(4, 4, 4))   # ecut in eV (= 15 Ha)
    atoms.get_potential_energy()                              # eV
    atoms.get_forces()                                        # eV/Å

ASE works in eV and Å; qdiff in Hartree and Bohr.  Units are converted here only:
``ecut`` and the smearing ``width`` are given in eV, energies returned in eV, forces in eV/Å.
``energy`` and ``free_energy`` are both the Mermin free energy E − TS (the quantity whose
negative gradient the forces are), so optimisers and MD conserve what they should.
The ``ase`` package is imported on first use of :class:`QdiffCalculator` (it is an optional
extra: ``pip install qdiff-jax[ase]``).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["QdiffCalculator"]


@functools.lru_cache(maxsize=1)
def _calculator_class():
    from ase.calculators.calculator import Calculator, all_changes

    from .basis import PlaneWaveBasis
    from .forces import compute_forces
    from .model import model_from_ase
    from .scf import self_consistent_field
    from .units import ANGSTROM, HARTREE

    class QdiffCalculator(Calculator):
        """ASE calculator for qdiff.dft.

        Parameters (ASE units):
          ecut: plane-wave cutoff in eV (default 408.17 eV = 15 Ha).
          kpts: Monkhorst–Pack grid (three integers, default (4, 4, 4)).
          kshift: half-step shifts (three values in {0, 1}).
          functional: "lda" (Teter Padé), "lda_pw92" or "pbe".
          smearing: "none", "fermi-dirac", "gaussian", "mp", "mv".
          width: smearing width in eV (default 0).
          fft_size: FFT grid (three integers) or None.
          symmetries: reduce k-points by the crystal's symmetry (True) or time reversal only.
          nbands: bands per k-point or None.
          tol_energy: SCF energy tolerance in eV (default 2.7e-9 eV = 1e-10 Ha).
          tol_density: SCF density-residual tolerance (electrons/Bohr^1.5, default 1e-7).
        """

        implemented_properties = ["energy", "free_energy", "forces"]
        default_parameters = dict(ecut=15.0 * HARTREE, kpts=(4, 4, 4), kshift=(0, 0, 0), functional="lda",
                                  smearing="none", width=0.0, fft_size=None, symmetries=True, nbands=None,
                                  tol_energy=1e-10 * HARTREE, tol_density=1e-7)

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.scfres = None
            self._rho = None

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            p = self.parameters
            model = model_from_ase(self.atoms, functional=p.functional, smearing=p.smearing,
                                   temperature=float(p.width) / HARTREE)
            basis = PlaneWaveBasis(model, float(p.ecut) / HARTREE, tuple(p.kpts), tuple(p.kshift),
                                   fft_size=p.fft_size, symmetries=p.symmetries, nbands=p.nbands)
            rho0 = self._rho if (self._rho is not None and self._rho.shape == tuple(basis.fft_size)
                                 and "numbers" not in system_changes and "cell" not in system_changes) else None
            res = self_consistent_field(basis, tol_energy=float(p.tol_energy) / HARTREE,
                                        tol_density=float(p.tol_density), rho0=rho0)
            self.scfres = res
            self._rho = res.density
            self.results["energy"] = res.energy * HARTREE
            self.results["free_energy"] = res.energy * HARTREE
            # forces are cheap next to the SCF: always computed, so a later get_forces() costs nothing
            self.results["forces"] = np.asarray(compute_forces(res)) * HARTREE * ANGSTROM

    return QdiffCalculator


def __getattr__(name):
    if name == "QdiffCalculator":
        return _calculator_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
