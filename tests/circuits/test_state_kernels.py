"""One-qubit and qubit-pair state kernels (``qdiff.circuits.rotor``) against numpy's tensordot, in
both of their forms: a stack of the output rows below ``_SUM_FORM_FROM`` qubits, a product summed
over the qubit's axis from there on (the pair kernel always uses the latter)."""

import jax
import numpy as np
import pytest

from qdiff.circuits.rotor import _SUM_FORM_FROM, apply_2x2, apply_4x4, lead_apply


def _unitary(rng, d):
    return np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))[0]


def _apply_np(psi, n, qubits, u):
    """``u`` on ``qubits`` (consecutive, first most significant) of ``psi`` (2**n,), by tensordot."""
    k = len(qubits)
    v = psi.reshape((2,) * n)
    out = np.tensordot(u.reshape((2,) * (2 * k)), v, axes=(list(range(k, 2 * k)), list(qubits)))
    return np.moveaxis(out, list(range(k)), list(qubits)).reshape(-1)


@pytest.mark.parametrize("n", [10, _SUM_FORM_FROM])
def test_one_qubit_and_pair_kernels_match_tensordot(n):
    rng = np.random.default_rng(n)
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    u2, u4 = _unitary(rng, 2), _unitary(rng, 4)
    one = jax.jit(lambda x, u, q: apply_2x2(x, n, q, u), static_argnums=2)
    pair = jax.jit(lambda x, u, q: apply_4x4(x, n, q, u), static_argnums=2)
    for q in (0, n // 2, n - 1):
        np.testing.assert_allclose(one(psi[None], u2, q)[0], _apply_np(psi, n, (q,), u2), atol=1e-12)
    for q in (0, n // 2, n - 2):
        np.testing.assert_allclose(pair(psi[None], u4, q)[0], _apply_np(psi, n, (q, q + 1), u4), atol=1e-12)
    # lead_apply: u on qubit 0, then qubit 0 moved to the end (index b0 b1 … → b1 … b0)
    moved = np.moveaxis(_apply_np(psi, n, (0,), u2).reshape((2,) * n), 0, -1).reshape(-1)
    np.testing.assert_allclose(jax.jit(lead_apply)(psi[None], u2)[0], moved, atol=1e-12)
