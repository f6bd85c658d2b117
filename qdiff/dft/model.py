"""The physical model of a plane-wave DFT calculation (what is computed, not how).

A :class:`Model` holds the crystal (lattice vectors as columns, Bohr; species and
reduced positions), the GTH/HGH pseudopotential of every species, the
exchange–correlation functional, the number of valence electrons (spin-unpolarised)
and the smearing.  :func:`model_lda` / :func:`model_pbe` build one with checks;
every problem with the input raises :class:`~qdiff.errors.InputError` here, before
any basis or SCF work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

logger = logging.getLogger(__name__)

#: smearing names accepted (aliases map to the canonical one)
SMEARING_ALIASES = {
    "none": "none", "fermi-dirac": "fermi-dirac", "fd": "fermi-dirac", "fermi_dirac": "fermi-dirac",
    "gaussian": "gaussian", "mp": "methfessel-paxton", "methfessel-paxton": "methfessel-paxton",
    "mv": "marzari-vanderbilt", "cold": "marzari-vanderbilt", "marzari-vanderbilt": "marzari-vanderbilt",
}

#: terms of the Kohn–Sham energy, in the order they are reported
TERMS = ("kinetic", "local", "nonlocal", "hartree", "xc", "ewald", "psp_correction", "entropy")


@dataclass(frozen=True, eq=False)
class Model:
    """A crystal with pseudopotentials, functional and smearing.

    Attributes:
      lattice: (3, 3) lattice vectors as columns, Bohr (right-handed).
      symbols: chemical symbol of each atom.
      positions: (n_atoms, 3) reduced coordinates (fractions of the lattice columns).
      psps: the pseudopotential of each atom (one object per species, shared).
      functional: exchange–correlation functional name ("lda", "lda_pw92", "pbe").
      n_electrons: number of valence electrons in the cell.
      smearing: canonical smearing name ("none", "fermi-dirac", "gaussian",
        "methfessel-paxton", "marzari-vanderbilt").
      temperature: smearing width, Hartree (0 for "none").
      terms: names of the energy terms included (subset of :data:`TERMS`).
    """

    lattice: np.ndarray
    symbols: tuple
    positions: np.ndarray
    psps: tuple
    functional: str
    n_electrons: int
    smearing: str = "none"
    temperature: float = 0.0
    terms: tuple = field(default=TERMS)

    @property
    def volume(self) -> float:
        """Unit-cell volume Ω = det(lattice), Bohr³."""
        return float(np.linalg.det(self.lattice))

    @property
    def recip_lattice(self) -> np.ndarray:
        """Reciprocal vectors as columns, B = 2π A^{-T} (1/Bohr)."""
        return 2 * np.pi * np.linalg.inv(self.lattice).T

    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @property
    def species(self) -> tuple:
        """Distinct symbols in order of first appearance."""
        return tuple(dict.fromkeys(self.symbols))

    @property
    def charges(self) -> np.ndarray:
        """Ionic (valence) charge Z_ion of each atom."""
        return np.array([float(p.zion) for p in self.psps])

    @property
    def is_metal_model(self) -> bool:
        return self.smearing != "none"

    def with_positions(self, positions) -> "Model":
        """The same model with other reduced positions (checked)."""
        return _build(self.lattice, self.symbols, positions, self.psps, self.functional,
                      self.n_electrons, self.smearing, self.temperature, self.terms)


def check_lattice(lattice) -> np.ndarray:
    """Validate lattice vectors (columns, Bohr): finite 3x3, non-singular, right-handed."""
    A = np.asarray(lattice, dtype=float)
    if A.shape != (3, 3):
        raise InputError(f"lattice must be a 3x3 matrix (vectors as columns, Bohr), got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise InputError("lattice has non-finite entries")
    det = np.linalg.det(A)
    scale = np.prod(np.linalg.norm(A, axis=0))
    if scale == 0 or abs(det) < 1e-8 * scale:
        raise InputError(f"lattice is singular (det = {det:.3g} Bohr³): its vectors are linearly dependent")
    if det < 0:
        raise InputError(f"lattice is left-handed (det = {det:.6g} < 0): swap two lattice vectors")
    return A


def check_positions(lattice: np.ndarray, positions, n_atoms: int, min_distance: float) -> np.ndarray:
    """Validate reduced positions (shape, finiteness) and that no two atoms overlap.

    Two atoms (or an atom and a periodic image of another) closer than ``min_distance``
    Bohr are reported as overlapping.
    """
    x = np.asarray(positions, dtype=float)
    if x.ndim != 2 or x.shape != (n_atoms, 3):
        raise InputError(f"positions must have shape ({n_atoms}, 3) (reduced coordinates), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("positions have non-finite entries")
    shifts = np.array(np.meshgrid(*([(-1, 0, 1)] * 3), indexing="ij")).reshape(3, -1).T
    for i in range(n_atoms):
        for j in range(i, n_atoms):
            d = x[j] - x[i]
            d = d - np.round(d)
            cand = (d[None, :] + shifts) @ lattice.T
            dist = np.linalg.norm(cand, axis=1)
            if i == j:
                dist = dist[np.any(shifts != 0, axis=1)]
            if dist.min() < min_distance:
                what = "its own periodic image" if i == j else f"atom {j}"
                raise InputError(f"overlapping atoms: atom {i} is {dist.min():.4g} Bohr from {what} "
                                 f"(minimum allowed {min_distance} Bohr)")
    return x


def _canonical_smearing(smearing: str) -> str:
    key = str(smearing).lower()
    if key not in SMEARING_ALIASES:
        raise InputError(f"unknown smearing {smearing!r}; choose one of {sorted(set(SMEARING_ALIASES))}")
    return SMEARING_ALIASES[key]


def _build(lattice, symbols, positions, psps, functional, n_electrons, smearing, temperature, terms,
           min_distance=0.5) -> Model:
    A = check_lattice(lattice)
    x = check_positions(A, positions, len(symbols), min_distance)
    return Model(A, tuple(symbols), x, tuple(psps), functional, int(n_electrons), smearing,
                 float(temperature), tuple(terms))


def make_model(lattice, symbols, positions, *, functional: str = "lda", smearing: str = "none",
               temperature: float = 0.0, n_electrons: int | None = None, terms=TERMS, psps=None,
               min_distance: float = 0.5) -> Model:
    """Build and validate a :class:`Model`.

    Args:
      lattice: (3, 3) lattice vectors as columns, Bohr.
      symbols: chemical symbols, one per atom.
      positions: (n_atoms, 3) reduced coordinates.
      functional: "lda" (Goedecker–Teter–Hutter Padé), "lda_pw92" (Slater + PW92) or "pbe".
      smearing: "none", "fermi-dirac", "gaussian", "mp" (Methfessel–Paxton 1), "mv" (cold).
      temperature: smearing width in Hartree (> 0 when smearing is not "none").
      n_electrons: valence electrons (default: sum of the pseudopotential charges).
      terms: energy terms to include (default all of :data:`TERMS`).
      psps: optional mapping symbol -> pseudopotential (default: the packaged GTH/HGH
        set of the functional's family, looked up by element).
      min_distance: atoms closer than this (Bohr) count as overlapping.

    Raises:
      InputError: for any invalid argument (see the message).
    """
    from .pseudopotentials import load_gth
    from .xc import get_functional

    symbols = tuple(str(s) for s in symbols)
    if len(symbols) == 0:
        raise InputError("symbols is empty: a crystal needs at least one atom")
    get_functional(functional)  # raises InputError naming the choices
    family = "pbe" if str(functional).lower() == "pbe" else "lda"
    smearing = _canonical_smearing(smearing)
    temperature = float(temperature)
    if smearing == "none":
        if temperature != 0.0:
            raise InputError(f"temperature={temperature} given but smearing is 'none'; choose a smearing")
    elif not (temperature > 0 and np.isfinite(temperature)):
        raise InputError(f"temperature must be > 0 Hartree with smearing {smearing!r}, got {temperature}")
    unknown = [t for t in terms if t not in TERMS]
    if unknown:
        raise InputError(f"unknown terms {unknown}; available: {TERMS}")
    table = {}
    for s in dict.fromkeys(symbols):
        if psps is not None and s in psps:
            table[s] = psps[s]
            continue
        try:
            table[s] = load_gth(s, functional=family)
        except ValueError as exc:
            raise InputError(f"element {s!r} has no {family.upper()} GTH/HGH pseudopotential: {exc}") from None
    per_atom = tuple(table[s] for s in symbols)
    n_ion = int(round(sum(float(p.zion) for p in per_atom)))
    n_el = n_ion if n_electrons is None else n_electrons
    if int(n_el) != n_el or n_el <= 0:
        raise InputError(f"n_electrons must be a positive integer, got {n_el}")
    if smearing == "none" and int(n_el) % 2 == 1:
        raise InputError(f"odd number of electrons ({int(n_el)}) in a spin-unpolarised calculation without "
                         "smearing: the highest band would be half filled; use a smearing (e.g. fermi-dirac)")
    return _build(lattice, symbols, positions, per_atom, str(functional).lower(), int(n_el), smearing,
                  temperature, tuple(terms), min_distance)


def model_lda(lattice, symbols, positions, **kwargs) -> Model:
    """A :class:`Model` with the Goedecker–Teter–Hutter Padé LDA and HGH LDA pseudopotentials."""
    return make_model(lattice, symbols, positions, functional="lda", **kwargs)


def model_pbe(lattice, symbols, positions, **kwargs) -> Model:
    """A :class:`Model` with the PBE GGA and GTH PBE pseudopotentials."""
    return make_model(lattice, symbols, positions, functional="pbe", **kwargs)


def model_from_ase(atoms, **kwargs) -> Model:
    """Build a :class:`Model` from an ``ase.Atoms`` (Å converted to Bohr here).

    Keyword arguments go to :func:`make_model`.
    """
    from .units import ANGSTROM

    if not all(atoms.pbc):
        raise InputError("the ase.Atoms must be periodic in all three directions (pbc=True)")
    lattice = np.asarray(atoms.cell.array, float).T * ANGSTROM
    return make_model(lattice, atoms.get_chemical_symbols(), atoms.get_scaled_positions(wrap=False), **kwargs)
