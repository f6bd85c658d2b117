"""Backward pass of scanned rotor layers (one qubit per scan step with the reduced transition
matrices, below 12 qubits) inside a repeat body and outside it, at an odd qubit count, with
one-qubit chains of every gate kind, against plain JAX AD and finite differences (the block path
from 12 qubits: ``test_adjoint.test_compiled_program_size_does_not_depend_on_qubit_count``), with
the native kernels and with the XLA ones."""

import jax
import numpy as np

import qdiff.circuits as qc
from qdiff.circuits.compile import RepeatStep, RotorStep, compile_circuit
from qdiff.circuits.rotor import uses_scan

# one-qubit chains cycling through every kind a rotor step holds: rotations about X/Y/Z, the phase
# gate (its generator i|1⟩⟨1| is not traceless), fixed gates, and daggered gates (θ acting as −θ).
_CHAINS = [
    (qc.Phase, qc.H, qc.Rz),
    (qc.Ry, qc.S, qc.dagger(qc.Rx)),
    (qc.T, qc.Rx, qc.Phase),
    (qc.dagger(qc.Phase), qc.Y, qc.Ry, qc.Rz),
    (qc.X, qc.dagger(qc.Rz)),
]


def _circuit(n: int):
    chains = [qc.chain(*[qc.put(n, q, g) for g in _CHAINS[q % len(_CHAINS)]]) for q in range(n - 1)]
    # a parameter-free layer of H, the CNOT ring, then the chains (none on the last qubit)
    body = qc.chain(*[qc.put(n, q, qc.H) for q in range(n)], qc.cnot_entangler(n, qc.ring(n)), *chains)
    return qc.chain(*[qc.put(n, q, qc.Rx) for q in range(n)], qc.repeat(body, 4), qc.put(n, 0, qc.Ry))


def _scanned_rotor_steps_in_repeat(circ, n):
    prog = compile_circuit(circ)
    reps = [s for s in prog.steps if isinstance(s, RepeatStep)]
    return [s for r in reps for s in r.body if isinstance(s, RotorStep) and uses_scan(s, n)]


def test_scanned_rotor_backward_in_repeat_matches_backprop(kernels):
    n = 7
    c = _circuit(n)
    steps = _scanned_rotor_steps_in_repeat(c, n)
    has_params = sorted(any(op.pidx >= 0 for op in s.ops) for s in steps)
    assert has_params == [False, True]  # both kinds of scanned layer run through the chunked loop
    obs = qc.pauli_sum(n, [(0.7, {0: "Z", 1: "X"}), (-0.4, {n - 1: "Y"}), (0.3, {n // 2: "X", 2: "Y"})])
    p = np.asarray(qc.random_params(c, jax.random.PRNGKey(n)))
    e, g = jax.jit(jax.value_and_grad(lambda t: qc.expect(obs, c, t)))(p)
    eb, gb = jax.jit(jax.value_and_grad(lambda t: qc.expect(obs, c, t, method="backprop")))(p)
    assert abs(e - eb) < 1e-12
    np.testing.assert_allclose(g, gb, atol=1e-11)
    energy = jax.jit(lambda t: qc.expect(obs, c, t))
    for i in np.random.default_rng(1).choice(c.nparams, 5, replace=False):
        d = np.zeros_like(p)
        d[i] = 1e-3
        fd = (8 * (energy(p + d) - energy(p - d)) - (energy(p + 2 * d) - energy(p - 2 * d))) / 12e-3
        assert abs(g[i] - fd) < 1e-9
