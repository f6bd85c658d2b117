"""The native rotor-layer kernels (:mod:`qdiff.circuits.native`) against a plain numpy reference.

``rotor_apply`` must equal applying each 2×2 unitary to its axis of the (2,)*n view of every row
(qubit 0 = axis 0 = most significant bit); ``rotor_back`` must undo ψ and λ by ``V = ⊗ v_q`` and
return, for every listed qubit, the reduced transition matrix
``M' = [[i Im M00, M01 − conj(M10)], [0, i Im M11]]`` of ``M[a, b] = Σ_rest conj(λ[…a…]) ψ[…b…]``
taken before the undo.  Every loop layout (all gates inside a cache block; high gates in tiles of
1, 2, 8 gates, several tile groups; the default layout with high gates at 14 qubits) is checked
against the same reference, so results cannot depend on ``block_bits``/``tile_gates``.  Bad input
must be stopped by the Python wrappers (InputError) and, called directly, by the kernels' own checks
(no write outside the state: bit positions 63 and 64 once passed them); the kernels must work under
jit, scan and vmap.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from qdiff.circuits import native
from qdiff.errors import InputError

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
    # low gates (first one included) in 32 blocks of 8 amplitudes, high gates in tiles of 2
    pytest.param(8, [7, 2, 6, 0, 5], 3, 2, id="n8-many-blocks"),
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


def test_no_gates_is_the_identity():
    rng = np.random.default_rng(8)
    psi, lam = random_states(rng, 2, 5), random_states(rng, 2, 5)
    out = native.rotor_apply(jnp.asarray(psi), np.zeros((0, 2, 2)), [], 5)
    np.testing.assert_array_equal(np.asarray(out), psi)
    mp, p_in, l_in = native.rotor_back(jnp.asarray(psi), jnp.asarray(lam), np.zeros((0, 2, 2)), [], 5)
    assert mp.shape == (2, 0, 2, 2)
    np.testing.assert_array_equal(np.asarray(p_in), psi)
    np.testing.assert_array_equal(np.asarray(l_in), lam)


# --- bad input: the kernel's own checks (XLA raises JaxRuntimeError, a RuntimeError) --------------

_N = 5


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(11)
    return jnp.asarray(random_states(rng, 2, _N)), jnp.asarray(random_states(rng, 2, _N)), random_unitaries(rng, 3)


@pytest.mark.parametrize("call, message", [
    (lambda p, l, u: native.rotor_apply(p, u, [1, 3, 1], _N), "qubits must be distinct and in 0..4"),
    (lambda p, l, u: native.rotor_back(p, l, u, [0, 4, 0], _N), "qubits must be distinct and in 0..4"),
    (lambda p, l, u: native.rotor_apply(p, u, [0, 1, _N], _N), "qubits must be distinct and in 0..4"),
    (lambda p, l, u: native.rotor_back(p, l, u, [-1, 1, 2], _N), "qubits must be distinct and in 0..4"),
    (lambda p, l, u: native.rotor_apply(p, u, [0, 1, 2], _N + 1), "expected states of shape (k, 64)"),
    (lambda p, l, u: native.rotor_back(p[:, :24], l[:, :24], u, [0, 1, 2], _N), "expected states of shape (k, 32)"),
    (lambda p, l, u: native.rotor_back(p, l[:1], u, [0, 1, 2], _N), "psi and lam differ in shape"),
], ids=["apply-repeated", "back-repeated", "qubit-n", "qubit-minus-1", "n-too-large", "back-size", "lam-shape"])
def test_bad_input_is_rejected_before_the_kernel(small, call, message):
    psi, lam, us = small
    with pytest.raises(InputError, match=re.escape(message)):
        call(psi, lam, us)


def _raw_apply(psi, us, bits, block_bits=12, tile_gates=8):
    """The FFI target called directly, bypassing the wrapper's checks (to reach the kernel's own)."""
    call = jax.ffi.ffi_call("qdiff_rotor_apply", jax.ShapeDtypeStruct(psi.shape, psi.dtype))
    return call(psi, us, bits=np.asarray(bits, np.int64), block_bits=np.int64(block_bits),
                tile_gates=np.int64(tile_gates))


def _raw_back(psi, lam, vs, bits, rows_out=None, block_bits=12, tile_gates=8):
    k = psi.shape[0] if rows_out is None else rows_out
    shapes = (jax.ShapeDtypeStruct(psi.shape, psi.dtype), jax.ShapeDtypeStruct(lam.shape, lam.dtype),
              jax.ShapeDtypeStruct((k, len(bits), 4), jnp.float64))
    return jax.ffi.ffi_call("qdiff_rotor_back", shapes)(psi, lam, vs, bits=np.asarray(bits, np.int64),
                                                       block_bits=np.int64(block_bits),
                                                       tile_gates=np.int64(tile_gates))


@pytest.mark.parametrize("call, message", [
    (lambda p, l, u: _raw_apply(p, u, [1, 3, 1]), "repeated bit position"),
    (lambda p, l, u: _raw_back(p, l, u, [0, 4, 0]), "repeated bit position"),
    (lambda p, l, u: _raw_apply(p, u, [0, 1, _N]), "bit position out of range"),
    (lambda p, l, u: _raw_back(p, l, u, [-1, 1, 2]), "bit position out of range"),
    # bits 63 and 64: `1 << bit` is undefined there (64 wrapped to bit 0 on x86 and the kernel wrote
    # outside the state before the range check compared the bit with log2 of the state size)
    (lambda p, l, u: _raw_apply(p, u, [0, 1, 63]), "bit position out of range"),
    (lambda p, l, u: _raw_apply(p, u, [0, 64, 1]), "bit position out of range"),
    (lambda p, l, u: _raw_apply(p[:, :24], u, [0, 1, 2]), "state size is not 2**n"),
    (lambda p, l, u: _raw_back(p[:, :24], l[:, :24], u, [0, 1, 2]), "state size is not 2**n"),
    (lambda p, l, u: _raw_apply(p[:, :1], u[:0], []), "state size is not 2**n"),
    (lambda p, l, u: _raw_apply(p, u[:2], [0, 1, 2]), "one 2x2 matrix per bit"),
    (lambda p, l, u: _raw_back(p, l, u, [0, 1]), "one 2x2 matrix per bit"),
    (lambda p, l, u: _raw_back(p, l[:1], u, [0, 1, 2]), "psi and lam differ in size"),
    (lambda p, l, u: _raw_apply(p, u, [0, 1, 2], block_bits=0), "block_bits or tile_gates"),
    (lambda p, l, u: _raw_apply(p, u, [0, 1, 2], tile_gates=0), "block_bits or tile_gates"),
    (lambda p, l, u: _raw_back(p, l, u, [0, 1, 2], tile_gates=17), "block_bits or tile_gates"),
    (lambda p, l, u: _raw_back(p, l, u, [0, 1, 2], rows_out=3), "transition output has the wrong size"),
], ids=["apply-repeated", "back-repeated", "bit-n", "bit-minus-1", "bit-63", "bit-64", "apply-size",
        "back-size", "one-amplitude", "apply-too-few-matrices", "back-too-many-matrices", "lam-size",
        "block-bits-0", "tile-gates-0", "tile-gates-17", "trans-size"])
def test_bad_input_is_rejected_by_the_kernel(small, call, message):
    psi, lam, us = small
    with pytest.raises(jax.errors.JaxRuntimeError, match=re.escape(message)):
        jax.block_until_ready(call(psi, lam, us))


# --- transformations: jit, scan, vmap ------------------------------------------------------------

_NT, _QT = 6, [3, 0, 5, 1]  # bits 2, 5, 0, 4: with block_bits=2 two low and two high gates


@pytest.fixture(scope="module")
def layers():
    """Four layers of unitaries, a batch of two (2, 2**6) states and two adjoint states."""
    rng = np.random.default_rng(21)
    us = np.stack([random_unitaries(rng, len(_QT)) for _ in range(4)])
    psi = np.stack([random_states(rng, 2, _NT) for _ in range(2)])
    lam = np.stack([random_states(rng, 2, _NT) for _ in range(2)])
    return us, psi, lam


def test_under_jit(layers):
    us, psi, lam = layers
    fa = jax.jit(lambda p, u: native.rotor_apply(p, u, _QT, _NT, block_bits=2, tile_gates=1))
    fb = jax.jit(lambda p, l, v: native.rotor_back(p, l, v, _QT, _NT, block_bits=2, tile_gates=1))
    x = jnp.asarray(psi[0])
    np.testing.assert_allclose(np.asarray(fa(x, us[0])), ref_apply(psi[0], us[0], _QT, _NT), atol=TOL, rtol=0)
    np.testing.assert_array_equal(np.asarray(x), psi[0])  # input intact (not donated)
    mp, p_in, l_in = fb(x, jnp.asarray(lam[0]), us[1])
    np.testing.assert_allclose(np.asarray(mp), ref_reduced(psi[0], lam[0], _QT, _NT), atol=TOL, rtol=0)
    np.testing.assert_allclose(np.asarray(p_in), ref_apply(psi[0], us[1], _QT, _NT), atol=TOL, rtol=0)
    np.testing.assert_allclose(np.asarray(l_in), ref_apply(lam[0], us[1], _QT, _NT), atol=TOL, rtol=0)


def test_inside_scan(layers):
    """Four layers forward in a scan, then walked back in a reverse scan with the inverse unitaries;
    each step against the numpy reference, and the walk back returns the input states."""
    us, psi, lam = layers
    vs = np.conj(np.swapaxes(us, -1, -2))

    @jax.jit
    def run(p, l):
        def fwd(x, u):
            return native.rotor_apply(x, u, _QT, _NT, block_bits=2, tile_gates=2), None

        def bwd(c, v):
            m, x, y = native.rotor_back(*c, v, _QT, _NT, block_bits=2, tile_gates=2)
            return (x, y), m

        out, _ = lax.scan(fwd, p, us)
        (p0, l0), ms = lax.scan(bwd, (out, l), vs, reverse=True)
        return out, p0, l0, ms

    out, p0, l0, ms = run(jnp.asarray(psi[0]), jnp.asarray(lam[0]))
    states = [psi[0]]
    for u in us:
        states.append(ref_apply(states[-1], u, _QT, _NT))
    np.testing.assert_allclose(np.asarray(out), states[-1], atol=TOL, rtol=0)
    np.testing.assert_allclose(np.asarray(p0), psi[0], atol=TOL, rtol=0)
    # λ before step i of the reverse walk: λ undone through the layers after layer i
    lams = [lam[0]]
    for v in vs[::-1]:
        lams.append(ref_apply(lams[-1], v, _QT, _NT))
    np.testing.assert_allclose(np.asarray(l0), lams[-1], atol=TOL, rtol=0)
    for i in range(4):
        expected = ref_reduced(states[i + 1], lams[3 - i], _QT, _NT)
        np.testing.assert_allclose(np.asarray(ms[i]), expected, atol=TOL, rtol=0)


def test_under_vmap(layers):
    """vmap (sequential rule) over a batch of (2, 2**n) states, and over states and unitaries."""
    us, psi, lam = layers
    fa = jax.jit(jax.vmap(lambda p, u: native.rotor_apply(p, u, _QT, _NT, block_bits=2, tile_gates=8)))
    out = fa(jnp.asarray(psi), us[:2])
    for b in range(2):
        np.testing.assert_allclose(np.asarray(out[b]), ref_apply(psi[b], us[b], _QT, _NT), atol=TOL, rtol=0)
    fb = jax.vmap(lambda p, l: native.rotor_back(p, l, us[3], _QT, _NT, block_bits=2, tile_gates=8))
    mp, p_in, l_in = fb(jnp.asarray(psi), jnp.asarray(lam))
    assert mp.shape == (2, 2, len(_QT), 2, 2)
    for b in range(2):
        np.testing.assert_allclose(np.asarray(mp[b]), ref_reduced(psi[b], lam[b], _QT, _NT), atol=TOL, rtol=0)
        np.testing.assert_allclose(np.asarray(p_in[b]), ref_apply(psi[b], us[3], _QT, _NT), atol=TOL, rtol=0)
        np.testing.assert_allclose(np.asarray(l_in[b]), ref_apply(lam[b], us[3], _QT, _NT), atol=TOL, rtol=0)
