"""Every term's operator equals the derivative of its energy (AD), plus finite-difference spot checks.

Density terms: V(r_j) = (N/Ω) ∂E/∂ρ(r_j).  Orbital terms: for E = Σ_k w_k Σ_n f_n ⟨ψ|O|ψ⟩,
jax.grad with respect to the complex coefficients is 2·w_k·f_n·conj(Oψ).  The assembled
Hamiltonian applied through FFTs equals its dense matrix, and the dense matrix is Hermitian.
"""

import dataclasses
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdiff.dft import PlaneWaveBasis, model_lda, model_pbe, silicon
from qdiff.dft.energy import build_terms_data, functional_by_name
from qdiff.dft.hamiltonian import HamiltonianK, apply_hamiltonian, hamiltonian_k, hamiltonian_matrix
from qdiff.dft.terms import (
    apply_nonlocal,
    hartree_energy,
    hartree_potential,
    kinetic_energy,
    local_energy,
    local_potential,
    nonlocal_energy,
    projectors,
    xc_energy,
    xc_potential,
)


@pytest.fixture(scope="module")
def setup():
    lattice, symbols, pos = silicon()
    pos = pos + np.array([[0.01, -0.02, 0.005], [0.0, 0.0, 0.0]])
    model = model_lda(lattice, symbols, pos)
    basis = PlaneWaveBasis(model, 4.0, (2, 2, 2), symmetries=False)
    td = build_terms_data(basis)
    rng = np.random.default_rng(1)
    data = basis.data
    nk, npw = data.mask.shape
    psi = (rng.standard_normal((nk, npw, 3)) + 1j * rng.standard_normal((nk, npw, 3))) * np.asarray(data.mask)[..., None]
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    occ = np.tile([2.0, 1.5, 0.5], (nk, 1))
    rho = 0.03 + 0.01 * rng.random(basis.fft_size)
    return basis, td, jnp.asarray(psi), jnp.asarray(occ), jnp.asarray(rho), jnp.asarray(pos)


def _operator_from_grad(grad, data, occ):
    return jnp.conj(grad) / (2 * data.kweights[:, None, None] * occ[:, None, :])


def _fd(f, x, d, h=1e-4):
    return (-f(x + 2 * h * d) + 8 * f(x + h * d) - 8 * f(x - h * d) + f(x - 2 * h * d)) / (12 * h)


def test_kinetic_operator_is_energy_derivative(setup):
    basis, td, psi, occ, rho, pos = setup
    data = basis.data
    g = jax.grad(lambda p: kinetic_energy(data, p, occ))(psi)
    np.testing.assert_allclose(_operator_from_grad(g, data, occ), data.kinetic[..., None] * psi, atol=1e-12)


def test_nonlocal_operator_is_energy_derivative(setup):
    basis, td, psi, occ, rho, pos = setup
    data = basis.data
    P = projectors(data, td.proj_radial, td.proj_atom, pos)
    g = jax.grad(lambda p: nonlocal_energy(data, P, td.proj_D, p, occ))(psi)
    op = jax.vmap(apply_nonlocal, in_axes=(0, None, 0))(P, td.proj_D, psi)
    np.testing.assert_allclose(_operator_from_grad(g, data, occ), op, atol=1e-11)
    # finite-difference spot check along a random direction
    d = jnp.asarray(np.random.default_rng(2).standard_normal(psi.shape)) * data.mask[..., None]
    fd = _fd(lambda p: nonlocal_energy(data, P, td.proj_D, p, occ), psi, d)
    assert abs(fd - jnp.real(jnp.vdot(jnp.conj(g), d))) < 1e-7


