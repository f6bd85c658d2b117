"""Ready-made circuits: Yao.jl's hardware-efficient variational circuit.

``variational_circuit(n, depth, pairs)`` has ``depth + 1`` rotor layers and
``depth`` entanglers: the first rotor layer applies ``Rx`` then ``Rz`` on each
qubit, each following layer a CNOT entangler over ``pairs`` (control, target),
then ``Rz·Rx·Rz`` (Rz first) on each qubit, except the last rotor layer, which
is ``Rz`` then ``Rx``.  Parameters: ``n (3·depth + 1)``; for ``n = 10``,
``depth = 10,000`` that is 300,010 parameters, 200,000 Rz, 100,010 Rx and
100,000 CNOT.  The middle layers are one :class:`~qdiff.circuits.blocks.Repeat`
block, so building the circuit is O(n) Python work whatever the depth, and the
simulator compiles one layer.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from ..errors import InputError
from .blocks import chain, control, put, repeat
from .gates import Rx, Rz, X


def ring(n: int) -> tuple[tuple[int, int], ...]:
    """Periodic nearest-neighbour pairs ``(0,1), (1,2), …, (n−1,0)`` (Yao's ``pair_ring``)."""
    if n < 2:
        raise InputError(f"ring: need at least 2 qubits, got {n}")
    return tuple((i, (i + 1) % n) for i in range(n))


def chain_pairs(n: int) -> tuple[tuple[int, int], ...]:
    """Open-chain pairs ``(0,1), …, (n−2, n−1)``."""
    return tuple((i, i + 1) for i in range(n - 1))


def cnot_entangler(n: int, pairs: Sequence[tuple[int, int]]):
    """CNOTs ``control → target`` over ``pairs``, applied in the given order."""
    pairs = tuple(tuple(p) for p in pairs)
    if not pairs:
        raise InputError("cnot_entangler: no pairs given")
    return chain(*[control(n, c, t, X) for c, t in pairs])


def _rotor(n: int, gates):
    return chain(*[put(n, q, chain(*gates)) for q in range(n)])


def variational_circuit(n: int, depth: int, pairs: Sequence[tuple[int, int]] | None = None):
    """Yao's hardware-efficient ansatz on ``n`` qubits with ``depth`` entangling layers (see module doc).

    Raises:
      InputError: ``n < 1``, ``depth < 1`` or a pair with bad qubits.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"variational_circuit: n must be a positive integer, got {n!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InputError(f"variational_circuit: depth must be a positive integer, got {depth!r}")
    pairs = ring(n) if pairs is None else pairs
    ent = cnot_entangler(n, pairs)
    first = _rotor(n, (Rx, Rz))
    last = _rotor(n, (Rz, Rx))
    parts = [first]
    if depth > 1:
        parts.append(repeat(chain(ent, _rotor(n, (Rz, Rx, Rz))), depth - 1))
    parts += [ent, last]
    return chain(*parts)


def random_params(circuit, key, scale: float = 2 * jnp.pi) -> jax.Array:
    """Uniform random parameters in ``[0, scale)`` for ``circuit`` (float64, gate order)."""
    return jax.random.uniform(key, (circuit.nparams,), jnp.float64, 0.0, scale)
