"""Expectation values of observables after a circuit, differentiable by the reversible adjoint.

``expect(H, circuit, params, state)`` = ``⟨ψ|U(θ)† H U(θ)|ψ⟩`` with ``U(θ)|ψ⟩``
from :func:`qdiff.circuits.simulate.apply`; its gradient with respect to
``params`` (and to the input state) comes from the reversible adjoint: the
adjoint state starts as ``λ = 2 H U|ψ⟩`` and is walked back through the
circuit together with the uncomputed state.  Registered in the primitive
registry as ``"circuits.expect"``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..primitives.registry import Case, register
from .blocks import chain, control, dagger, put, repeat
from .compile import compile_circuit
from .gates import H, Phase, Rx, Ry, Rz, S, SWAP, T, X, Y, Z, matrix_gate, pauli_rotation
from .observables import Observable, check_observable, expectation, pauli_sum
from .simulate import apply


def _seed(key) -> int:
    return int(jax.random.randint(key, (), 0, 2**31 - 1))


def random_circuit(n: int, key) -> object:
    """A small circuit on ``n ≥ 4`` qubits using every gate kind (fixed, rotations, phase, Pauli-string
    rotations, matrix gate, multi-controlled and negatively controlled gates, dagger, repeat)."""
    if n < 4:
        raise ValueError("random_circuit needs n ≥ 4")
    rng = np.random.default_rng(_seed(key))
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    u = np.linalg.qr(a)[0]
    q = [int(x) for x in rng.permutation(n)]
    layer = chain(put(n, q[0], Rx), put(n, q[1], Ry), put(n, q[2], Rz), control(n, q[0], q[1], X),
                  put(n, (q[2], q[3]), pauli_rotation("ZZ")))
    return chain(
        put(n, q[0], H), put(n, q[1], X), put(n, q[2], Y), put(n, q[3], Z), put(n, q[0], S), put(n, q[1], T),
        put(n, q[0], Rx), put(n, q[1], Ry), put(n, q[2], Rz), put(n, q[3], Phase),
        put(n, (q[1], q[3]), SWAP),
        put(n, (q[0], q[2], q[3]), pauli_rotation("XYZ")),
        put(n, (q[1], q[2]), pauli_rotation("YX")),
        put(n, (q[0], q[1]), pauli_rotation("ZZ")),
        put(n, (q[2], q[1]), matrix_gate(u)),
        control(n, (q[0], q[1]), q[2], Rx, values=(1, 0)),
        control(n, q[3], q[0], Phase, values=(0,)),
        control(n, (q[1], q[2]), (q[3], q[0]), pauli_rotation("XY")),
        control(n, (q[2],), q[0], Rz),
        control(n, (q[0], q[3]), q[1], X),
        control(n, q[1], (q[2], q[3]), SWAP, values=(0,)),
        control(n, q[3], q[2], H),
        dagger(chain(put(n, q[0], Ry), put(n, q[1], S), put(n, (q[2], q[3]), pauli_rotation("XZ")))),
        repeat(layer, 3),
        put(n, q[3], Rx), put(n, q[2], Phase),
    )


def random_observable(n: int, key) -> Observable:
    """A random real combination of X/Y/Z strings on ``n`` qubits (diagonal and flipping terms)."""
    rng = np.random.default_rng(_seed(key) + 7)
    terms = []
    for _ in range(6):
        s = "".join(rng.choice(list("IXYZ"), size=n))
        if set(s) == {"I"}:
            s = "Z" + s[1:]
        terms.append((float(rng.normal()), s))
    terms.append((float(rng.normal()), "Z" * n))
    return pauli_sum(n, terms, constant=0.3)



def _examples(key):
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    out = []
    for n, kc in ((4, k1),):
        circ = random_circuit(n, kc)
        obs = random_observable(n, jax.random.fold_in(kc, 1))
        p = jax.random.uniform(jax.random.fold_in(kc, 2), (circ.nparams,), jnp.float64, 0, 2 * np.pi)
        out.append(Case(f"every gate kind, {n} qubits, {circ.nparams} params",
                        (p,), call=lambda fn, p, obs=obs, circ=circ: fn(obs, circ, p)))
    circ = random_circuit(4, k3)
    obs = random_observable(4, k4)
    p = jax.random.uniform(k5, (circ.nparams,), jnp.float64, 0, 2 * np.pi)
    psi = jax.random.normal(k4, (16,)) + 1j * jax.random.normal(k5, (16,))
    psi = psi / jnp.linalg.norm(psi)
    out.append(Case("params and complex input state, 4 qubits", (p, psi),
                    call=lambda fn, p, s, obs=obs, circ=circ: fn(obs, circ, p, s)))
    return out


def _expect_backprop(obs, circuit, params, state=None):
    return expect(obs, circuit, params, state, method="backprop")


@register("circuits.expect", examples=_examples, probe=lambda e: e, reference=_expect_backprop,
          rtol=1e-6, tags=("circuits",))
def expect(obs: Observable, circuit, params, state=None, *, method: str = "adjoint"):
    """Expectation ``⟨ψ|U(θ)† H U(θ)|ψ⟩`` of an observable after a circuit (reversible-adjoint gradient).

    Args:
      obs: an :class:`~qdiff.circuits.observables.Observable` on at most ``circuit.nqubits`` qubits.
      circuit: a block.
      params: ``circuit.nparams`` float64 parameters in gate order, or a batch ``(B, nparams)``.
      state: input state (default ``|0…0⟩``), or a batch ``(B, 2**n)``.
      method: ``"adjoint"`` (memory independent of depth) or ``"backprop"`` (plain JAX AD).

    Returns:
      the real expectation value (shape ``()`` or ``(B,)``), in the observable's units.

    Raises:
      InputError: observable on more qubits than the circuit, bad parameters or state.
    """
    check_observable(obs, circuit.nqubits)
    psi = apply(circuit, params, state, method=method)
    return expectation(obs, psi)


def value_and_grad(obs: Observable, circuit, *, method: str = "adjoint", jit: bool = True):
    """``f(params, state=None) -> (energy, gradient)`` for ``expect`` (jit-compiled once per circuit)."""
    compile_circuit(circuit)
    check_observable(obs, circuit.nqubits)

    def energy(params, state=None):
        return expect(obs, circuit, params, state, method=method)

    f = jax.value_and_grad(energy)
    return jax.jit(f) if jit else f
