"""Electron density from orbitals, its symmetrisation, and the initial guess.

``ρ(r) = Σ_k w_k Σ_n f_nk |ψ_nk(r)|²`` (electrons/Bohr³; ``f`` includes the spin factor 2),
computed on the FFT grid from the periodic parts ``u_nk`` (:mod:`qdiff.dft.fft`).  When
k-points were reduced by crystal symmetry the sum over the irreducible set is
symmetrised: ``ρ_sym(G') = (1/|S|) Σ_S ρ(W^{-T}G') e^{2πi (W^{-T}G')·w}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .fft import box_index, sphere_to_real, sphere_to_real_pruned, to_fourier, to_real


def symmetrize_density(data, rho):
    """Average a real-grid density over the basis' symmetry operations.

    Done star by star in reciprocal space (:func:`~qdiff.dft.symmetry.density_symmetriser`):
    ``ρ_sym(G) = φ_G w_G Σ_{G' ∈ star(G)} φ*_{G'} ρ(G')``, O(N_grid) work and memory.
    """
    if data.n_symops == 1:
        return rho
    rG = to_fourier(rho).reshape(-1)
    n = rG.shape[0]
    star_sum = jax.ops.segment_sum(jnp.conj(data.sym_phase) * rG, data.sym_star, num_segments=n)
    acc = data.sym_phase * data.sym_weight * star_sum[data.sym_star]
    return jnp.real(to_real(acc.reshape(rho.shape)))


def compute_density(data, psi, occ):
    """Density on the real grid from orbitals ``psi`` (nk, npw, nb) and occupations (nk, nb).

    The bands are summed one after the other (``lax.scan``; each step transforms that band
    at every k-point), so only one real-space grid per k-point exists at a time.
    """
    def _u(c, idx, mask):
        if data.sphere_box is None:
            return sphere_to_real(c, idx, mask, data.fft_size, data.volume)
        bidx = box_index(idx, mask, data.fft_size, data.sphere_box)
        return sphere_to_real_pruned(c * mask, bidx, data.fft_size, data.sphere_box, data.volume)

    def add_band(rho, xs):
        c_n, f_n = xs  # (nk, npw), (nk,)
        u = jax.vmap(_u)(c_n, data.fft_idx, data.mask)
        return rho + jnp.einsum("k,kxyz->xyz", data.kweights * f_n, jnp.abs(u) ** 2), None

    rho0 = jnp.zeros(data.fft_size, dtype=jnp.real(jnp.zeros((), psi.dtype)).dtype)
    rho, _ = jax.lax.scan(add_band, rho0, (jnp.moveaxis(psi, 2, 0), jnp.moveaxis(occ, 1, 0)))
    return symmetrize_density(data, rho)


def guess_density(basis, positions=None):
    """Superposition of atomic Gaussian densities holding Z_ion electrons each.

    ``ρ_G = (1/Ω) Σ_a Z_a exp(−|G|² σ_a²/2) e^{−iG·τ_a}`` with width σ_a = 1.2·r_loc + 0.5
    Bohr (a rough valence radius); normalised to N_el exactly.
    """
    model = basis.model
    data = basis.data
    x = np.asarray(model.positions if positions is None else positions)
    G2 = np.asarray(data.G2grid)
    Gg = np.asarray(data.Ggrid)
    rG = np.zeros(G2.shape, complex)
    for a, psp in enumerate(model.psps):
        sigma = 1.2 * float(psp.rloc) + 0.5
        rG += float(psp.zion) * np.exp(-G2 * sigma**2 / 2) * np.exp(-2j * np.pi * Gg @ x[a])
    rG *= model.n_electrons / model.charges.sum() / model.volume
    rho = np.real(np.fft.ifftn(rG) * rG.size)
    rho = np.maximum(rho, 1e-14)
    rho *= model.n_electrons / (rho.sum() * model.volume / rho.size)
    return jnp.asarray(rho)
