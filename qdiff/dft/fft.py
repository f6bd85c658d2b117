"""Transforms between plane-wave spheres, reciprocal grids and real-space grids.

Conventions (Ω = cell volume, N = n1·n2·n3 grid points, r_j the grid points):

* Orbitals: ``ψ(r) = Σ_G c_G e^{i(k+G)·r} / √Ω`` with ``Σ_G |c_G|² = 1`` (normalised
  over the cell).  Sphere arrays are (npw, nbands); grids put the band axis first,
  (nbands, n1, n2, n3).  :func:`sphere_to_real` returns the periodic part
  ``u(r_j) = Σ_G c_G e^{iG·r_j} / √Ω = (N/√Ω)·ifftn(C)_j`` where ``C`` is the grid holding
  the sphere coefficients; :func:`real_to_sphere` is its inverse on the sphere,
  ``c_G = (√Ω/N)·fftn(u)_G``.  Then ``∫|ψ|² = (Ω/N)·Σ_j |u_j|² = 1``.
* Periodic functions (density, potentials): ``f(r) = Σ_G f_G e^{iG·r}`` with Fourier
  coefficients ``f_G = (1/Ω)∫ f e^{-iG·r} = fftn(f)_G / N`` (:func:`to_fourier`) and
  ``f(r_j) = N·ifftn(f_G)_j`` (:func:`to_real`).  Integrals: ``∫ f = Ω f_{G=0}
  = (Ω/N) Σ_j f(r_j)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def sphere_to_grid(coeffs, fft_idx, mask, fft_size):
    """Scatter sphere coefficients (npw, *batch) onto FFT grids (*batch, n1, n2, n3); padding dropped.

    The batch (band) axes come first in the grid layout, so FFTs run over contiguous axes.
    """
    n = fft_size[0] * fft_size[1] * fft_size[2]
    c = coeffs * mask.reshape(mask.shape + (1,) * (coeffs.ndim - 1))
    c = jnp.moveaxis(c, 0, -1)  # (*batch, npw)
    grid = jnp.zeros(c.shape[:-1] + (n,), dtype=coeffs.dtype).at[..., fft_idx].add(c)
    return grid.reshape(c.shape[:-1] + tuple(fft_size))


def grid_to_sphere(grid, fft_idx, mask, fft_size):
    """Gather sphere coefficients (npw, *batch) from FFT grids (*batch, n1, n2, n3); padding set to 0."""
    n = fft_size[0] * fft_size[1] * fft_size[2]
    flat = grid.reshape(grid.shape[:-3] + (n,))
    out = jnp.moveaxis(flat[..., fft_idx], -1, 0)
    return out * mask.reshape(mask.shape + (1,) * (out.ndim - 1))


def sphere_to_real(coeffs, fft_idx, mask, fft_size, volume):
    """Periodic part u(r) of orbitals (npw, *batch) on the real-space grid, shape (*batch, n1, n2, n3).

    ``u(r_j) = Σ_G c_G e^{iG·r_j}/√Ω``.
    """
    grid = sphere_to_grid(coeffs, fft_idx, mask, fft_size)
    n = fft_size[0] * fft_size[1] * fft_size[2]
    return jnp.fft.ifftn(grid, axes=(-3, -2, -1)) * (n / jnp.sqrt(volume))


def real_to_sphere(u, fft_idx, mask, fft_size, volume):
    """Sphere coefficients (npw, *batch) of real-space functions (*batch, n1, n2, n3): ``c_G = (√Ω/N)·fftn(u)_G``."""
    n = fft_size[0] * fft_size[1] * fft_size[2]
    grid = jnp.fft.fftn(u, axes=(-3, -2, -1)) * (jnp.sqrt(volume) / n)
    return grid_to_sphere(grid, fft_idx, mask, fft_size)


def to_fourier(f):
    """Fourier coefficients ``f_G = fftn(f)/N`` of a periodic function sampled on the grid."""
    return jnp.fft.fftn(f) / f.size


def to_real(fG):
    """Grid values ``f(r_j) = N·ifftn(f_G)`` from Fourier coefficients (complex result)."""
    return jnp.fft.ifftn(fG) * fG.size


# --- pruned transforms: sphere data occupy only the box |G_i| ≤ m_i of the grid ------------------

def sphere_box(G, mask) -> tuple:
    """Half-widths ``(m1, m2, m3)`` of the smallest box ``|G_i| ≤ m_i`` holding every sphere (NumPy, static)."""
    import numpy as np

    G = np.asarray(G).reshape(-1, 3)[np.asarray(mask).reshape(-1) > 0]
    return tuple(int(x) for x in np.abs(G).max(axis=0)) if len(G) else (0, 0, 0)


def box_index(fft_idx, mask, fft_size, box):
    """Flat index of every sphere entry in the (b1, b2, n3) box array of :func:`sphere_to_real_pruned`.

    ``b_i = 2 m_i + 1``; padding entries get ``b1·b2·n3`` (out of range: dropped on scatter).
    """
    n1, n2, n3 = fft_size
    b1, b2 = 2 * box[0] + 1, 2 * box[1] + 1
    i1, rem = jnp.divmod(fft_idx, n2 * n3)
    i2, i3 = jnp.divmod(rem, n3)
    g1 = jnp.where(i1 > box[0], i1 - n1, i1)
    g2 = jnp.where(i2 > box[1], i2 - n2, i2)
    idx = ((g1 % b1) * b2 + (g2 % b2)) * n3 + i3
    return jnp.where(mask > 0, idx, b1 * b2 * n3)


def _pad_axis(a, axis, m, n):
    """Box axis of length 2m+1 (FFT order) zero-padded to n (FFT order)."""
    lo = jax.lax.slice_in_dim(a, 0, m + 1, axis=axis)
    hi = jax.lax.slice_in_dim(a, m + 1, 2 * m + 1, axis=axis)
    zeros = jnp.zeros(a.shape[:axis] + (n - 2 * m - 1,) + a.shape[axis + 1:], a.dtype)
    return jnp.concatenate([lo, zeros, hi], axis=axis)


def _cut_axis(a, axis, m, n):
    """Inverse of :func:`_pad_axis`: keep the frequencies −m..m of an FFT-ordered axis of length n."""
    return jnp.concatenate([jax.lax.slice_in_dim(a, 0, m + 1, axis=axis),
                            jax.lax.slice_in_dim(a, n - m, n, axis=axis)], axis=axis)


def sphere_to_real_pruned(c, bidx, fft_size, box, volume):
    """:func:`sphere_to_real` of one vector c (npw,) skipping the FFTs of all-zero lines.

    The sphere lies in the box ``|G_i| ≤ m_i``: the transform along axis 3 runs on the
    b1·b2 lines of the box only, along axis 2 on b1 planes' lines, along axis 1 on all —
    about 7/12 of a full 3-D FFT for the usual grid (n_i ≈ 4 m_i).  ``bidx``: :func:`box_index`.
    """
    n1, n2, n3 = fft_size
    b1, b2 = 2 * box[0] + 1, 2 * box[1] + 1
    g = jnp.zeros(b1 * b2 * n3, c.dtype).at[bidx].set(c, mode="drop", unique_indices=True).reshape(b1, b2, n3)
    g = jnp.fft.ifft(g, axis=2)
    g = jnp.fft.ifft(_pad_axis(g, 1, box[1], n2), axis=1)
    g = jnp.fft.ifft(_pad_axis(g, 0, box[0], n1), axis=0)
    return g * (n1 * n2 * n3 / jnp.sqrt(volume))


def real_to_sphere_pruned(u, bidx, mask, fft_size, box, volume):
    """:func:`real_to_sphere` of one grid u (n1, n2, n3), computing only the box's outputs."""
    n1, n2, n3 = fft_size
    h = jnp.fft.fft(u, axis=0)
    h = jnp.fft.fft(_cut_axis(h, 0, box[0], n1), axis=1)
    h = jnp.fft.fft(_cut_axis(h, 1, box[1], n2), axis=2)
    out = h.reshape(-1)[jnp.where(mask > 0, bidx, 0)]
    return out * mask * (jnp.sqrt(volume) / (n1 * n2 * n3))
