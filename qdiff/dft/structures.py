"""Built-in crystal structures (lattice columns in Bohr, reduced positions).

Used by the CLI (``qdiff dft si``) so that common cases run without ASE.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def fcc_lattice(a: float) -> np.ndarray:
    """Primitive fcc lattice vectors as columns: a/2·(0,1,1), a/2·(1,0,1), a/2·(1,1,0) (Bohr)."""
    return a / 2.0 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]).T


def silicon(a: float = 10.26):
    """Diamond silicon, 2 atoms at ±(1/8, 1/8, 1/8); returns (lattice, symbols, positions)."""
    return fcc_lattice(a), ["Si", "Si"], np.array([[0.125, 0.125, 0.125], [-0.125, -0.125, -0.125]])


def silicon_cubic(a: float = 10.26):
    """Conventional 8-atom cubic diamond silicon cell; returns (lattice, symbols, positions)."""
    base = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    pos = np.concatenate([base, base + 0.25]) % 1.0
    return a * np.eye(3), ["Si"] * 8, pos


def aluminium(a: float = 7.65):
    """fcc aluminium, one atom at the origin; returns (lattice, symbols, positions)."""
    return fcc_lattice(a), ["Al"], np.zeros((1, 3))


BUILTIN = {"si": silicon, "si8": silicon_cubic, "al": aluminium}


def builtin_structure(name: str):
    """(lattice, symbols, positions) of a built-in structure by name ("si", "si8", "al")."""
    key = str(name).lower()
    if key not in BUILTIN:
        raise InputError(f"unknown built-in structure {name!r}; choose one of {sorted(BUILTIN)} or give a file")
    return BUILTIN[key]()
