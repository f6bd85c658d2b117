"""State-vector kernels for the compiled steps (forward, inverse, gradient terms).

States are handled as arrays of shape ``(k, 2**n)`` (``k`` stacked vectors, e.g.
the state and the adjoint state walked back together).  Every per-basis-state
quantity (control masks, parities, permutation indices, phases) is computed at
run time from ``lax.iota`` with bit operations, so no ``2**n``-sized constant
is ever baked into a compiled program.  Qubit ``q`` is bit ``n-1-q`` of the
index (qubit 0 most significant) and axis ``q`` of the ``(2,)*n`` view.

For a gate ``U(θ)`` with ``K = (∂U/∂θ) U†`` (``−i s/2·P`` for a rotation about
the Pauli string ``P``, ``i s·|1⟩⟨1|`` for a phase gate, times the control
projector), the derivative of ``Re⟨λ|ψ_out⟩`` is ``Re⟨λ|K|ψ⟩`` with ``ψ`` and
``λ`` both taken right after the gate.
"""

from __future__ import annotations

import numpy as np

import jax.numpy as jnp
from jax import lax

from .compile import DiagStep, GateStep, Op, PermStep

_INT = jnp.int32


def index(n: int):
    """Basis indices ``0 … 2**n − 1`` (int32, computed at run time)."""
    return lax.iota(_INT, 1 << n)


def bit(b, n: int, q: int):
    return (b >> (n - 1 - q)) & 1


def cond_mask(b, n: int, ctrls, cvals):
    """Boolean mask of basis states whose control qubits hold the required values (None: no controls)."""
    m = None
    for c, v in zip(ctrls, cvals):
        t = bit(b, n, c) == v
        m = t if m is None else m & t
    return m


def parity(b, n: int, qubits):
    p = jnp.zeros_like(b)
    for q in qubits:
        p = p ^ bit(b, n, q)
    return p


def flip(psi, n: int, qubits):
    """``ψ[b ⊕ mask]`` where ``mask`` has the bits of ``qubits`` set."""
    k = psi.shape[0]
    v = psi.reshape((k,) + (2,) * n)
    return lax.rev(v, tuple(1 + q for q in qubits)).reshape(k, -1)


def pauli_phase(b, n: int, pauli: str, qubits):
    """``φ(b)`` with ``P|b⟩ = φ(b)|b ⊕ m⟩`` for the Pauli string ``pauli`` on ``qubits``."""
    ny = pauli.count("Y")
    signed = [q for q, c in zip(qubits, pauli) if c in "YZ"]
    sgn = 1 - 2 * parity(b, n, signed) if signed else None
    base = (1j) ** ny
    if sgn is None:
        return jnp.asarray(base, jnp.complex128)
    return base * sgn.astype(jnp.float64)


def apply_pauli(psi, n: int, pauli: str, qubits):
    """``P ψ`` for a Pauli string on ``qubits``."""
    xq = [q for q, c in zip(qubits, pauli) if c in "XY"]
    b = index(n)
    src = psi if not xq else flip(psi, n, xq)
    xm = 0
    for q in xq:
        xm |= 1 << (n - 1 - q)
    return src * pauli_phase(b ^ xm, n, pauli, qubits)


# ------------------------------------------------------------------------------ diagonal steps

def _half(n: int) -> int:
    return n // 2


def _factor_table(ops, params, n, inverse):
    """Per-qubit (n, 2) phase table of the uncontrolled one-qubit diagonal ops, or None for qubits unused."""
    tab = {}
    for op in ops:
        if op.ctrls or len(op.targets) != 1:
            continue
        d = _op_diag_pair(op, params)
        if inverse:
            d = jnp.conj(d)
        q = op.targets[0]
        tab[q] = d if q not in tab else tab[q] * d
    return tab


def _op_diag_pair(op: Op, params):
    """The two diagonal entries (|0⟩, |1⟩) of an uncontrolled one-qubit diagonal op."""
    g = op.gate
    if g.kind == "fixed":
        m = np.array(g.matrix)
        return jnp.asarray(np.diag(m), jnp.complex128)
    th = op.sign * params[op.pidx]
    if g.kind == "phase":
        return jnp.stack([jnp.ones((), jnp.complex128), jnp.exp(1j * th)])
    e = jnp.exp(-0.5j * th)
    return jnp.stack([e, jnp.conj(e)])


def _is_factor(op: Op) -> bool:
    return not op.ctrls and len(op.targets) == 1


