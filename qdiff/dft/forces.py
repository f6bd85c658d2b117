"""Atomic forces by automatic differentiation (Hellmann–Feynman).

At self-consistency the Kohn–Sham energy is stationary with respect to orbitals,
occupations and density, so the force is the explicit derivative of the energy with
respect to the atomic positions with ψ, f and ρ held fixed:
``F_a = −∂E/∂τ_a = −∂/∂τ_a (E_loc[ρ;τ] + E_nl[ψ,f;τ] + E_Ewald[τ])``.
The derivative is taken by ``jax.grad`` with respect to reduced positions x
(``τ = A x``) and converted, ``∂E/∂τ = A^{-T} ∂E/∂x``.  Forces are Cartesian, Hartree/Bohr.
When k-points were reduced by crystal symmetry the forces are symmetrised,
``F_a = (1/|S|) Σ_S R_S F_{S^{-1}(a)}`` with ``R_S = A W_S A^{-1}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .energy import build_terms_data, ewald
from .terms.local import local_energy
from .terms.projectors import nonlocal_energy, projectors


def position_energy(basis, td, psi, occ, rho, positions):
    """The position-dependent part of the energy at fixed ψ, f, ρ (Hartree)."""
    data = basis.data
    terms = basis.model.terms
    e = jnp.zeros(())
    if "local" in terms:
        e = e + local_energy(data, td.form_factors, td.species_idx, positions, rho)
    if "nonlocal" in terms:
        P = projectors(data, td.proj_radial, td.proj_atom, positions)
        e = e + nonlocal_energy(data, P, td.proj_D, psi, occ)
    if "ewald" in terms:
        e = e + ewald(data.lattice, td.charges, positions)
    return e


def _symmetrize_forces(basis, positions, forces):
    ops = basis.symops
    if len(ops) <= 1:
        return forces
    A = basis.model.lattice
    Ainv = np.linalg.inv(A)
    x = np.asarray(positions)
    out = np.zeros_like(forces)
    for op in ops:
        R = A @ op.W @ Ainv
        img = x @ op.W.T + op.w  # image of atom b
        for b in range(len(x)):
            d = x - img[b]
            d -= np.round(d)
            a = int(np.argmin(np.linalg.norm(d, axis=1)))
            out[a] += R @ forces[b]
    return out / len(ops)


def compute_forces(scfres, *, remove_drift: bool = True) -> np.ndarray:
    """Cartesian forces on the atoms, (n_atoms, 3), Hartree/Bohr.

    Args:
      scfres: a converged :class:`~qdiff.dft.results.SCFResult`.
      remove_drift: subtract the mean force.  The exchange–correlation energy evaluated on
        the real-space grid is not exactly invariant under a rigid translation ("egg-box"
        effect), so the raw forces sum to a small drift (~1e-6 Ha/Bohr); like ABINIT, it is
        removed by default.
    """
    basis = scfres.basis
    td = build_terms_data(basis)
    psi = jnp.asarray(scfres.psi)
    occ = jnp.asarray(scfres.occupations)
    rho = jnp.asarray(scfres.density)
    x = jnp.asarray(scfres.positions)
    g = jax.jit(jax.grad(lambda p: position_energy(basis, td, psi, occ, rho, p)))(x)
    forces = -np.asarray(g) @ np.linalg.inv(basis.model.lattice)
    forces = _symmetrize_forces(basis, scfres.positions, forces)
    if remove_drift:
        forces = forces - forces.mean(axis=0, keepdims=True)
    return forces
