"""Run compiled circuits: forward pass, and the reversible adjoint backward pass.

:func:`apply` maps ``(circuit, params, state)`` to the output state.  Its
derivative (``method="adjoint"``, the default) is a ``jax.custom_vjp`` whose
forward pass keeps only the **final** state; the backward pass walks the
program in reverse (``lax.scan(..., reverse=True)`` over repeated layers),
uncomputing the state with each gate's inverse while pulling the adjoint state
back with ``U†`` and accumulating, per parametrised gate,

    ∂/∂θ Re⟨λ|ψ_out⟩ = Re⟨λ_g|K_g|ψ_g⟩,   K_g = (∂U_g/∂θ) U_g†,

where ``ψ_g``, ``λ_g`` are the state and adjoint state right after gate ``g``.
Memory is two state vectors plus the parameter array, whatever the depth
(Jones & Gacon 2020, arXiv:2009.02823; Luo et al., Yao.jl, Quantum 4, 341 (2020)).
``method="backprop"`` differentiates the same forward pass with plain JAX AD
(memory grows with depth) and is kept for cross-checks.

Any loss of the output state is supported: JAX passes the cotangent ``c`` of
the output amplitudes, the adjoint state starts as ``λ = conj(c)``, and the
cotangent of the input state is ``conj(λ_0)``.
"""

from __future__ import annotations

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_batching import custom_vmap

from ..errors import InputError
from . import native as _native
from .compile import PermStep, Program, RepeatStep, compile_circuit
from .kernels import perm_index, prepare, prepare_one, step_apply, step_backward
from .rotor import grads_from_transitions
from .rotor_blocks import BLOCKS_FROM

_METHODS = ("adjoint", "backprop")


def _slice(params, step: RepeatStep):
    p = lax.slice_in_dim(params, step.offset, step.offset + step.count * step.nparams)
    return p.reshape(step.count, step.nparams)


_CHUNK = 256
"""At most this many repetitions of a repeat body run per chunk of the backward pass: the
per-repetition values (unitaries, transition matrices, gradients) are computed for a whole chunk
at once, outside its loop, and the chunks run in an outer loop, so the extra memory is a few
hundred kB whatever the depth (the target is ≤ 20 MB growth from depth 100 to 10,000)."""


def _chunk(count: int) -> int:
    """The largest divisor of ``count`` not above ``_CHUNK`` (one loop body, no remainder)."""
    return max(d for d in range(1, min(count, _CHUNK) + 1) if count % d == 0)


def _forward(steps, params, psi, n: int, perms=None, repeated: bool = False, native: bool = False):
    """Apply ``steps`` to ``psi`` of shape (k, 2**n) (``repeated``: ``steps`` is a repeat body;
    ``native``: rotor steps run the native kernels, reversible adjoint only)."""
    perms = perms or {}
    for i, step in enumerate(steps):
        if isinstance(step, RepeatStep):
            body_perms = {j: perm_index(s, n) for j, s in enumerate(step.body) if isinstance(s, PermStep)}

            def body(x, p, step=step, body_perms=body_perms):
                return _forward(step.body, p, x, n, body_perms, True, native), None

            psi, _ = lax.scan(body, psi, _slice(params, step), length=step.count)
        else:
            psi = step_apply(step, params, psi, n, perms.get(i), repeated=repeated, native=native)
    return psi


def _assemble(pieces, nparams: int):
    """The gradient vector from ``[(index array, values)]`` pieces.

    Pieces are grouped into clusters of overlapping index ranges (the interleaved gates of one
    layer); each cluster is put in order by one gather over its own entries, and a cluster that
    is a single contiguous piece (the gradients of a repeat) is used as it is, so no gather over
    the whole parameter vector (and no parameter-sized index constant) enters the program.
    """
    pieces = sorted(pieces, key=lambda t: int(t[0].min()))
    clusters, hi = [], -1
    for ix, v in pieces:
        if clusters and int(ix.min()) <= hi:
            clusters[-1].append((ix, v))
        else:
            clusters.append([(ix, v)])
        hi = max(hi, int(ix.max()))
    out, seen = [], []
    for cl in clusters:
        order = np.concatenate([ix for ix, _ in cl])
        v = cl[0][1] if len(cl) == 1 else jnp.concatenate([x for _, x in cl])
        inv = np.argsort(order, kind="stable")
        out.append(v if np.array_equal(inv, np.arange(order.size)) else v[inv])
        seen.append(order[inv])
    if not np.array_equal(np.concatenate(seen), np.arange(nparams)):
        raise AssertionError("adjoint: gradient terms do not cover every parameter exactly once")
    vals = out[0] if len(out) == 1 else jnp.concatenate(out)
    return vals.astype(jnp.float64)


def _rep_gradient(step: RepeatStep, p, pieces, trans):
    """The gradient of one repetition of ``step``'s body from its gradient terms and the transition
    matrices ``{position: M}`` of its scanned rotor steps."""
    for j, m in trans.items():
        pieces = pieces + grads_from_transitions(step.body[j], p, m)
    return _assemble(pieces, step.nparams)


