"""The native rotor-layer kernels (:mod:`qdiff.circuits.native`) against a plain numpy reference.

``rotor_apply`` must equal applying each 2×2 unitary to its axis of the (2,)*n view of every row
(qubit 0 = axis 0 = most significant bit); ``rotor_back`` must undo ψ and λ by ``V = ⊗ v_q`` and
return, for every listed qubit, the reduced transition matrix
``M' = [[i Im M00, M01 − conj(M10)], [0, i Im M11]]`` of ``M[a, b] = Σ_rest conj(λ[…a…]) ψ[…b…]``
taken before the undo.  Every loop layout (all gates inside a cache block; high gates in tiles of
1, 2, 8 gates, several tile groups; the default layout with high gates at 14 qubits) is checked
against the same reference, so results cannot depend on ``block_bits``/``tile_gates``.  Bad input
must be stopped by the kernel's own checks, and the kernels must work under jit, scan and vmap.
"""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from qdiff.circuits import native

TOL = 1e-12


@pytest.fixture(scope="module", autouse=True)
def _kernels():
    """Build/load the kernels once (QDIFF_NATIVE=auto); skip the module where they cannot be built."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QDIFF_NATIVE", "auto")
        if not native.enabled():
            pytest.skip(f"native rotor kernels unavailable: {native._load()}")


# --- numpy reference ---------------------------------------------------------------------------

def ref_apply(psi, us, qubits, n):
    """Apply us[g] to axis qubits[g] of each row's (2,)*n view."""
    psi = np.asarray(psi)
    x = psi.reshape((psi.shape[0],) + (2,) * n)
    for u, q in zip(us, qubits):
        x = np.moveaxis(np.tensordot(u, x, axes=([1], [q + 1])), 0, q + 1)
    return x.reshape(psi.shape)


def ref_reduced(psi, lam, qubits, n):
    """(k, m, 2, 2) reduced transition matrices M' of every row and listed qubit."""
    out = np.zeros((psi.shape[0], len(qubits), 2, 2), complex)
    for r in range(psi.shape[0]):
        p = np.asarray(psi[r]).reshape((2,) * n)
        l = np.asarray(lam[r]).reshape((2,) * n)
        for g, q in enumerate(qubits):
            pq = np.moveaxis(p, q, 0).reshape(2, -1)
            lq = np.moveaxis(l, q, 0).reshape(2, -1)
            m = np.conj(lq) @ pq.T  # m[a, b] = Σ_rest conj(λ[a]) ψ[b]
            out[r, g] = [[1j * m[0, 0].imag, m[0, 1] - np.conj(m[1, 0])], [0, 1j * m[1, 1].imag]]
    return out


def random_unitaries(rng, m):
    a = rng.normal(size=(m, 2, 2)) + 1j * rng.normal(size=(m, 2, 2))
    q, r = np.linalg.qr(a)
    return q * (np.diagonal(r, axis1=-2, axis2=-1) / np.abs(np.diagonal(r, axis1=-2, axis2=-1)))[:, None, :]


def random_states(rng, k, n):
    x = rng.normal(size=(k, 2**n)) + 1j * rng.normal(size=(k, 2**n))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# (n, qubits, block_bits, tile_gates): qubit q acts on index bit n-1-q; gates on bits < block_bits
# run inside cache blocks ("low"), the others in tiles of at most tile_gates gates.
_RNG = np.random.default_rng(2024)
_SUBSET8 = [int(q) for q in _RNG.permutation(8)[:6]]  # 6 of 8 qubits, arbitrary order
_ALL7 = [int(q) for q in _RNG.permutation(7)]
LAYOUTS = [
    pytest.param(8, _SUBSET8, 30, 8, id="n8-all-low"),
    pytest.param(8, _SUBSET8, 2, 1, id="n8-tiles-of-1"),
    pytest.param(8, _SUBSET8, 2, 2, id="n8-tiles-of-2"),
    pytest.param(8, _SUBSET8, 2, 8, id="n8-tiles-of-8"),
    pytest.param(7, _ALL7, 1, 3, id="n7-all-qubits-tiles-of-3"),
    pytest.param(7, _ALL7, 3, 16, id="n7-all-qubits-one-tile-group"),
    # the default layout (12 block bits) with high gates: qubits 0 and 1 at n=14
    pytest.param(14, [1, 9, 0, 13, 5], None, None, id="n14-default"),
]


@pytest.mark.parametrize("n, qubits, block_bits, tile_gates", LAYOUTS)
def test_rotor_apply_matches_numpy(n, qubits, block_bits, tile_gates):
    rng = np.random.default_rng(n + len(qubits))
    psi = random_states(rng, 2, n)
    us = random_unitaries(rng, len(qubits))
    x = jnp.asarray(psi)
    out = native.rotor_apply(x, us, qubits, n, block_bits=block_bits, tile_gates=tile_gates)
    assert out.shape == psi.shape and out.dtype == jnp.complex128
    np.testing.assert_allclose(np.asarray(out), ref_apply(psi, us, qubits, n), atol=TOL, rtol=0)
    # the caller's array is not overwritten by the in-place kernel (output aliases input 0)
    np.testing.assert_array_equal(np.asarray(x), psi)


@pytest.mark.parametrize("n, qubits, block_bits, tile_gates", LAYOUTS)
def test_rotor_back_matches_numpy(n, qubits, block_bits, tile_gates):
    rng = np.random.default_rng(100 + n + len(qubits))
    psi, lam = random_states(rng, 2, n), random_states(rng, 2, n)
    vs = random_unitaries(rng, len(qubits))
    mp, p_in, l_in = native.rotor_back(jnp.asarray(psi), jnp.asarray(lam), vs, qubits, n,
                                       block_bits=block_bits, tile_gates=tile_gates)
    assert mp.shape == (2, len(qubits), 2, 2)
    np.testing.assert_allclose(np.asarray(p_in), ref_apply(psi, vs, qubits, n), atol=TOL, rtol=0)
    np.testing.assert_allclose(np.asarray(l_in), ref_apply(lam, vs, qubits, n), atol=TOL, rtol=0)
    np.testing.assert_allclose(np.asarray(mp), ref_reduced(psi, lam, qubits, n), atol=TOL, rtol=0)


def test_reduced_matrix_gives_the_gradient_of_each_qubit_rotation():
    """Re tr(K M') = Re tr(K M) for anti-Hermitian K: the derivative of Re<λ|U(θ)ψ> along each
    qubit's generator, by central finite differences of the numpy reference."""
    n, qubits = 6, [4, 0, 2]
    rng = np.random.default_rng(5)
    psi, lam = random_states(rng, 1, n), random_states(rng, 1, n)
    mp, _, _ = native.rotor_back(jnp.asarray(psi), jnp.asarray(lam), np.tile(np.eye(2), (3, 1, 1)),
                                 qubits, n, block_bits=2, tile_gates=1)
    paulis = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])]
    h = 1e-5
    for g, q in enumerate(qubits):
        for p in paulis:
            def f(t):
                u = np.cos(t) * np.eye(2) - 1j * np.sin(t) * p  # exp(-i t P)
                return np.real(np.vdot(lam, ref_apply(psi, [u], [q], n)))
            fd = (f(h) - f(-h)) / (2 * h)
            # d/dt at t=0 is Re Σ_ab conj(λ[a]) K[a, b] ψ[b] = Re Σ_ab K[a, b] M[a, b], K = −iP
            k = -1j * p
            assert abs(np.real(np.sum(k * np.asarray(mp)[0, g])) - fd) < 1e-8, (q, p)
