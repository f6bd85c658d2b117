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