def _walk_back(steps, params, x, n: int, perms=None, pre=None, native: bool = False):
    """Walk ``steps`` backwards from ``x = (ψ_out, λ_out)`` (each (1, 2**n)); ``native``: rotor steps
    run the native kernel.

    Returns ``(pieces, transitions, (ψ_in, λ_in))``: gradient terms ``[(index array, values)]``,
    and, for the steps with prepared values ``pre`` (scanned rotor steps of a repeat body),
    ``{position: (n, 2, 2) transition matrices}``, turned into gradients after the repeat loop for
    all repetitions of a chunk at once (from 12 qubits) or at the end of each repetition (below).
    """
    perms, pre = perms or {}, pre or {}
    pieces: list[tuple[np.ndarray, jax.Array]] = []
    trans: dict = {}
    psi, lam = x
    for i in range(len(steps) - 1, -1, -1):
        step = steps[i]
        if isinstance(step, RepeatStep):
            inv = {j: perm_index(s, n, inverse=True) for j, s in enumerate(step.body) if isinstance(s, PermStep)}
            index_arrays: list = []

            def body(carry, xs, step=step, inv=inv, index_arrays=index_arrays):
                p, pre_i = xs
                pcs, tr, carry = _walk_back(step.body, p, carry, n, inv, pre_i, native)
                index_arrays[:] = [ix for ix, _ in pcs]
                return carry, ([v for _, v in pcs], tr)

            def one_rep(p, vs, t, step=step, index_arrays=index_arrays):
                return _rep_gradient(step, p, list(zip(index_arrays, vs)), t)

            def chunk(carry, pc, step=step, body=body, one_rep=one_rep):
                carry, (vals, tr) = lax.scan(body, carry, (pc, prepare(step.body, pc, n)), reverse=True)
                return carry, (jax.vmap(one_rep)(pc, vals, tr) if step.nparams else None)

            def single(carry, p, step=step, inv=inv):  # one loop, everything inside: a smaller program
                pcs, tr, carry = _walk_back(step.body, p, carry, n, inv, prepare_one(step.body, p, n), native)
                return carry, (_rep_gradient(step, p, pcs, tr) if step.nparams else None)

            if n < BLOCKS_FROM:  # compile time counts more than run time there (n=10: ≈ 0.35 s more with chunks)
                (psi, lam), g = lax.scan(single, (psi, lam), _slice(params, step), reverse=True)
            else:
                c = _chunk(step.count)
                ps = _slice(params, step).reshape(step.count // c, c, step.nparams)
                (psi, lam), g = lax.scan(chunk, (psi, lam), ps, reverse=True)
            if step.nparams:
                pieces.append((np.arange(step.offset, step.offset + step.count * step.nparams), g.reshape(-1)))
        else:
            out, psi, lam = step_backward(step, params, psi, lam, n, perms.get(i), pre.get(i), native)
            if i in pre:
                if out is not None:
                    trans[i] = out
            else:
                pieces.extend(out)
    return pieces, trans, (psi, lam)


def _backward(steps, params, x, n: int, nparams: int, native: bool = False):
    """Walk the program backwards from ``x = (ψ_out, λ_out)``; return (gradient, (ψ_in, λ_in))."""
    pieces, _, x = _walk_back(steps, params, x, n, native=native)
    if not pieces:
        return jnp.zeros((nparams,), jnp.float64), x
    return _assemble(pieces, nparams), x


def _one_at_a_time(fn, chunk: int = 1):
    """``fn`` with a batching rule that runs the batch one element at a time (``lax.map``; ``chunk``
    elements at a time when ``chunk > 1``, for ``benchmarks/circuits_batch.py``) inside the compiled
    program.

    A vmap-ed simulation would apply every gate kernel to the whole batch of states at once: at
    small ``n`` a single state (and its adjoint) stays in the L1/L2 cache across the hundreds of
    passes of a circuit, while a batch of them does not, so the batched kernels were measured
    slower than a Python loop of single calls (n=10, depth 100, batch 32: 0.49 vs 0.34 s CPU;
    chunks of 2–8 states were no faster than one).  Running the elements in sequence keeps each
    one's kernels cache-resident and drops the per-call dispatch of the Python loop.  Batched
    layouts of the one-qubit kernel (batch axis leading, innermost, real planes, 8×8 block products)
    all cost 1.6–2.4 ns per amplitude and qubit step against 1.05 ns for one state at n=10; see
    ``benchmarks/circuits_batch.py`` and docs/benchmarks.md ("Fifth session, batch").  With the
    native kernels, which take a batch one state after the other inside one call, chunks of states
    are batched (``_batch_chunk``).
    """
    f = custom_vmap(fn)

    @f.def_vmap
    def rule(axis_size, in_batched, *args):
        batched = [a for a, b in zip(args, in_batched) if b]

        def one(xs):
            it = iter(xs)
            return fn(*[next(it) if b else a for a, b in zip(args, in_batched)])

        out = lax.map(one, batched, batch_size=chunk if chunk > 1 else None)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return f


_NATIVE_BATCH_AMPLITUDES = 1 << 15
"""With the native kernels a vmap-ed batch runs in chunks of about this many amplitudes in all (32
states at 10 qubits, one from 15): within a chunk every step is one batched operation (the
native kernels take the states one after the other, each staying in the cache), which shares the
per-layer work that does not grow with the state (the loop, the gathers' set-up, the gates'
matrices) across the chunk."""


def _batch_chunk(n: int, native: bool) -> int:
    return max(1, _NATIVE_BATCH_AMPLITUDES >> n) if native else 1


@lru_cache(maxsize=128)
def _adjoint_apply(program: Program, native: bool = False):
    """The reversible-adjoint simulator of ``program`` (``native``: rotor steps run the native
    kernels of :mod:`qdiff.circuits.native`)."""
    n, steps, m = program.n, program.steps, program.nparams
    batched = partial(_one_at_a_time, chunk=_batch_chunk(n, native))

    @batched
    @jax.jit
    def forward(params, psi):
        return _forward(steps, params, psi[None], n, native=native)[0]

    @batched
    @jax.jit
    def backward(params, out, ct):
        x = (out[None], jnp.conj(ct).astype(out.dtype)[None])
        g, (_, lam0) = _backward(steps, params, x, n, m, native)
        return g, jnp.conj(lam0[0])

    @jax.custom_vjp
    def run(params, psi):
        return forward(params, psi)

    def fwd(params, psi):
        out = forward(params, psi)
        return out, (params, out)

    def bwd(res, ct):
        params, out = res
        return backward(params, out, ct)

    run.defvjp(fwd, bwd)
    return run


@lru_cache(maxsize=128)
def _backprop_apply(program: Program):
    n, steps = program.n, program.steps

    @jax.jit
    def run(params, psi):
        return _forward(steps, params, psi[None], n)[0]

    return run


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_params(program: Program, params, what: str = "params"):
    """Validate a parameter array against a program; return it as float64 (raises InputError)."""
    if isinstance(params, (list, tuple)) or np.isscalar(params):
        params = np.asarray(params, dtype=np.float64)
    if params.shape[-1:] != (program.nparams,) or params.ndim not in (1, 2):
        raise InputError(f"{what}: expected a parameter array of shape ({program.nparams},) (or a batch "
                         f"(B, {program.nparams})), got shape {tuple(params.shape)}")
    if jnp.iscomplexobj(params):
        raise InputError(f"{what}: parameters must be real, got dtype {params.dtype}")
    if _is_concrete(params) and program.nparams and not bool(np.all(np.isfinite(np.asarray(params)))):
        bad = int(np.size(params) - np.count_nonzero(np.isfinite(np.asarray(params))))
        raise InputError(f"{what}: {bad} parameter(s) are NaN or infinite")
    return jnp.asarray(params, jnp.float64)


def check_state(n: int, state, what: str = "state"):
    """Validate a state (``2**n`` amplitudes, or a batch ``(B, 2**n)``); return it as complex128."""
    if state is None:
        return jnp.zeros((1 << n,), jnp.complex128).at[0].set(1.0)
    if isinstance(state, (list, tuple)):
        state = np.asarray(state)
    if state.shape[-1:] != (1 << n,) or state.ndim not in (1, 2):
        raise InputError(f"{what}: expected {1 << n} amplitudes for {n} qubits (or a batch (B, {1 << n})), "
                         f"got shape {tuple(state.shape)}")
    if _is_concrete(state) and not bool(np.all(np.isfinite(np.asarray(state)))):
        raise InputError(f"{what}: state has NaN or infinite amplitudes")
    return jnp.asarray(state, jnp.complex128)


def apply(circuit, params, state=None, *, method: str = "adjoint"):
    """The output state ``U(θ)|ψ⟩`` of a circuit.

    Args:
      circuit: a block (see :mod:`qdiff.circuits.blocks`).
      params: flat float64 array of ``circuit.nparams`` parameters in gate order, or a batch
        ``(B, nparams)``.
      state: ``2**n`` amplitudes (default ``|0…0⟩``), or a batch ``(B, 2**n)``.
      method: ``"adjoint"`` (reversible adjoint derivative, memory independent of depth) or
        ``"backprop"`` (plain JAX AD through the same simulation).

    Returns:
      complex128 array of shape ``(2**n,)`` or ``(B, 2**n)``.

    Raises:
      InputError: wrong parameter length, NaN parameters, wrong state size, unknown method.
    """
    if method not in _METHODS:
        raise InputError(f"method must be one of {_METHODS}, got {method!r}")
    program = compile_circuit(circuit)
    params = check_params(program, params)
    psi = check_state(program.n, state)
    fn = _adjoint_apply(program, _native.enabled()) if method == "adjoint" else _backprop_apply(program)
    if params.ndim == 2 and psi.ndim == 2:
        if params.shape[0] != psi.shape[0]:
            raise InputError(f"batch sizes differ: {params.shape[0]} parameter sets, {psi.shape[0]} states")
        return jax.vmap(fn)(params, psi)
    if params.ndim == 2:
        return jax.vmap(fn, in_axes=(0, None))(params, psi)
    if psi.ndim == 2:
        return jax.vmap(fn, in_axes=(None, 0))(params, psi)
    return fn(params, psi)
