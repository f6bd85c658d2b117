"""Backward pass of a scanned rotor layer as block matrix products.

The reversible adjoint walks ψ and λ back through a rotor layer (one-qubit unitaries ``U_q``
on every qubit) and needs, per qubit, the transition matrix
``M_q[a, b] = Σ_rest conj(λ[…a…]) ψ[…b…]`` (see :mod:`qdiff.circuits.rotor`).  Here the
qubits are taken ``_BLOCK`` at a time from the front of the state: the block's Kronecker product
``V = ⊗ U_q†`` is applied as one complex matrix product ``Xᵀ Vᵀ`` (``X`` the state as a
(2**k, rest) matrix), which also moves the block to the end of the index (after all blocks the
qubit order is restored), to ψ and to ``μ = conj(λ)`` (with ``conj(V)``), and the block's joint
transition matrix ``G = M Ψᵀ`` is one more product, from which each ``M_q`` follows by a partial
trace.  XLA CPU runs ``dot`` at matrix-product speed but elementwise complex arithmetic scalar,
which is what makes this faster than one 2×2 pass per qubit.
"""

from __future__ import annotations

import numpy as np

import jax.numpy as jnp
from jax import lax

from .compile import RotorStep
from .rotor import _all_qubit_unitaries, native_transitions, qubit_transitions, wants_grads


_BLOCK = 3
"""Qubits per block step of the backward pass of a rotor layer (an 8×8 product per step).  In a
scan of such steps at n=20 (ψ and μ, plus the transition matrix) three qubits per step cost
≈ 9 ms per qubit, two ≈ 13 ms, four ≈ 9 ms; one 2×2 pass per qubit (the previous backward)
≈ 18 ms."""

UNROLL_FROM = 18
"""Qubit count from which the block steps of a layer are unrolled instead of scanned (the layer then
has ``⌈(n−1)/3⌉`` block kernels; compiled once per repeat body, like the forward's in-place pair
kernels from the same size).  A scan iteration copies its ψ and λ carry (16 MiB each at n=20), which
XLA cannot write in place while the products read them: n=20, depth 100, energy+gradient 21.0 s
with two blocks per scan iteration, 22.4 s with one, 19.3 s unrolled."""

BLOCKS_FROM = 12
"""Qubit count from which repeat bodies use these block products in the backward pass.  Below it
the state fits in L1/L2, the blocks were no faster (n=10, depth 100: 10.8 vs 11.4 ms with the
one-qubit scan, measured with an earlier real-arithmetic version of these blocks), and the larger
program would push the compile time of value-and-gradient at n=10 from ≈ 1.4 s to ≈ 2 s; there
the step is :func:`qdiff.circuits.rotor.qubit_transitions` (one qubit per scan step), in one
loop with the unitaries and gradients (no chunks: ≈ 0.35 s less compile time at n=10, load 5.5)."""


def _kron(us):
    """(..., k, 2, 2) → (..., 2**k, 2**k): ``us[..., 0] ⊗ us[..., 1] ⊗ …`` (first factor most significant)."""
    v = us[..., 0, :, :]
    for i in range(1, us.shape[-3]):
        u = us[..., i, :, :]
        d = v.shape[-1] * 2
        v = (v[..., :, None, :, None] * u[..., None, :, None, :]).reshape(v.shape[:-2] + (d, d))
    return v


def _lead_apply(x, v):
    """Apply the K×K matrix ``v`` to the leading ``log2 K`` qubits of ``x`` (shape (1, 2**n)) and move
    those qubits to the end: one complex matrix product ``Xᵀ vᵀ`` with ``X`` = x as (K, rest)."""
    kk = v.shape[0]
    return (x.reshape(kk, -1).T @ v.T).reshape(1, -1)


