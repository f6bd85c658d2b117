"""Nonlocal (separable) part of the GTH/HGH pseudopotentials (``AtomicNonlocal``).

``V_nl = Σ_atoms Σ_{l,m} Σ_{ij} |p^{a}_{lmi}⟩ h^l_{ij} ⟨p^{a}_{lmj}|`` with the projector's
plane-wave elements
``⟨k+G|p^a_{lmi}⟩ = (4π/√Ω) (−i)^l Y_lm(q̂) P^l_i(|q|) e^{−iq·τ_a}``, ``q = k+G``, where
``P^l_i(q) = ∫ r² p^l_i(r) j_l(qr) dr`` is the projector form factor and ``Y_lm`` real
spherical harmonics (the sum over m makes the operator independent of that choice).
Energy ``E_nl = Σ_k w_k Σ_n f_nk Σ_{ab} β*_a D_ab β_b`` with ``β = P^† c``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy.linalg import block_diag


def _species_projectors(psp):
    """List of (l, i) channels and the h-matrix blocks of one species."""
    chans, blocks = [], []
    for l in range(psp.lmax + 1):
        n = psp.n_projectors(l)
        if n == 0:
            continue
        h = psp.h_matrix(l)
        for m in range(2 * l + 1):
            for i in range(n):
                chans.append((l, m, i + 1))
        blocks.extend([h] * (2 * l + 1))
    return chans, (block_diag(*blocks) if blocks else np.zeros((0, 0)))


def projector_data(basis):
    """Position-independent projector data.

    Returns:
      (radial, D, atom_of): ``radial`` (nk, npw, nproj) = 4π (−i)^l Y_lm(q̂) P(|q|)/√Ω for every
      atom's projectors (without the structure factor), ``D`` (nproj, nproj) the
      block-diagonal coupling matrix (Hartree), ``atom_of`` (nproj,) the atom of each projector.
    """
    from ..pseudopotentials import projector_form_factor, real_ylm

    model = basis.model
    data = basis.data
    B = model.recip_lattice
    q = (np.asarray(data.G) + np.asarray(data.kcoords)[:, None, :]) @ B.T
    qn = np.linalg.norm(q, axis=-1)
    qhat = q / np.where(qn > 1e-12, qn, 1.0)[..., None]
    mask = np.asarray(data.mask)
    cols, Ds, atom_of = [], [], []
    cache = {}
    for a, s in enumerate(model.symbols):
        if s not in cache:
            psp = model.psps[a]
            chans, D = _species_projectors(psp)
            ylm = {l: np.asarray(real_ylm(l, jnp.asarray(qhat))) for l in {c[0] for c in chans}}
            colsS = []
            for l, m, i in chans:
                ff = np.asarray(projector_form_factor(psp, l, i, jnp.asarray(qn)))
                colsS.append(4 * np.pi * (-1j) ** l * ylm[l][..., m] * ff * mask / np.sqrt(model.volume))
            cache[s] = (colsS, D)
        colsS, D = cache[s]
        cols.extend(colsS)
        Ds.append(D)
        atom_of.extend([a] * len(colsS))
    nk, npw = mask.shape
    radial = np.stack(cols, axis=-1) if cols else np.zeros((nk, npw, 0), complex)
    D = block_diag(*Ds) if cols else np.zeros((0, 0))
    return jnp.asarray(radial), jnp.asarray(D), np.asarray(atom_of, dtype=np.int64)


def projectors(data, radial, atom_of, positions):
    """Projector matrices ``P`` (nk, npw, nproj) including structure factors ``e^{−i(k+G)·τ}``.

    Args:
      positions: (n_atoms, 3) reduced coordinates (differentiable).
    """
    kG = data.G + data.kcoords[:, None, :]
    sf = jnp.exp(-2j * jnp.pi * jnp.einsum("kgi,ai->kga", kG, positions))
    return radial * sf[..., atom_of]


def nonlocal_energy(data, P, D, psi, occ):
    """``E_nl = Σ_k w_k Σ_n f_nk β*·D·β``, ``β = P^† c``, Hartree."""
    beta = jnp.einsum("kgp,kgn->kpn", jnp.conj(P), psi)
    per_band = jnp.real(jnp.einsum("kpn,pq,kqn->kn", jnp.conj(beta), D, beta))
    return jnp.sum(data.kweights[:, None] * occ * per_band)


def apply_nonlocal(P_k, D, X):
    """``V_nl X = P D P^† X`` for one k-point (X: (npw, nb))."""
    return P_k @ (D @ (jnp.conj(P_k).T @ X))
