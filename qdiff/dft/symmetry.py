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


def _flat_index(G: np.ndarray, shape) -> np.ndarray:
    """Flat FFT-grid index of integer G vectors (rows), FFT (wrapped) ordering."""
    return ((G[:, 0] % shape[0]) * shape[1] + (G[:, 1] % shape[1])) * shape[2] + (G[:, 2] % shape[2])


def density_symmetriser(symops, fft_size):
    """Star decomposition of the FFT grid that symmetrises a density in reciprocal space.

    The symmetrised density is ``ρ_sym(G') = (1/|S|) Σ_S ρ(W_S^{-T} G') e^{2πi (W_S^{-T}G')·w_S}``
    (an orthogonal projector).  On each star (orbit) of G vectors it has rank at most one:
    with the star's representative ``G₀`` (smallest flat index) and
    ``φ_{G'} = mean_{S: W_S^{-T}G' = G₀} e^{2πi G₀·w_S}`` (unit modulus), it reads
    ``ρ_sym(G') = φ_{G'} (1/m) Σ_{G ∈ star} φ*_G ρ(G)`` with ``m`` the star's size.  Stars
    whose stabiliser phases cancel (systematic extinctions, e.g. diamond's (200)) have
    ``φ = 0``; so do stars with a member outside the grid.  Built one operation at a time:
    memory O(N_grid), independent of the number of operations.

    Args:
      symops: sequence of :class:`SymOp` forming a group.
      fft_size: (n1, n2, n3).

    Returns:
      ``(star, phase, weight)``, each of length ``n1·n2·n3``: the representative's flat
      index (int32), ``φ`` (complex) and ``1/m`` (float).
    """
    from .basis import centered_frequencies

    shape = tuple(int(n) for n in fft_size)
    freqs = [centered_frequencies(n) for n in shape]
    G = np.stack(np.meshgrid(*freqs, indexing="ij"), axis=-1).reshape(-1, 3)
    n = len(G)
    lo = np.array([f.min() for f in freqs])
    hi = np.array([f.max() for f in freqs])
    rots = [np.round(np.linalg.inv(op.W).T).astype(np.int64) for op in symops]
    rep = np.arange(n)
    valid = np.ones(n, bool)
    for R in rots:
        Gs = G @ R.T
        ok = np.all((Gs >= lo) & (Gs <= hi), axis=1)
        valid &= ok
        rep = np.minimum(rep, np.where(ok, _flat_index(Gs, shape), n))
    rep = np.where(valid, rep, np.arange(n))
    G0 = G[rep]
    acc = np.zeros(n, complex)
    count = np.zeros(n)
    for R, op in zip(rots, symops):
        Gs = G @ R.T
        hit = valid & (_flat_index(Gs, shape) == rep)
        acc += np.where(hit, np.exp(2j * np.pi * (G0 @ np.asarray(op.w, float))), 0.0)
        count += hit
    phase = np.where(count > 0, acc / np.maximum(count, 1), 0.0)
    keep = valid & (np.abs(phase[rep]) > 0.5)  # extinct stars: stabiliser phases average to 0
    phase = np.where(keep, phase, 0.0)
    weight = np.where(keep, 1.0 / np.bincount(rep, minlength=n)[rep], 0.0)
    return rep.astype(np.int32), phase, weight
