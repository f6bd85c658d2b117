"""Monkhorst–Pack k-point grids and their reduction by symmetry.

k-points are stored in reduced reciprocal coordinates: ``k_cart = B k`` with
``B = 2π A^{-T}`` (reciprocal vectors as columns).  The Monkhorst–Pack grid
``n1 x n2 x n3`` with shift ``s`` (0 or 1 per direction, 1 = half-step shift) holds
``k_i = (j_i + s_i/2) / n_i``, folded into (-1/2, 1/2].

The grid is reduced by time reversal (``k ~ -k``, valid without spin-orbit or
magnetism) and by the crystal's point operations: for an operation ``x -> W x + w``
the Bloch states at ``k`` and at ``W^{-T} k`` have the same energies and their densities
are images of each other, so only one k-point per orbit is kept, with weight = size
of its orbit / number of grid points.  Quantities summed over the reduced set (the
density) must afterwards be symmetrised over the operations used (see
:mod:`qdiff.dft.density`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .symmetry import SymOp


@dataclass(frozen=True)
class KPoints:
    """A reduced k-point set.

    Attributes:
      coords: (nk, 3) reduced coordinates of the irreducible k-points.
      weights: (nk,) weights summing to 1.
      symops: the operations the grid was reduced with (a group; identity first).
      time_reversal: whether k ~ -k was used.
      kgrid, kshift: the Monkhorst–Pack grid parameters.
    """

    coords: np.ndarray
    weights: np.ndarray
    symops: tuple
    time_reversal: bool
    kgrid: tuple
    kshift: tuple


def _fold(k: np.ndarray) -> np.ndarray:
    """Fold reduced coordinates into (-1/2, 1/2]."""
    f = k - np.round(k)
    f[np.isclose(f, -0.5, atol=1e-10)] = 0.5
    return f


def monkhorst_pack(kgrid, kshift=(0, 0, 0)) -> np.ndarray:
    """All points of the Monkhorst–Pack grid, reduced coordinates in (-1/2, 1/2].

    Args:
      kgrid: three positive integers.
      kshift: three values in {0, 1} (1 = shift by half a grid step).
    """
    kgrid = _check_kgrid(kgrid)
    kshift = _check_kshift(kshift)
    axes = [(np.arange(n) + s / 2.0) / n for n, s in zip(kgrid, kshift)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return _fold(grid)


def _check_kgrid(kgrid) -> tuple:
    try:
        kg = tuple(int(n) for n in kgrid)
    except (TypeError, ValueError):
        raise InputError(f"kgrid must be three positive integers, got {kgrid!r}") from None
    if len(kg) != 3 or any(n != m for n, m in zip(kg, kgrid)):
        raise InputError(f"kgrid must be three positive integers, got {kgrid!r}")
    if any(n <= 0 for n in kg):
        raise InputError(f"kgrid must be three positive integers (no zero or negative entry), got {kgrid!r}")
    return kg


def _check_kshift(kshift) -> tuple:
    ks = tuple(float(s) for s in kshift)
    if len(ks) != 3 or any(s not in (0.0, 1.0) for s in ks):
        raise InputError(f"kshift must be three values in {{0, 1}} (1 = half-step shift), got {kshift!r}")
    return ks


def _grid_index(k: np.ndarray, kgrid, kshift):
    """Flat index into the MP grid of reduced points k (..., 3), or -1 where k is not on the grid."""
    n = np.asarray(kgrid, float)
    s = np.asarray(kshift, float)
    j = k * n - s / 2.0
    jr = np.round(j)
    on = np.all(np.abs(j - jr) < 1e-6, axis=-1)
    ji = jr.astype(np.int64) % np.asarray(kgrid)
    idx = (ji[..., 0] * kgrid[1] + ji[..., 1]) * kgrid[2] + ji[..., 2]
    return np.where(on, idx, -1)


def reduce_kpoints(kgrid, kshift=(0, 0, 0), symops=(), time_reversal: bool = True) -> KPoints:
    """Reduce a Monkhorst–Pack grid by time reversal and point operations.

    Operations that do not map the grid onto itself (possible for shifted grids) are
    dropped; the remaining ones form a group.

    Args:
      kgrid: three positive integers.
      kshift: three values in {0, 1}.
      symops: sequence of :class:`~qdiff.dft.symmetry.SymOp` (the identity is always used).
      time_reversal: also identify k with -k.

    Returns:
      :class:`KPoints`.
    """
    kgrid = _check_kgrid(kgrid)
    kshift = _check_kshift(kshift)
    grid = monkhorst_pack(kgrid, kshift)
    own = _grid_index(grid, kgrid, kshift)
    order = np.argsort(own)  # grid position -> row of `grid`
    ident = SymOp(np.eye(3, dtype=np.int64), np.zeros(3))
    ops = [ident] + [op for op in symops if op != ident]
    usable, images = [], []
    for op in ops:
        img = _grid_index(grid @ np.linalg.inv(op.W), kgrid, kshift)  # rows: (W^{-T} k)^T = k^T W^{-1}
        if np.all(img >= 0):
            usable.append(op)
            images.append(order[img])
            if time_reversal:
                images.append(order[_grid_index(-grid @ np.linalg.inv(op.W), kgrid, kshift)])
    images = np.stack(images)  # (n_ops, n_grid): image row of each grid row
    seen = np.zeros(len(grid), bool)
    coords, weights = [], []
    for i in range(len(grid)):
        if seen[i]:
            continue
        orbit = np.unique(images[:, i])
        seen[orbit] = True
        coords.append(grid[i])
        weights.append(len(orbit))
    weights = np.asarray(weights, float) / len(grid)
    return KPoints(np.asarray(coords), weights, tuple(usable), bool(time_reversal), kgrid, kshift)