@pytest.mark.parametrize("term", ["local", "hartree", "xc_lda", "xc_pbe"])
def test_density_potentials_are_energy_derivatives(setup, term):
    basis, td, psi, occ, rho, pos = setup
    data = basis.data
    scale = rho.size / data.volume
    if term == "local":
        E = lambda r: local_energy(data, td.form_factors, td.species_idx, pos, r)  # noqa: E731
        V = local_potential(data, td.form_factors, td.species_idx, pos)
    elif term == "hartree":
        E = lambda r: hartree_energy(data, r)  # noqa: E731
        V = hartree_potential(data, rho)
    else:
        f = functional_by_name("lda" if term == "xc_lda" else "pbe")
        E = lambda r: xc_energy(data, f, r)  # noqa: E731
        V = xc_potential(data, f, rho)
    g = jax.grad(E)(rho) * scale
    np.testing.assert_allclose(V, g, atol=1e-11 * max(1.0, float(jnp.abs(V).max())))
    d = jnp.asarray(np.random.default_rng(3).standard_normal(rho.shape)) * 1e-3
    fd = _fd(E, rho, d, h=1e-3)
    assert abs(fd - jnp.sum(V * d) / scale) < 1e-8 * max(1.0, abs(float(fd)))


def test_hamiltonian_fft_application_matches_dense_matrix(setup):
    basis, td, psi, occ, rho, pos = setup
    data = basis.data
    V = local_potential(data, td.form_factors, td.species_idx, pos) + hartree_potential(data, rho)
    P = projectors(data, td.proj_radial, td.proj_atom, pos)
    hk = HamiltonianK(data.kinetic[1], data.mask[1], data.fft_idx[1], V, P[1], td.proj_D, data.fft_size,
                      data.volume)
    H = hamiltonian_matrix(hk)
    np.testing.assert_allclose(H, jnp.conj(H).T, atol=1e-13)
    np.testing.assert_allclose(apply_hamiltonian(hk, psi[1]), H @ psi[1], atol=1e-10)
    # the pruned FFTs (only the lines of the box holding the sphere are transformed)
    assert data.sphere_box is not None and 2 * max(data.sphere_box) + 1 < min(data.fft_size)
    hk_box = dataclasses.replace(hk, box=data.sphere_box)
    np.testing.assert_allclose(apply_hamiltonian(hk_box, psi[1]), H @ psi[1], atol=1e-10)
    # built by hamiltonian_k: the box index is computed once, with the Hamiltonian
    hk_built = hamiltonian_k(data.kinetic[1], data.mask[1], data.fft_idx[1], V, P[1], td.proj_D, data.fft_size,
                             data.volume, box=data.sphere_box)
    assert hk_built.box_idx is not None and hk_built.box_idx.shape == data.fft_idx[1].shape
    np.testing.assert_allclose(apply_hamiltonian(hk_built, psi[1]), H @ psi[1], atol=1e-10)


def test_total_hamiltonian_is_derivative_of_total_energy(setup):
    """H[ρ(ψ)] ψ = (1/(2 w f)) conj(∂E/∂ψ) with the density formed from ψ itself."""
    from qdiff.dft.density import compute_density

    basis, td, psi, occ, rho, pos = setup
    data = basis.data
    f = functional_by_name("lda")

    def total(p):
        r = compute_density(data, p, occ)
        P = projectors(data, td.proj_radial, td.proj_atom, pos)
        return (kinetic_energy(data, p, occ) + nonlocal_energy(data, P, td.proj_D, p, occ)
                + local_energy(data, td.form_factors, td.species_idx, pos, r) + hartree_energy(data, r)
                + xc_energy(data, f, r))

    g = jax.grad(total)(psi)
    r = compute_density(data, psi, occ)
    V = (local_potential(data, td.form_factors, td.species_idx, pos) + hartree_potential(data, r)
         + xc_potential(data, f, r))
    P = projectors(data, td.proj_radial, td.proj_atom, pos)
    D = jnp.broadcast_to(td.proj_D, (P.shape[0],) + td.proj_D.shape)
    hks = HamiltonianK(data.kinetic, data.mask, data.fft_idx, jnp.broadcast_to(V, (P.shape[0],) + V.shape), P, D,
                       data.fft_size, data.volume)
    hpsi = jax.vmap(apply_hamiltonian)(hks, psi)
    np.testing.assert_allclose(_operator_from_grad(g, data, occ), hpsi, atol=1e-10)