def _kron_table(tab, qubits):
    """Vector over the basis of ``qubits`` (first = most significant) of Π_q tab[q][bit_q]."""
    out = jnp.ones((1,), jnp.complex128)
    for q in qubits:
        f = tab.get(q)
        if f is None:
            out = jnp.repeat(out, 2)
        else:
            out = (out[:, None] * f[None, :]).reshape(-1)
    return out


def _general_diag(op: Op, params, n, b, inverse):
    """Per-basis-state phase of a controlled or multi-qubit diagonal op."""
    g = op.gate
    m = cond_mask(b, n, op.ctrls, op.cvals)
    if g.kind == "fixed":
        d = np.diag(np.array(g.matrix))
        if inverse:
            d = d.conj()
        j = jnp.zeros_like(b)
        for q in op.targets:
            j = (j << 1) | bit(b, n, q)
        val = jnp.asarray(d, jnp.complex128)[j]
    elif g.kind == "phase":
        th = op.sign * params[op.pidx] * (-1 if inverse else 1)
        val = jnp.where(bit(b, n, op.targets[0]) == 1, jnp.exp(1j * th), jnp.ones((), jnp.complex128))
    else:
        th = op.sign * params[op.pidx] * (-1 if inverse else 1)
        e = jnp.exp(-0.5j * th)
        val = jnp.where(parity(b, n, op.targets) == 0, e, jnp.conj(e))
    if m is not None:
        val = jnp.where(m, val, jnp.ones((), jnp.complex128))
    return val


def diag_apply(step: DiagStep, params, psi, n: int, inverse: bool = False):
    """Multiply by the fused diagonal of a DiagStep (or its inverse)."""
    k = psi.shape[0]
    tab = _factor_table(step.ops, params, n, inverse)
    out = psi
    if tab:
        h = _half(n)
        hi = _kron_table(tab, range(h))
        lo = _kron_table(tab, range(h, n))
        out = (out.reshape(k, 1 << h, 1 << (n - h)) * hi[None, :, None] * lo[None, None, :]).reshape(k, -1)
    rest = [op for op in step.ops if not _is_factor(op)]
    if rest:
        b = index(n)
        ph = None
        for op in rest:
            v = _general_diag(op, params, n, b, inverse)
            ph = v if ph is None else ph * v
        out = out * ph
    return out


def diag_grads(step: DiagStep, params, psi, lam, n: int) -> dict[int, object]:
    """``{pidx: Re⟨λ|K|ψ⟩}`` for the parametrised ops of a DiagStep (ψ, λ after the step)."""
    w = jnp.imag(jnp.conj(lam) * psi)  # Re⟨λ| i a |ψ⟩ = −Σ a(b) w(b)
    out = {}
    fac = [op for op in step.ops if op.pidx >= 0 and _is_factor(op)]
    if fac:
        h = _half(n)
        w2 = w.reshape(1 << h, 1 << (n - h))
        r, c = jnp.sum(w2, axis=1), jnp.sum(w2, axis=0)
        for op in fac:
            q = op.targets[0]
            if q < h:
                v = r.reshape((2,) * h)
                ax = tuple(a for a in range(h) if a != q)
            else:
                v = c.reshape((2,) * (n - h))
                ax = tuple(a for a in range(n - h) if a != q - h)
            marg = jnp.sum(v, axis=ax) if ax else v
            if op.gate.kind == "phase":
                out[op.pidx] = -op.sign * marg[1]
            else:  # a = s·(−1/2, +1/2)
                out[op.pidx] = -op.sign * 0.5 * (marg[1] - marg[0])
    rest = [op for op in step.ops if op.pidx >= 0 and not _is_factor(op)]
    if rest:
        b = index(n)
        for op in rest:
            m = cond_mask(b, n, op.ctrls, op.cvals)
            if op.gate.kind == "phase":
                a = bit(b, n, op.targets[0]).astype(jnp.float64)
            else:
                a = 0.5 * (2 * parity(b, n, op.targets) - 1).astype(jnp.float64)
            if m is not None:
                a = jnp.where(m, a, 0.0)
            out[op.pidx] = -op.sign * jnp.sum(a * w)
    return out


# ------------------------------------------------------------------------------ permutation steps

