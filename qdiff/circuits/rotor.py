"""Kernels of a :class:`~qdiff.circuits.compile.RotorStep`: one-qubit gate chains on distinct qubits.

Each qubit's chain ``G_k ⋯ G_1`` is multiplied into one 2×2 unitary ``U_q``
(batched over qubits with the same chain structure, a few small array ops per
step), and ``U_q`` is applied with one pass over the state per qubit.

Gradient: with ``M_q[a, b] = Σ_rest conj(λ[…a…]) ψ[…b…]`` (ψ, λ at the end of
the step; ``a``, ``b`` the value of qubit ``q``), the derivative with respect to
the parameter of ``G_j`` is ``Re Σ_ab K̃_j[a, b] M_q[a, b]``, where
``K̃_j = W_j K_j W_j†``, ``W_j = G_k ⋯ G_{j+1}`` and ``K_j = (∂G_j/∂θ) G_j†``.
The diagonal of every ``M_q`` comes from two marginal sums of
``conj(λ)·ψ``; the off-diagonal needs one reduction per qubit.
"""

from __future__ import annotations

import numpy as np

import jax.numpy as jnp

from .compile import Op, RotorStep
from .gates import pauli_matrix



def _signature(ops) -> tuple:
    return tuple((op.gate, op.sign) for op in ops)


def _groups(step: RotorStep):
    """Chains grouped by structure: list of (positions in step.chains, ops-per-position lists)."""
    groups: dict = {}
    for i, (q, ops) in enumerate(step.chains):
        groups.setdefault(_signature(ops), []).append(i)
    out = []
    for sig, members in groups.items():
        per_pos = [[step.chains[i][1][j] for i in members] for j in range(len(sig))]
        out.append((members, per_pos))
    return out


def _gate_mats(ops: list[Op], params):
    """Batched (m, 2, 2) matrices of the same one-qubit gate at each member's parameter."""
    g, sign = ops[0].gate, ops[0].sign
    m = len(ops)
    if g.kind == "fixed":
        u = np.array(g.matrix)
        return jnp.broadcast_to(jnp.asarray(u, jnp.complex128), (m, 2, 2)), None
    th = sign * params[np.array([op.pidx for op in ops])]
    if g.kind == "phase":
        e = jnp.exp(1j * th)
        one, zero = jnp.ones_like(e), jnp.zeros_like(e)
        mats = jnp.stack([jnp.stack([one, zero], -1), jnp.stack([zero, e], -1)], -2)
        gen = jnp.asarray([[0, 0], [0, 1j]], jnp.complex128) * sign
    else:
        p = jnp.asarray(pauli_matrix(g.pauli))
        c, s = jnp.cos(0.5 * th), jnp.sin(0.5 * th)
        mats = c[:, None, None] * jnp.eye(2) - 1j * s[:, None, None] * p
        gen = -0.5j * sign * p
    return mats, gen


def _chain_mats(step: RotorStep, params):
    """Per group: (members, list of per-position (mats, gen), suffix products W_j, U)."""
    out = []
    for members, per_pos in _groups(step):
        mats = [_gate_mats(ops, params) for ops in per_pos]
        k = len(mats)
        w = [None] * k
        acc = jnp.broadcast_to(jnp.eye(2, dtype=jnp.complex128), (len(members), 2, 2))
        for j in range(k - 1, -1, -1):
            w[j] = acc
            acc = acc @ mats[j][0]
        out.append((members, per_pos, mats, w, acc))
    return out


def _unitaries(step: RotorStep, params, inverse: bool):
    """(len(chains), 2, 2) unitaries U_q (or U_q†), in step.chains order, materialised."""
    us = [None] * len(step.chains)
    for members, _, _, _, u in _chain_mats(step, params):
        if inverse:
            u = jnp.conj(jnp.swapaxes(u, -1, -2))
        for t, i in enumerate(members):
            us[i] = t, u
    stacked = []
    for t, u in us:
        stacked.append(u[t])
    return jnp.stack(stacked)


def apply_2x2(psi, n: int, q: int, u):
    """Apply the 2×2 matrix ``u`` to qubit ``q`` of ``psi`` (shape (k, 2**n))."""
    k = psi.shape[0]
    v = psi.reshape(k, 1 << q, 2, 1 << (n - q - 1))
    a, b = v[:, :, 0, :], v[:, :, 1, :]
    out = jnp.stack([u[0, 0] * a + u[0, 1] * b, u[1, 0] * a + u[1, 1] * b], axis=2)
    return out.reshape(k, -1)


def rotor_apply(step: RotorStep, params, psi, n: int, inverse: bool = False):
    us = _unitaries(step, params, inverse)
    for i, (q, _) in enumerate(step.chains):
        psi = apply_2x2(psi, n, q, us[i])
    return psi


def _marginal_matrix(m: int) -> np.ndarray:
    """(2**m, 2m) indicator: column 2j+v selects basis states whose bit j (MSB first) equals v."""
    idx = np.arange(1 << m)[:, None]
    bits = (idx >> (m - 1 - np.arange(m))[None, :]) & 1
    out = np.zeros((1 << m, 2 * m))
    out[:, 0::2] = bits == 0
    out[:, 1::2] = bits == 1
    return out


def transition_matrices(step: RotorStep, psi, lam, n: int):
    """``M_q`` for every chain qubit, shape (len(chains), 2, 2); psi, lam of shape (1, 2**n)."""
    h = n // 2
    w = (jnp.conj(lam) * psi).reshape(1 << h, 1 << (n - h))
    r, c = jnp.sum(w, axis=1), jnp.sum(w, axis=0)
    diag_hi = (r @ _marginal_matrix(h)).reshape(h, 2) if h else jnp.zeros((0, 2), w.dtype)
    diag_lo = (c @ _marginal_matrix(n - h)).reshape(n - h, 2)
    diag = jnp.concatenate([diag_hi, diag_lo])
    mats = []
    for q, _ in step.chains:
        pv = psi.reshape(1 << q, 2, 1 << (n - q - 1))
        lv = jnp.conj(lam).reshape(1 << q, 2, 1 << (n - q - 1))
        m01 = jnp.sum(lv[:, 0] * pv[:, 1])
        m10 = jnp.sum(lv[:, 1] * pv[:, 0])
        mats.append(jnp.stack([jnp.stack([diag[q, 0], m01]), jnp.stack([m10, diag[q, 1]])]))
    return jnp.stack(mats)


def rotor_grads(step: RotorStep, params, psi, lam, n: int) -> dict[int, object]:
    """``{pidx: Re Σ K̃ M}`` for the parametrised ops of a RotorStep (ψ, λ after the step)."""
    if not any(op.pidx >= 0 for op in step.ops):
        return {}
    mq = transition_matrices(step, psi, lam, n)
    out = {}
    for members, per_pos, mats, w, _ in _chain_mats(step, params):
        mm = mq[np.array(members)]
        for j, ops in enumerate(per_pos):
            gen = mats[j][1]
            if gen is None:
                continue
            kt = w[j] @ gen @ jnp.conj(jnp.swapaxes(w[j], -1, -2))
            vals = jnp.real(jnp.sum(kt * mm, axis=(-1, -2)))
            for t, op in enumerate(ops):
                out[op.pidx] = vals[t]
    return out
