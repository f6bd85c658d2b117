"""Hamiltonians on graphs against exact solutions from the literature and brute force."""

import itertools
import math

import networkx as nx
import numpy as np
import pytest

import qdiff.circuits as qc


@pytest.mark.parametrize("n,e_spin", [(4, -2.0), (6, -2.8027756377319946), (8, -3.6510934089371783)])
def test_heisenberg_ring_ground_energy(n, e_spin):
    # Spin-1/2 antiferromagnetic Heisenberg ring Σ S_i·S_j: E0 = -2 (N=4), -2.80278 (N=6), -3.65109 (N=8)
    # (Bethe ansatz / exact diagonalisation, e.g. Bonner & Fisher 1964).  Pauli operators: σ = 2S → ×4.
    assert qc.ground_energy(qc.heisenberg(n)) == pytest.approx(4 * e_spin, abs=1e-8)


@pytest.mark.parametrize("n,h", [(6, 1.0), (8, 0.5), (10, 1.3)])
def test_tfim_ring_matches_free_fermions(n, h):
    # Periodic TFIM, ground state in the even-parity sector: E0 = -Σ_k sqrt(J² + h² - 2Jh cos k),
    # k = π(2m-1)/N, m = 1..N (Pfeuty 1970; Jordan-Wigner with antiperiodic fermions).
    k = np.pi * (2 * np.arange(1, n + 1) - 1) / n
    exact = -np.sum(np.sqrt(1 + h * h - 2 * h * np.cos(k)))
    assert qc.ground_energy(qc.tfim(n, 1.0, h)) == pytest.approx(exact, abs=1e-8)


def test_maxcut_against_brute_force():
    g = nx.Graph()
    g.add_weighted_edges_from([(0, 1, 1.0), (1, 2, 2.0), (2, 3, 1.0), (3, 0, 0.5), (0, 2, 1.5), (1, 4, 1.0)])
    best = max(sum(w for u, v, w in g.edges(data="weight") if s[u] != s[v])
               for s in itertools.product([0, 1], repeat=5))
    assert qc.ground_energy(qc.maxcut(g)) == pytest.approx(-best, abs=1e-10)
    assert qc.ground_energy(qc.maxcut(6)) == pytest.approx(-6, abs=1e-10)  # even ring: every edge cut


def test_expectation_matches_dense_matrix_and_is_hermitian():
    import jax

    obs = qc.random_observable(5, jax.random.PRNGKey(2)) + qc.heisenberg(5, 0.7) + qc.tfim(5, 0.3, 0.2)
    m = qc.to_dense(obs)
    np.testing.assert_allclose(m, m.conj().T, atol=1e-14)
    psi = np.asarray(qc.random_state(5, jax.random.PRNGKey(1)))
    assert float(qc.expectation(obs, psi)) == pytest.approx(np.real(psi.conj() @ m @ psi), abs=1e-12)
    np.testing.assert_allclose(qc.apply_observable(obs, psi), m @ psi, atol=1e-12)


def test_pauli_matrices_follow_convention():
    # Z on qubit 0 (most significant) of 2 qubits: diag(1, 1, -1, -1).
    np.testing.assert_allclose(qc.to_dense(qc.pauli_sum(2, [(1.0, "ZI")])), np.diag([1, 1, -1, -1]))
    y = qc.to_dense(qc.pauli_sum(1, [(1.0, "Y")]))
    np.testing.assert_allclose(y, [[0, -1j], [1j, 0]])


def test_graph_builders_accept_networkx_graphs():
    g = nx.cycle_graph(5)
    assert qc.ground_energy(qc.heisenberg(g)) == pytest.approx(qc.ground_energy(qc.heisenberg(5)), abs=1e-10)
    assert len(qc.tfim(g).terms) == 10 and math.isclose(qc.maxcut(g).constant, -2.5)


def test_expectation_derivatives_match_finite_differences():
    # expectation has its own JVP rule (d<psi|H|psi> = 2 Re<dpsi|H psi>, one application of H):
    # reverse mode, forward mode, a batch and a second derivative against central differences.
    import jax
    import jax.numpy as jnp

    obs = qc.random_observable(4, jax.random.PRNGKey(3)) + qc.heisenberg(4, 0.7)
    rng = np.random.default_rng(5)
    psi, d, e = (jnp.asarray(rng.normal(size=16) + 1j * rng.normal(size=16)) for _ in range(3))

    def f(t):  # along a real one-parameter family of (unnormalised) complex states
        return qc.expectation(obs, psi + t * d + 0.5 * t * t * e * jnp.exp(1j * t))

    h = 1e-4
    fv = jax.jit(jax.vmap(f))(jnp.array([2 * h, h, 0.0, -h, -2 * h]))
    fd1 = (8 * (fv[1] - fv[3]) - (fv[0] - fv[4])) / (12 * h)
    fd2 = (-fv[0] + 16 * fv[1] - 30 * fv[2] + 16 * fv[3] - fv[4]) / (12 * h * h)
    g = jax.jit(jax.grad(lambda s: jnp.sum(qc.expectation(obs, s))))(jnp.stack([psi, d]))  # a batch
    assert float(jnp.sum(jnp.real(g[0] * d))) == pytest.approx(float(fd1), rel=1e-8)  # JAX: Re Σ g·dψ
    assert float(jax.jit(lambda t: jax.jvp(f, (t,), (1.0,))[1])(0.0)) == pytest.approx(float(fd1), rel=1e-8)
    assert float(jax.jit(jax.grad(jax.grad(f)))(0.0)) == pytest.approx(float(fd2), rel=1e-5)