def _trace_matrix(k: int) -> np.ndarray:
    """(4k, 4**k) 0/1 matrix taking the flattened block matrix ``G[(a…), (b…)]`` to the flattened
    partial traces ``M_j[a_j, b_j] = Σ_{others equal} G``, j = 0 … k−1 (one product for all)."""
    kk = 1 << k
    rows, cols = np.divmod(np.arange(kk * kk), kk)
    out = np.zeros((k, 2, 2, kk * kk))
    for j in range(k):
        sh = k - 1 - j
        a, b = (rows >> sh) & 1, (cols >> sh) & 1
        others_equal = (rows & ~(1 << sh)) == (cols & ~(1 << sh))
        out[j, a[others_equal], b[others_equal], np.flatnonzero(others_equal)] = 1.0
    return out.reshape(4 * k, kk * kk)


def _block_transitions(mu, psi, k: int):
    """Per leading qubit ``j < k``: ``M_j[a, b] = Σ conj(λ[…a…]) ψ[…b…]`` (k, 2, 2), from the block
    transition matrix ``G = M Ψᵀ`` (``M`` = conj(λ) as (K, rest), one complex product) by partial
    traces (one more product)."""
    kk = 1 << k
    g = (mu.reshape(kk, -1) @ psi.reshape(kk, -1).T).reshape(-1)
    return (jnp.asarray(_trace_matrix(k), jnp.complex128) @ g).reshape(k, 2, 2)


def _blocks(n: int):
    k = min(_BLOCK, n)
    nsteps = (n - 1) // k
    return k, nsteps, n - nsteps * k


def backward_prepare(step: RotorStep, params, n: int):
    """What the scanned backward step needs from the parameters, computed ahead of a repeat loop
    for all repetitions at once: the (n, 2, 2) inverse unitaries ``U_q†`` in qubit order."""
    return _all_qubit_unitaries(step, params, True, n)


def backward_transitions(step: RotorStep, ud, psi, lam, n: int, native: bool = False):
    """The scanned backward step from the inverse unitaries ``ud`` (n, 2, 2): ``(M, ψ_in, λ_in)``
    with ``M`` the (n, 2, 2) transition matrices in qubit order (None: the step has no parameters);
    below ``BLOCKS_FROM`` qubits the reduced matrices ``M'`` of :func:`qubit_transitions`, which give
    the same gradients; with ``native``, those of the native kernel at every ``n``."""
    if native:
        return native_transitions(step, ud, psi, lam, n)
    if n < BLOCKS_FROM:
        return qubit_transitions(step, ud, psi, lam, n)
    k, nsteps, rest = _blocks(n)
    vs = _kron(ud[: nsteps * k].reshape(nsteps, k, 2, 2))
    vl = _kron(ud[nsteps * k:])
    want = wants_grads(step)

    def one(carry, v, kb):
        p, mu = carry  # mu = conj(λ), pulled back with conj(U†)
        m = _block_transitions(mu, p, kb) if want else jnp.zeros((kb, 2, 2), jnp.complex128)
        return (_lead_apply(p, v), _lead_apply(mu, jnp.conj(v))), m

    carry = (psi, jnp.conj(lam))
    parts = []
    if n >= UNROLL_FROM:
        for s in range(nsteps):
            carry, m = one(carry, vs[s], k)
            parts.append(m)
        nsteps = 0
    if nsteps % 2:
        carry, m0 = one(carry, vs[0], k)
        parts.append(m0)
        vs = vs[1:]
    if nsteps > 1:
        def two(c, v2):  # two blocks per iteration: the products alternate two buffers, no carry copy
            c, m1 = one(c, v2[0], k)
            c, m2 = one(c, v2[1], k)
            return c, jnp.concatenate([m1, m2])

        carry, ms = lax.scan(two, carry, vs.reshape((nsteps // 2, 2) + vs.shape[1:]))
        parts.append(ms.reshape(-1, 2, 2))
    carry, m_last = one(carry, vl, rest)
    parts.append(m_last)
    psi, lam = carry[0], jnp.conj(carry[1])
    if not want:
        return None, psi, lam
    return (jnp.concatenate(parts) if len(parts) > 1 else parts[0]), psi, lam
