"""Crystal symmetry operations (space-group operations in reduced coordinates).

An operation ``(W, w)`` maps reduced positions ``x -> W x + w`` (``W`` a 3x3 integer
matrix acting on reduced coordinates of the lattice columns, ``w`` a fractional
translation in [0, 1)).  It is a symmetry of the crystal when it preserves the metric
``A^T A`` and maps every atom onto an atom of the same species.

:func:`find_symmetries` finds them without outside libraries: candidate rotations are
the integer matrices with entries in {-1, 0, 1} that preserve the metric (complete for
a reduced — e.g. Niggli/Minkowski — basis, which every usual primitive cell is), and
the translations are read off from the atoms.  ``spglib`` (optional) is used instead
when ``use_spglib=True``.
"""

from __future__ import annotations

import functools
import itertools
import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SymOp:
    """One space-group operation ``x -> W x + w`` in reduced coordinates."""

    W: np.ndarray  # (3, 3) int
    w: np.ndarray  # (3,) float in [0, 1)

    def __hash__(self):
        return hash((self.W.tobytes(), np.round(self.w, 8).tobytes()))

    def __eq__(self, other):
        return bool(np.array_equal(self.W, other.W) and np.allclose(self.w, other.w, atol=1e-8))


@functools.lru_cache(maxsize=1)
def _candidate_rotations() -> np.ndarray:
    """Integer 3x3 matrices with entries in {-1, 0, 1} and determinant ±1."""
    vals = np.array(list(itertools.product((-1, 0, 1), repeat=9)), dtype=np.int64).reshape(-1, 3, 3)
    det = np.round(np.linalg.det(vals)).astype(int)
    out = vals[np.abs(det) == 1]
    out.setflags(write=False)
    return out


def _wrap(x: np.ndarray) -> np.ndarray:
    y = x - np.floor(x)
    y[np.abs(y - 1.0) < 1e-9] = 0.0
    return y


def _maps_atoms(W, w, species, positions, tol) -> bool:
    images = positions @ W.T + w
    for s, img in zip(species, images):
        same = positions[np.asarray(species) == s]
        d = img - same
        d -= np.round(d)
        if not np.any(np.all(np.abs(d) < tol, axis=1)):
            return False
    return True


def find_symmetries(lattice, species, positions, *, tol: float = 1e-5, use_spglib: bool = False) -> list[SymOp]:
    """All space-group operations of the crystal, identity first.

    Args:
      lattice: (3, 3) lattice vectors as columns, Bohr.
      species: sequence of labels (one per atom); atoms with different labels never map.
      positions: (n_atoms, 3) reduced coordinates.
      tol: tolerance on reduced coordinates (and relative tolerance on the metric).
      use_spglib: find the operations with spglib (imported here) instead.

    Returns:
      List of :class:`SymOp`.
    """
    A = np.asarray(lattice, float)
    pos = np.asarray(positions, float).reshape(-1, 3)
    species = list(species)
    if use_spglib:
        import spglib

        numbers = [sorted(set(species)).index(s) + 1 for s in species]
        data = spglib.get_symmetry((A.T, pos, numbers), symprec=tol * np.abs(A).max())
        ops = [SymOp(np.array(R, dtype=np.int64), _wrap(np.array(t, float)))
               for R, t in zip(data["rotations"], data["translations"])]
    else:
        metric = A.T @ A
        cands = _candidate_rotations()
        keep = np.all(np.abs(np.einsum("nji,jk,nkl->nil", cands, metric, cands) - metric)
                      < tol * np.abs(metric).max() * 10, axis=(1, 2))
        ops = []
        sp = np.asarray(species)
        ref = np.flatnonzero(sp == sp[0]) if len(pos) else []
        for W in cands[keep]:
            img0 = W @ pos[0]
            for j in ref:
                w = _wrap(pos[j] - img0)
                if _maps_atoms(W, w, species, pos, tol):
                    ops.append(SymOp(W.astype(np.int64), w))
    # identity first, unique
    uniq = []
    for op in ops:
        if op not in uniq:
            uniq.append(op)
    uniq.sort(key=lambda op: (not (np.array_equal(op.W, np.eye(3, dtype=int)) and np.allclose(op.w, 0)),))
    logger.info("found %d symmetry operations", len(uniq))
    return uniq


def identity_only() -> list[SymOp]:
    """The trivial group (only the identity)."""
    return [SymOp(np.eye(3, dtype=np.int64), np.zeros(3))]