def _tau(idx, n: int, op: Op, inverse: bool):
    """Source index map of one permutation op: ψ'[b] = ψ[τ(b)] (τ⁻¹ when ``inverse``)."""
    sigma = np.array(op.permutation)
    table = sigma if inverse else np.argsort(sigma)  # forward: targets j ← σ⁻¹(j)
    ts = op.targets
    k = len(ts)
    j = jnp.zeros_like(idx)
    for q in ts:
        j = (j << 1) | bit(idx, n, q)
    if k == 1 and tuple(table) == (1, 0):
        new = idx ^ (1 << (n - 1 - ts[0]))
    else:
        jn = jnp.asarray(table, _INT)[j]
        tmask = 0
        for q in ts:
            tmask |= 1 << (n - 1 - q)
        new = idx & ~tmask
        for pos, q in enumerate(ts):
            new = new | (((jn >> (k - 1 - pos)) & 1) << (n - 1 - q))
    m = cond_mask(idx, n, op.ctrls, op.cvals)
    return new if m is None else jnp.where(m, new, idx)


def perm_index(step: PermStep, n: int, inverse: bool = False):
    """Gather index of a PermStep: ψ_out = ψ_in[:, idx] (or the inverse permutation)."""
    idx = index(n)
    ops = step.ops if inverse else tuple(reversed(step.ops))
    for op in ops:
        idx = _tau(idx, n, op, inverse)
    return idx


# ------------------------------------------------------------------------------ single gates

def _theta(op: Op, params, inverse):
    th = op.sign * params[op.pidx]
    return -th if inverse else th


def gate_apply(op: Op, params, psi, n: int, inverse: bool = False):
    """Apply one non-diagonal, non-permutation op (or its inverse)."""
    g = op.gate
    b = index(n)
    m = cond_mask(b, n, op.ctrls, op.cvals)
    if g.kind == "rot":
        th = _theta(op, params, inverse)
        c, s = jnp.cos(0.5 * th), jnp.sin(0.5 * th)
        pp = apply_pauli(psi, n, g.pauli, op.targets)
        new = c * psi - 1j * s * pp
    elif len(op.targets) == 1:
        u = np.array(g.matrix)
        if inverse:
            u = u.conj().T
        bt = bit(b, n, op.targets[0]) == 1
        d0 = jnp.where(bt, u[1, 1], u[0, 0])
        d1 = jnp.where(bt, u[1, 0], u[0, 1])
        new = d0 * psi + d1 * flip(psi, n, op.targets)
    else:
        u = np.array(g.matrix)
        if inverse:
            u = u.conj().T
        t = len(op.targets)
        k = psi.shape[0]
        v = psi.reshape((k,) + (2,) * n)
        ut = jnp.asarray(u.reshape((2,) * (2 * t)), jnp.complex128)
        axes = [1 + q for q in op.targets]
        res = jnp.tensordot(v, ut, axes=(axes, list(range(t, 2 * t))))
        # res axes: remaining axes of v (in order), then the t output axes of u
        new = jnp.moveaxis(res, list(range(res.ndim - t, res.ndim)), axes).reshape(k, -1)
    return new if m is None else jnp.where(m, new, psi)


def gate_grad(op: Op, params, psi, lam, n: int):
    """``Re⟨λ|K|ψ⟩`` for a parametrised non-diagonal op (ψ, λ right after the op)."""
    g = op.gate
    b = index(n)
    m = cond_mask(b, n, op.ctrls, op.cvals)
    pp = apply_pauli(psi, n, g.pauli, op.targets)
    z = jnp.conj(lam) * pp
    if m is not None:
        z = jnp.where(m, z, 0.0)
    return 0.5 * op.sign * jnp.imag(jnp.sum(z))  # Re(−i s/2 ⟨λ|P|ψ⟩)


def step_apply(step, params, psi, n: int, perm=None, inverse: bool = False):
    """Apply one compiled step (not a RepeatStep) to ``psi`` of shape (k, 2**n)."""
    if isinstance(step, DiagStep):
        return diag_apply(step, params, psi, n, inverse)
    if isinstance(step, PermStep):
        idx = perm if perm is not None else perm_index(step, n, inverse)
        return jnp.take(psi, idx, axis=1)
    if isinstance(step, GateStep):
        return gate_apply(step.op, params, psi, n, inverse)
    raise TypeError(f"not an executable step: {type(step).__name__}")


def step_grads(step, params, psi, lam, n: int) -> dict[int, object]:
    """Gradient terms ``{pidx: value}`` of one step (ψ, λ right after the step)."""
    if isinstance(step, DiagStep):
        return diag_grads(step, params, psi, lam, n)
    if isinstance(step, GateStep) and step.op.pidx >= 0:
        return {step.op.pidx: gate_grad(step.op, params, psi, lam, n)}
    return {}
