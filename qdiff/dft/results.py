"""The result of a self-consistent field calculation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import TERMS


@dataclass(frozen=True, eq=False)
class SCFResult:
    """Ground state of a Kohn–Sham model (Hartree atomic units).

    Attributes:
      basis: the :class:`~qdiff.dft.basis.PlaneWaveBasis`.
      energies: energy of each term (Hartree); ``"entropy"`` is −TS.
      energy: total (free) energy E − TS, Hartree.
      eigenvalues: (nk, nbands) Kohn–Sham eigenvalues per irreducible k-point, Hartree.
      occupations: (nk, nbands) occupations (0..2, spin included).
      fermi_level: Fermi level (Hartree); for insulators the middle of the gap.
      density: electron density on the FFT grid (electrons/Bohr³).
      psi: (nk, npw, nbands) orbital coefficients (padded spheres).
      positions: reduced atomic positions used.
      history: one dict per SCF iteration (``energy``, ``delta_energy``, ``residual``, …).
      converged: whether both tolerances were met.
      n_iterations: SCF iterations performed.
      entropy: electronic entropy S (dimensionless, per cell, spin included).
    """

    basis: object
    energies: dict
    energy: float
    eigenvalues: np.ndarray
    occupations: np.ndarray
    fermi_level: float
    density: np.ndarray
    psi: np.ndarray
    positions: np.ndarray
    history: list = field(default_factory=list)
    converged: bool = False
    n_iterations: int = 0
    entropy: float = 0.0

    @property
    def kpoints(self) -> np.ndarray:
        """(nk, 3) irreducible k-points, reduced coordinates."""
        return np.asarray(self.basis.kpoints.coords)

    @property
    def kweights(self) -> np.ndarray:
        return np.asarray(self.basis.kpoints.weights)

    @property
    def band_gap(self) -> float | None:
        """Gap between the highest occupied and the lowest empty band (Hartree); None for a metal.

        With N electrons (spin-degenerate), bands 1..N/2 must be (nearly) filled at every
        k-point and band N/2 + 1 must lie above band N/2 at all k-points; otherwise None.
        """
        n_el = self.basis.model.n_electrons
        eig, occ = self.eigenvalues, self.occupations
        nocc = n_el // 2
        if n_el % 2 or eig.shape[1] <= nocc:
            return None
        vbm, cbm = eig[:, nocc - 1].max(), eig[:, nocc].min()
        if cbm <= vbm or np.any(np.abs(occ[:, :nocc] - 2.0) > 1e-3):
            return None
        return float(cbm - vbm)

    def energy_breakdown(self) -> dict:
        """Terms in report order plus ``"total"`` (Hartree)."""
        out = {k: float(self.energies[k]) for k in TERMS if k in self.energies}
        out["total"] = float(self.energy)
        return out
