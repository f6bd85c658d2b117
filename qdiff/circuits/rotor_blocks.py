"""Backward pass of a scanned rotor layer as real block matrix products.

The reversible adjoint walks ψ and λ back through a rotor layer (one-qubit unitaries ``U_q``
on every qubit) and needs, per qubit, the transition matrix
``M_q[a, b] = Σ_rest conj(λ[…a…]) ψ[…b…]`` (see :mod:`qdiff.circuits.rotor`).  Here the
qubits are taken ``_BLOCK`` at a time from the front of the state: ψ and λ are held as real
planes ``[Re, Im]`` (shape (2, 2**n)), the block's Kronecker product ``⊗ U_q†`` is applied as
one real matrix product that also moves the block to the end (after all blocks the qubit order
is restored), and the block's joint transition matrix ``G = conj(Λ) Ψᵀ`` is one more real
product, from which each ``M_q`` follows by a partial trace.  XLA CPU runs real ``dot``
kernels at matrix-product speed but complex elementwise arithmetic scalar, which is what makes
this faster than one complex 2×2 pass per qubit.
"""

from __future__ import annotations

import numpy as np

import jax.numpy as jnp
from jax import lax

from .compile import RotorStep
from .rotor import _all_qubit_unitaries, _grads_from


_BLOCK = 3
"""Qubits per step of the backward rotor scan: each step applies the Kronecker product of
``_BLOCK`` one-qubit unitaries to the leading qubits of ψ and λ as one real matrix product
(``2·2**_BLOCK`` square) and reads their joint transition matrix with one more product.
XLA CPU runs real ``dot`` kernels at GEMM speed but elementwise complex arithmetic scalar, so at
n=20 this is ≈ 6 ms per qubit against ≈ 18 ms for one complex 2×2 pass per qubit; 2 and 4
qubits per step measured 8.7 and 6.3 ms per qubit (``benchmarks/circuits.py`` for end-to-end)."""

BLOCKS_FROM = 12
"""Qubit count from which repeat bodies use these block products in the backward pass.  Below it
the state fits in L1/L2, the run time is kernel dispatch more than arithmetic (n=10, depth 100:
10.8 vs 11.4 ms with the one-qubit scan), and the larger program would push the compile time of
value-and-gradient at n=10 from ≈ 1.4 s to ≈ 2 s."""


def _to_planes(x):
    """(1, 2**n) complex → (2, 2**n) real planes ``[Re, Im]``."""
    return jnp.concatenate([jnp.real(x), jnp.imag(x)])


def _from_planes(x):
    return lax.complex(x[0], x[1])[None]


def _kron(us):
    """(..., k, 2, 2) → (..., 2**k, 2**k): ``us[..., 0] ⊗ us[..., 1] ⊗ …`` (first factor most significant)."""
    v = us[..., 0, :, :]
    for i in range(1, us.shape[-3]):
        u = us[..., i, :, :]
        d = v.shape[-1] * 2
        v = (v[..., :, None, :, None] * u[..., None, :, None, :]).reshape(v.shape[:-2] + (d, d))
    return v


def _real_matrix(v):
    """Real (2K, 2K) form of a complex (K, K) matrix acting on stacked ``[Re; Im]``."""
    vr, vi = jnp.real(v), jnp.imag(v)
    return jnp.concatenate([jnp.concatenate([vr, -vi], -1), jnp.concatenate([vi, vr], -1)], -2)


def _planes_lead_apply(x, w):
    """Apply the real form ``w`` (2K, 2K) of a K×K unitary to the leading ``log2 K`` qubits of the
    planes ``x`` (2, 2**n) and move those qubits to the end (one matrix product and one transpose)."""
    k2 = w.shape[0]
    y = x.reshape(k2, -1).T @ w.T  # y[r, (c', a)] = Σ_(c, b) w[(c', a), (c, b)] x[(c, b), r]
    return y.reshape(-1, 2, k2 // 2).transpose(1, 0, 2).reshape(2, -1)


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


def _planes_gram(xl, xp, k: int):
    """Per leading qubit ``j < k``: ``M_j[a, b] = Σ conj(λ[…a…]) ψ[…b…]`` (k, 2, 2), from the
    block transition matrix ``G = conj(Λ) Ψᵀ`` (one real product of the planes) by partial traces."""
    kk = 1 << k
    t = (xl.reshape(2 * kk, -1) @ xp.reshape(2 * kk, -1).T).reshape(2, kk, 2, kk)
    g = lax.complex(t[0, :, 0] + t[1, :, 1], t[0, :, 1] - t[1, :, 0]).reshape(-1)
    return (jnp.asarray(_trace_matrix(k), jnp.complex128) @ g).reshape(k, 2, 2)


def _blocks(n: int):
    k = min(_BLOCK, n)
    nsteps = (n - 1) // k
    return k, nsteps, n - nsteps * k


def backward_prepare(step: RotorStep, params, n: int):
    """What the scanned backward step needs from the parameters, computed ahead of a repeat loop
    for all repetitions at once: the (n, 2, 2) inverse unitaries ``U_q†`` in qubit order."""
    return _all_qubit_unitaries(step, params, True, n)


def wants_grads(step: RotorStep) -> bool:
    return any(op.pidx >= 0 for op in step.ops)


def backward_transitions(step: RotorStep, ud, psi, lam, n: int):
    """The scanned backward step from the inverse unitaries ``ud`` (n, 2, 2): ``(M, ψ_in, λ_in)``
    with ``M`` the (n, 2, 2) transition matrices in qubit order (None: the step has no parameters)."""
    k, nsteps, rest = _blocks(n)
    ws = _real_matrix(_kron(ud[: nsteps * k].reshape(nsteps, k, 2, 2)))
    wl = _real_matrix(_kron(ud[nsteps * k:]))
    want = wants_grads(step)

    def one(carry, w, kb):
        xp, xl = carry
        m = _planes_gram(xl, xp, kb) if want else jnp.zeros((kb, 2, 2), jnp.complex128)
        return (_planes_lead_apply(xp, w), _planes_lead_apply(xl, w)), m

    carry = (_to_planes(psi), _to_planes(lam))
    parts = []
    if nsteps:
        carry, ms = lax.scan(lambda c, w: one(c, w, k), carry, ws)
        parts.append(ms.reshape(nsteps * k, 2, 2))
    carry, m_last = one(carry, wl, rest)
    parts.append(m_last)
    psi, lam = _from_planes(carry[0]), _from_planes(carry[1])
    if not want:
        return None, psi, lam
    return (jnp.concatenate(parts) if len(parts) > 1 else parts[0]), psi, lam


def grads_from_transitions(step: RotorStep, params, ms) -> list:
    """Gradient terms of a scanned step from its (n, 2, 2) transition matrices in qubit order."""
    return _grads_from(step, params, ms[np.array([q for q, _ in step.chains])])
