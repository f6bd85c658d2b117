"""Kernels of a :class:`~qdiff.circuits.compile.RotorStep`: one-qubit gate chains on distinct qubits.

Each qubit's chain ``G_k ⋯ G_1`` is multiplied into one 2×2 unitary ``U_q``
(batched over qubits with the same chain structure, a few small array ops per
step), and ``U_q`` is applied with one pass over the state per qubit.  A layer on
at least half of the qubits runs as one ``lax.scan`` over all qubits: each step
applies ``U_q`` to the leading qubit and moves it to the end (after ``n`` steps
the order is restored), so the compiled program has the same few kernels for
any ``n``; the backward pass of such a layer is in :mod:`qdiff.circuits.rotor_blocks`.

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
from jax import lax

from . import native as _native
from .compile import Op, RotorStep, rotor_scans
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


def _mm(a, b):
    """Batched 2×2 products ``a @ b`` written elementwise: XLA CPU runs a batched ``dot`` of 2×2
    matrices as a library call of a few µs, while this fuses with the gate matrices' own
    elementwise construction into one small kernel (n=10, one rotor layer per loop iteration)."""
    return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


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
            acc = _mm(acc, mats[j][0])
        out.append((members, per_pos, mats, w, acc))
    return out


def _unitaries(step: RotorStep, params, inverse: bool):
    """(len(chains), 2, 2) unitaries U_q (or U_q†), in step.chains order (one gather, not one op per chain)."""
    parts, pos = [], []
    for members, _, _, _, u in _chain_mats(step, params):
        if inverse:
            u = jnp.conj(jnp.swapaxes(u, -1, -2))
        parts.append(u)
        pos.extend(members)
    us = parts[0] if len(parts) == 1 else jnp.concatenate(parts)
    order = np.argsort(np.array(pos))
    return us if np.array_equal(order, np.arange(len(pos))) else us[order]


_SUM_FORM_FROM = 16
"""Qubit count from which a one-qubit update is written as a broadcast product summed over the
qubit's axis instead of a stack of the two output rows.  XLA CPU emits the stack as a concatenate
that picks the row per element; once the state outgrows the cache that runs slower (one layer of
one-qubit steps in a scan, one thread, shared VM: n=16 1.5 against 1.8 ms, n=17 3.4 against
4.8 ms, n=20 34–42 against 56–64 ms) and it always compiles slower.  Below, the two forms run at
the same speed in isolation, but the sum form made the whole n=10 program slower (energy+gradient
at depth 1000 +8 to +25 %)."""


def _apply_summed(psi, n: int, q: int, u):
    """Apply the 2^m×2^m matrix ``u`` to the ``m`` qubits from ``q`` of ``psi`` (shape (k, 2**n)) as a
    broadcast product summed over those qubits' axis: ``out[., a, .] = Σ_b u[a, b] ψ[., b, .]``."""
    k, d = psi.shape[0], u.shape[0]
    v = psi.reshape(k, 1 << q, 1, d, (1 << n) // (d << q))
    return jnp.sum(u[:, :, None] * v, axis=3).reshape(k, -1)


def apply_2x2(psi, n: int, q: int, u):
    """Apply the 2×2 matrix ``u`` to qubit ``q`` of ``psi`` (shape (k, 2**n))."""
    k = psi.shape[0]
    if n >= _SUM_FORM_FROM:
        return _apply_summed(psi, n, q, u)
    v = psi.reshape(k, 1 << q, 2, 1 << (n - q - 1))
    a, b = v[:, :, 0, :], v[:, :, 1, :]
    out = jnp.stack([u[0, 0] * a + u[0, 1] * b, u[1, 0] * a + u[1, 1] * b], axis=2)
    return out.reshape(k, -1)


def uses_scan(step: RotorStep, n: int) -> bool:
    """Whether the step runs as one ``lax.scan`` over all ``n`` qubits (compiled once, whatever ``n``)
    rather than one unrolled kernel per chain qubit (few qubits)."""
    return rotor_scans(len(step.chains), n)


def _chain_qubits(step: RotorStep) -> list[int]:
    return [q for q, _ in step.chains]


def _all_qubit_unitaries(step: RotorStep, params, inverse: bool, n: int):
    """(n, 2, 2) unitaries in qubit order, the identity on qubits without a chain."""
    us = _unitaries(step, params, inverse)
    qs = np.array(_chain_qubits(step))
    eye = jnp.broadcast_to(jnp.eye(2, dtype=jnp.complex128), (n, 2, 2))
    return eye.at[qs].set(us)


def lead_apply(x, u):
    """Apply ``u`` to the leading qubit of ``x`` (shape (..., 2**n)) and move that qubit to the end.

    ``out[..., j, a] = Σ_b u[a, b] x[..., b, j]``: one pass over the state; after ``n`` such
    steps (one per qubit) the qubit order is back to the original.  From ``_SUM_FORM_FROM`` qubits
    written as a product summed over ``b``.
    """
    shape = x.shape
    v = x.reshape(shape[:-1] + (2, -1))
    if shape[-1] >= 1 << _SUM_FORM_FROM:
        return jnp.sum(jnp.swapaxes(v, -1, -2)[..., :, :, None] * u.T, axis=-2).reshape(shape)
    a, b = v[..., 0, :], v[..., 1, :]
    return jnp.stack([u[0, 0] * a + u[0, 1] * b, u[1, 0] * a + u[1, 1] * b], axis=-1).reshape(shape)


def _scan_qubits(one, x, us, n: int):
    """Run ``one(x, u_q) -> (x, out_q)`` for the ``n`` qubits in order, two per scan iteration.

    Two steps per iteration let XLA alternate two state buffers instead of copying the loop
    carry after every step; an odd ``n`` starts with one step outside the scan.
    Returns (x, outs stacked over qubits).
    """
    first = None
    if n % 2:
        x, first = one(x, us[0])
        us = us[1:]

    def body(x, u):
        x, o1 = one(x, u[0])
        x, o2 = one(x, u[1])
        return x, jnp.stack([o1, o2])

    m = us.shape[0] // 2
    x, outs = lax.scan(body, x, us.reshape((m, 2) + us.shape[1:]))
    outs = outs.reshape((2 * m,) + outs.shape[2:])
    if first is not None:
        outs = jnp.concatenate([first[None], outs])
    return x, outs


_IN_PLACE_FROM = 18
"""Qubit count from which the forward pass applies a scanned rotor layer in place, two qubits per
pass, instead of the scan over qubits: once the state (2**18 complex128 = 4 MiB) is far larger
than the cache, the scan step's interleaved write costs more than a strided in-place update, and
a 4×4 update on a qubit pair halves the passes (n=20, one layer: ≈ 57 ms scanned, 43 ms one
qubit per pass, 37 ms two).  This unrolls ``⌈n/2⌉`` kernels per layer in the forward pass only, and
only for layers in a repeat body (compiled once, run many times); the backward pass keeps the scan."""


def apply_4x4(psi, n: int, q: int, u):
    """Apply the 4×4 matrix ``u`` to qubits ``q, q+1`` (``q`` the high bit of ``u``'s index) of
    ``psi`` (shape (k, 2**n)), in place, as a product summed over the pair's axis (``n`` is at
    least ``_IN_PLACE_FROM`` > ``_SUM_FORM_FROM``).  The earlier stack of the four output rows took
    ≈ 0.08 s of XLA compile time per kernel against ≈ 0.03 s, and ran slower (the ten kernels of a layer
    at n=20 after the CNOT gather: compile 0.86–0.95 → 0.28–0.31 s, run 73–77 → 36–37 ms)."""
    return _apply_summed(psi, n, q, u)


def _apply_in_place(us, psi, n: int):
    """Apply the (n, 2, 2) unitaries ``us`` (qubit order) in place, two neighbouring qubits per pass."""
    m = n // 2
    u4 = (us[0:2 * m:2, :, None, :, None] * us[1:2 * m:2, None, :, None, :]).reshape(m, 4, 4)
    for j in range(m):
        psi = apply_4x4(psi, n, 2 * j, u4[j])
    if n % 2:
        psi = apply_2x2(psi, n, n - 1, us[n - 1])
    return psi


def rotor_apply(step: RotorStep, params, psi, n: int, inverse: bool = False, repeated: bool = False,
                native: bool = False):
    """Apply the step's one-qubit unitaries (or their inverses) to ``psi`` of shape (k, 2**n).

    ``repeated``: the step is in a repeat body, so the in-place pair kernels (from ``_IN_PLACE_FROM``
    qubits) are compiled once; a step outside a repeat keeps the scan (compile time independent of n).
    ``native``: one call of the native layer kernel (:mod:`qdiff.circuits.native`) instead; it has no
    JAX derivative, so only the reversible-adjoint simulator passes it.
    """
    if native:
        return _native.rotor_apply(psi, _unitaries(step, params, inverse), _chain_qubits(step), n)
    if uses_scan(step, n):
        us = _all_qubit_unitaries(step, params, inverse, n)
        if repeated and n >= _IN_PLACE_FROM:
            return _apply_in_place(us, psi, n)
        return _scan_qubits(lambda x, u: (lead_apply(x, u), jnp.zeros(())), psi, us, n)[0]
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


def _qubit_marginals(w, n: int):
    """``out[q, v] = Σ_{b: bit q of b is v} w[b]`` for every qubit, shape (n, 2) (``w`` of 2**n
    entries): two sums over the halves of the index and a small indicator product."""
    h = n // 2
    w = w.reshape(1 << h, 1 << (n - h))
    hi = (jnp.sum(w, axis=1) @ _marginal_matrix(h)).reshape(h, 2) if h else jnp.zeros((0, 2), w.dtype)
    lo = (jnp.sum(w, axis=0) @ _marginal_matrix(n - h)).reshape(n - h, 2)
    return jnp.concatenate([hi, lo])


def transition_matrices(step: RotorStep, psi, lam, n: int):
    """``M_q`` for every chain qubit, shape (len(chains), 2, 2); psi, lam of shape (1, 2**n)."""
    diag = _qubit_marginals(jnp.conj(lam) * psi, n)
    mats = []
    for q, _ in step.chains:
        pv = psi.reshape(1 << q, 2, 1 << (n - q - 1))
        lv = jnp.conj(lam).reshape(1 << q, 2, 1 << (n - q - 1))
        m01 = jnp.sum(lv[:, 0] * pv[:, 1])
        m10 = jnp.sum(lv[:, 1] * pv[:, 0])
        mats.append(jnp.stack([jnp.stack([diag[q, 0], m01]), jnp.stack([m10, diag[q, 1]])]))
    return jnp.stack(mats)


def wants_grads(step: RotorStep) -> bool:
    """Whether the step has parametrised gates (otherwise its backward only undoes it)."""
    return any(op.pidx >= 0 for op in step.ops)


def rotor_grads(step: RotorStep, params, psi, lam, n: int) -> list:
    """``[(pidx array, Re Σ K̃ M)]`` for the parametrised ops of a RotorStep (ψ, λ after the step)."""
    if not wants_grads(step):
        return []
    return _grads_from(step, params, transition_matrices(step, psi, lam, n))


def _grads_from(step: RotorStep, params, mq) -> list:
    """Gradient terms ``[(pidx array, values)]`` from the transition matrices ``mq``
    (len(chains), 2, 2), chain order (one array per gate position of each chain structure)."""
    out = []
    for members, per_pos, mats, w, _ in _chain_mats(step, params):
        mm = mq[np.array(members)]
        for j, ops in enumerate(per_pos):
            gen = mats[j][1]
            if gen is None:
                continue
            kt = _mm(_mm(w[j], jnp.broadcast_to(gen, w[j].shape)), jnp.conj(jnp.swapaxes(w[j], -1, -2)))
            vals = jnp.real(jnp.sum(kt * mm, axis=(-1, -2)))
            out.append((np.array([op.pidx for op in ops]), vals))
    return out


def grads_from_transitions(step: RotorStep, params, ms) -> list:
    """Gradient terms of a scanned step from its (n, 2, 2) transition matrices in qubit order (the
    full ``M_q`` or the reduced ``M'_q`` of :func:`qubit_transitions`: both give the same terms)."""
    return _grads_from(step, params, ms[np.array(_chain_qubits(step))])


def qubit_transitions(step: RotorStep, ud, psi, lam, n: int):
    """Walk ψ and λ (shape (1, 2**n)) back through a scanned rotor layer one qubit per step, reading
    what the gradient needs of every ``M_q``: ``(M', ψ_in, λ_in)`` with ``M'`` of shape (n, 2, 2) in
    qubit order (None when the step has no parameters); ``ud`` are the (n, 2, 2) inverse unitaries.

    Every ``K̃`` of a one-qubit gate is anti-Hermitian, and for such ``K̃``
    ``Re Σ K̃ M = Re Σ K̃ M'`` with ``M' = [[i Im M₀₀, M₀₁ − conj(M₁₀)], [0, i Im M₁₁]]``.  The
    diagonals of all ``M'_q`` are the qubit marginals of ``Im(conj(λ)·ψ)`` before the walk (``M_q``
    does not change when other qubits' gates are undone); the step of qubit ``q`` (while it leads)
    needs one fused multiply-and-sum, ``Σ conj(λ₀)ψ₁ − λ₁ conj(ψ₀)``, instead of the four sums of
    the full ``M_q``.  XLA CPU runs such reductions serially, so at 10 qubits they were most of
    the backward pass of a layer (n=10, depth 1000, energy+gradient ≈ 0.11 → 0.085 s).
    """
    want = wants_grads(step)

    def one(carry, u):
        p, l = carry
        off = jnp.zeros((), p.dtype)
        if want:
            pv, lv = p.reshape(2, -1), l.reshape(2, -1)
            off = jnp.sum(jnp.conj(lv[0]) * pv[1] - lv[1] * jnp.conj(pv[0]))
        return (lead_apply(p, u), lead_apply(l, u)), off

    diag = _qubit_marginals(jnp.imag(jnp.conj(lam) * psi), n) if want else None
    (psi, lam), off = _scan_qubits(one, (psi, lam), ud, n)
    if not want:
        return None, psi, lam
    return _native.reduced_matrix(diag[:, 0], diag[:, 1], off), psi, lam


def native_transitions(step: RotorStep, ud, psi, lam, n: int):
    """:func:`qubit_transitions` by one call of the native kernel, which undoes ψ and λ and
    accumulates every ``M'`` in the same pass (:func:`qdiff.circuits.native.rotor_back`)."""
    m, psi, lam = _native.rotor_back(psi, lam, ud, range(n), n)
    return (m[0] if wants_grads(step) else None), psi, lam


def rotor_backward_native(step: RotorStep, params, psi, lam, n: int):
    """One backward step of any rotor step with the native kernel: ``(grads, ψ_in, λ_in)``, the
    kernel's reduced transition matrices (chain order) turned into gradient terms."""
    m, psi, lam = _native.rotor_back(psi, lam, _unitaries(step, params, True), _chain_qubits(step), n)
    return (_grads_from(step, params, m[0]) if wants_grads(step) else []), psi, lam


def rotor_backward_scan(step: RotorStep, params, psi, lam, n: int):
    """One backward step of a scanned layer outside a repeat body, one qubit per scan step:
    ``(grads, ψ_in, λ_in)`` — :func:`qubit_transitions` with the layer's inverse unitaries (repeat
    bodies compute those for all repetitions ahead of their loop instead)."""
    ms, psi, lam = qubit_transitions(step, _all_qubit_unitaries(step, params, True, n), psi, lam, n)
    return ([] if ms is None else grads_from_transitions(step, params, ms)), psi, lam
