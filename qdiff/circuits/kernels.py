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

import jax
import jax.numpy as jnp
from jax import lax

from . import native as _native
from .gates import pauli_matrix
from .compile import DiagStep, GateStep, Op, PermStep, RotorStep
from .rotor import apply_2x2, rotor_apply, rotor_backward_native, rotor_backward_scan, rotor_grads, uses_scan
from .rotor_blocks import backward_prepare, backward_transitions



def materialize(x):
    """Force ``x`` (a small array) to be computed once, not inside every consumer's loop.

    XLA fuses cheap-looking producers (cos, sin, exp of a few parameters) into the elementwise
    kernels that consume them, recomputing them for each of the ``2**n`` amplitudes; an
    optimisation barrier does not survive to fusion on CPU.  A product with an identity matrix is
    a dot, which XLA never fuses into a loop, so the values are materialised once.
    """
    x = jnp.asarray(x)
    flat = x.reshape(-1)
    if flat.shape[0] % 2:
        flat = jnp.concatenate([flat, jnp.zeros((1,), flat.dtype)])
    out = (flat.reshape(-1, 2) @ jnp.eye(2, dtype=flat.dtype)).reshape(-1)
    return out[: x.size].reshape(x.shape)


def _ob(x):
    return jax.tree_util.tree_map(materialize, x)

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


def _is_factor(op: Op) -> bool:
    return not op.ctrls and len(op.targets) == 1


def _factor_coeffs(ops):
    """For uncontrolled one-qubit diagonal ops: (qubits, pidx or -1, A, B) with phase angles
    ``angle[j, v] = θ_j·A[j, v] + B[j, v]`` on qubit value ``v`` (A = 0 for fixed gates)."""
    qs, pidx, a, bb = [], [], [], []
    for op in ops:
        g = op.gate
        if g.kind == "fixed":
            d = np.diag(np.array(g.matrix))
            qs.append(op.targets[0]); pidx.append(-1); a.append((0.0, 0.0)); bb.append(tuple(np.angle(d)))
        elif g.kind == "phase":
            qs.append(op.targets[0]); pidx.append(op.pidx); a.append((0.0, op.sign)); bb.append((0.0, 0.0))
        else:
            qs.append(op.targets[0]); pidx.append(op.pidx); a.append((-0.5 * op.sign, 0.5 * op.sign))
            bb.append((0.0, 0.0))
    return np.array(qs), np.array(pidx), np.array(a), np.array(bb)


def _indicator(n: int, qubits, lo: int, m: int) -> np.ndarray:
    """(2**m, 2·len(qubits)) matrix: entry [b, 2j+v] = 1 if qubit qubits[j] (in lo..lo+m) has value v in b."""
    b = np.arange(1 << m)[:, None]
    out = np.zeros((1 << m, 2 * len(qubits)))
    for j, q in enumerate(qubits):
        if lo <= q < lo + m:
            v = (b[:, 0] >> (m - 1 - (q - lo))) & 1
            out[np.arange(1 << m), 2 * j + v] = 1.0
    return out


def _factor_angles(ops, params):
    qs, pidx, a, bb = _factor_coeffs(ops)
    if np.any(pidx >= 0):
        theta = jnp.where(jnp.asarray(pidx >= 0), params[np.maximum(pidx, 0)], 0.0)
    else:
        theta = jnp.zeros(len(pidx))
    return qs, (theta[:, None] * a + bb).reshape(-1)


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
        val = jnp.where(bit(b, n, op.targets[0]) == 1, _ob(jnp.exp(1j * th)), jnp.ones((), jnp.complex128))
    else:
        th = op.sign * params[op.pidx] * (-1 if inverse else 1)
        e = _ob(jnp.exp(-0.5j * th))
        val = jnp.where(parity(b, n, op.targets) == 0, e, jnp.conj(e))
    if m is not None:
        val = jnp.where(m, val, jnp.ones((), jnp.complex128))
    return val


def diag_apply(step: DiagStep, params, psi, n: int, inverse: bool = False):
    """Multiply by the fused diagonal of a DiagStep (or its inverse).

    The uncontrolled one-qubit factors are combined into two vectors over the high and the
    low half of the qubits (``2**(n/2)`` phases each, from a small indicator matmul), so the
    state is touched once.
    """
    k = psi.shape[0]
    fac = [op for op in step.ops if _is_factor(op)]
    out = psi
    if fac:
        h = n // 2
        qs, ang = _factor_angles(fac, params)
        if inverse:
            ang = -ang
        hi_ang = jnp.asarray(_indicator(n, qs, 0, h)) @ ang
        lo_ang = jnp.asarray(_indicator(n, qs, h, n - h)) @ ang
        hi, lo = _ob((jnp.exp(1j * hi_ang), jnp.exp(1j * lo_ang)))
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


