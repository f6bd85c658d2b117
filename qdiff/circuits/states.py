"""Quantum states as complex128 amplitude vectors (qubit 0 = most significant bit).

A state on ``n`` qubits is an array of ``2**n`` amplitudes; a batch is an array
``(B, 2**n)``.  Functions here build states and read them out: probabilities,
samples, fidelities.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError


def _nq(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= 30:
        raise InputError(f"number of qubits must be an integer in 1..30, got {n!r}")
    return int(n)


def zero_state(n: int, batch: int | None = None):
    """``|0…0⟩`` on ``n`` qubits (or ``batch`` copies, shape ``(batch, 2**n)``)."""
    n = _nq(n)
    psi = jnp.zeros((1 << n,), jnp.complex128).at[0].set(1.0)
    return psi if batch is None else jnp.tile(psi, (int(batch), 1))


def basis_state(n: int, bits) -> jax.Array:
    """Computational basis state ``|b_0 b_1 … b_{n-1}⟩`` from a bit sequence/string or an integer index."""
    n = _nq(n)
    if isinstance(bits, (int, np.integer)):
        idx = int(bits)
    else:
        seq = [int(c) for c in (bits if not isinstance(bits, str) else list(bits))]
        if len(seq) != n or any(c not in (0, 1) for c in seq):
            raise InputError(f"basis_state: expected {n} bits of 0/1, got {bits!r}")
        idx = int("".join(map(str, seq)), 2)
    if not 0 <= idx < (1 << n):
        raise InputError(f"basis_state: index {idx} out of range for {n} qubits")
    return jnp.zeros((1 << n,), jnp.complex128).at[idx].set(1.0)


def product_state(qubit_states: Sequence) -> jax.Array:
    """``⊗_q |φ_q⟩`` from one normalised 2-vector per qubit (qubit 0 first)."""
    out = jnp.ones((1,), jnp.complex128)
    for k, v in enumerate(qubit_states):
        v = jnp.asarray(v, jnp.complex128)
        if v.shape != (2,):
            raise InputError(f"product_state: qubit {k} state must have 2 amplitudes, got shape {v.shape}")
        out = jnp.kron(out, v)
    if out.shape[0] < 2:
        raise InputError("product_state: give at least one qubit state")
    return out


def state(amplitudes, normalize: bool = True) -> jax.Array:
    """An arbitrary state (or batch) from ``2**n`` amplitudes, normalised unless told otherwise."""
    a = jnp.asarray(amplitudes, jnp.complex128)
    size = a.shape[-1] if a.ndim else 0
    if a.ndim not in (1, 2) or size < 2 or size & (size - 1):
        raise InputError(f"state: amplitude count must be a power of two ≥ 2, got shape {a.shape}")
    if not bool(jnp.all(jnp.isfinite(a))):
        raise InputError("state: amplitudes contain NaN or infinity")
    if normalize:
        norm = jnp.linalg.norm(a, axis=-1, keepdims=True)
        if bool(jnp.any(norm == 0)):
            raise InputError("state: zero vector cannot be normalised")
        a = a / norm
    return a


def random_state(n: int, key, batch: int | None = None) -> jax.Array:
    """Haar-random state(s) (normalised complex Gaussian vector)."""
    n = _nq(n)
    shape = (1 << n,) if batch is None else (int(batch), 1 << n)
    kr, ki = jax.random.split(key)
    a = jax.random.normal(kr, shape) + 1j * jax.random.normal(ki, shape)
    return a / jnp.linalg.norm(a, axis=-1, keepdims=True)


def probabilities(psi) -> jax.Array:
    """Born probabilities ``|ψ_b|²`` of each basis state (normalised by ``⟨ψ|ψ⟩``)."""
    p = jnp.abs(jnp.asarray(psi)) ** 2
    return p / jnp.sum(p, axis=-1, keepdims=True)


def sample(psi, shots: int, key) -> jax.Array:
    """Measure every qubit ``shots`` times: int8 array ``(shots, n)`` of bits, qubit 0 in column 0."""
    psi = jnp.asarray(psi)
    if psi.ndim != 1:
        raise InputError(f"sample: expects one state of shape (2**n,), got {psi.shape}")
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise InputError(f"sample: shots must be a positive integer, got {shots!r}")
    n = int(np.log2(psi.shape[0]))
    logits = jnp.log(probabilities(psi))
    idx = jax.random.categorical(key, logits, shape=(int(shots),))
    shifts = jnp.arange(n - 1, -1, -1)
    return ((idx[:, None] >> shifts[None, :]) & 1).astype(jnp.int8)


def fidelity(a, b) -> jax.Array:
    """``|⟨a|b⟩|² / (⟨a|a⟩⟨b|b⟩)`` (batched over leading axes)."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    ov = jnp.sum(jnp.conj(a) * b, axis=-1)
    return jnp.abs(ov) ** 2 / (jnp.sum(jnp.abs(a) ** 2, axis=-1) * jnp.sum(jnp.abs(b) ** 2, axis=-1))