def diag_grads(step: DiagStep, params, psi, lam, n: int) -> list:
    """``[(pidx array, Re⟨λ|K|ψ⟩)]`` for the parametrised ops of a DiagStep (ψ, λ after the step).

    With phase angle ``θ·a(b)``, ``K = i·a(b)`` and ``Re⟨λ|K|ψ⟩ = −Σ_b a(b) Im(conj(λ_b) ψ_b)``.
    """
    w = jnp.imag(jnp.conj(lam) * psi)
    out = []
    fac = [op for op in step.ops if op.pidx >= 0 and _is_factor(op)]
    if fac:
        h = n // 2
        qs, _, a, _ = _factor_coeffs(fac)
        w2 = w.reshape(1 << h, 1 << (n - h))
        r, c = jnp.sum(w2, axis=1), jnp.sum(w2, axis=0)
        marg = (r @ jnp.asarray(_indicator(n, qs, 0, h)) + c @ jnp.asarray(_indicator(n, qs, h, n - h)))
        vals = -jnp.sum(marg.reshape(-1, 2) * jnp.asarray(a), axis=1)
        out.append((np.array([op.pidx for op in fac]), vals))
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
            out.append((np.array([op.pidx]), jnp.reshape(-op.sign * jnp.sum(a * w), (1,))))
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
    if len(op.targets) == 1 and m is None:
        if g.kind == "rot":
            th = _theta(op, params, inverse)
            u = _ob(jnp.cos(0.5 * th) * jnp.eye(2) - 1j * jnp.sin(0.5 * th) * jnp.asarray(pauli_matrix(g.pauli)))
        else:
            u = np.array(g.matrix)
            u = jnp.asarray(u.conj().T if inverse else u)
        return apply_2x2(psi, n, op.targets[0], u)
    if g.kind == "rot":
        th = _theta(op, params, inverse)
        c, s = _ob((jnp.cos(0.5 * th), jnp.sin(0.5 * th)))
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


def prepare_one(steps, params, n: int) -> dict:
    """Per-step values for the backward pass of one repetition of a repeat body (``params`` of shape
    (nparams,)): ``{position: inverse unitaries}`` of its scanned rotor steps, whose backward step
    then returns transition matrices instead of gradient terms (see
    :func:`qdiff.circuits.rotor_blocks.backward_transitions`)."""
    return {j: backward_prepare(s, params, n) for j, s in enumerate(steps)
            if isinstance(s, RotorStep) and uses_scan(s, n)}


def prepare(steps, params, n: int) -> dict:
    """:func:`prepare_one` for a chunk of a repeat body's parameters (shape (chunk, nparams)), ahead
    of its loop (from 12 qubits): one batched computation for the chunk instead of a few dozen small
    kernels inside every iteration; the loop returns the transition matrices, turned into gradients
    for the whole chunk after it."""
    return jax.vmap(lambda p: prepare_one(steps, p, n))(params)


_NATIVE_PERMUTE_BELOW = 18
"""With the native kernels, basis permutations (CNOT rings) below this many qubits use the native
gather (one thread, per call of Yao's CNOT ring: n=10 1.0 against 4–6 µs for XLA's gather, n=16
0.18 against 0.23 ms); from 18 qubits XLA's gather, which computes the index in the loop instead of
reading an index array, is faster (n=20: 4.8 against 6.1 ms)."""


def step_apply(step, params, psi, n: int, perm=None, inverse: bool = False, repeated: bool = False,
               native: bool = False):
    """Apply one compiled step (not a RepeatStep) to ``psi`` of shape (k, 2**n); ``repeated``: the
    step is in a repeat body (compiled once, run many times: rotor layers may unroll per qubit pair);
    ``native``: rotor steps run the native kernel (no JAX derivative: reversible adjoint only)."""
    if isinstance(step, DiagStep):
        return diag_apply(step, params, psi, n, inverse)
    if isinstance(step, PermStep):
        idx = perm if perm is not None else perm_index(step, n, inverse)
        if native and n < _NATIVE_PERMUTE_BELOW:
            return _native.permute(psi, idx)
        return psi.at[:, idx].get(mode="promise_in_bounds", unique_indices=True)
    if isinstance(step, GateStep):
        return gate_apply(step.op, params, psi, n, inverse)
    if isinstance(step, RotorStep):
        return rotor_apply(step, params, psi, n, inverse, repeated, native)
    raise TypeError(f"not an executable step: {type(step).__name__}")


def step_grads(step, params, psi, lam, n: int) -> list:
    """Gradient terms ``[(pidx array, values)]`` of one step (ψ, λ right after the step)."""
    if isinstance(step, DiagStep):
        return diag_grads(step, params, psi, lam, n)
    if isinstance(step, RotorStep):
        return rotor_grads(step, params, psi, lam, n)
    if isinstance(step, GateStep) and step.op.pidx >= 0:
        return [(np.array([step.op.pidx]), jnp.reshape(gate_grad(step.op, params, psi, lam, n), (1,)))]
    return []


def step_backward(step, params, psi, lam, n: int, perm=None, pre=None, native: bool = False):
    """One step of the reversible adjoint: ``(grads, ψ_in, λ_in)`` from ψ, λ right after the step.

    With ``pre`` (a scanned rotor step's values from :func:`prepare`), ``grads`` is instead the
    step's (n, 2, 2) transition matrices (or None), turned into gradients after the loop.
    ``native``: rotor steps run the native kernel (:mod:`qdiff.circuits.native`)."""
    if pre is not None:
        return backward_transitions(step, pre, psi, lam, n, native)
    if isinstance(step, RotorStep) and native:
        return rotor_backward_native(step, params, psi, lam, n)
    if isinstance(step, RotorStep):
        if uses_scan(step, n):
            return rotor_backward_scan(step, params, psi, lam, n)
        return (rotor_grads(step, params, psi, lam, n), rotor_apply(step, params, psi, n, True),
                rotor_apply(step, params, lam, n, True))
    grads = step_grads(step, params, psi, lam, n)
    if isinstance(step, PermStep) and perm is None:
        perm = perm_index(step, n, inverse=True)
    return (grads, step_apply(step, params, psi, n, perm, inverse=True, native=native),
            step_apply(step, params, lam, n, perm, inverse=True, native=native))
