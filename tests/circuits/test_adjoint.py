"""The reversible adjoint against finite differences and against plain JAX backprop."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import qdiff.circuits as qc


def fd_grad(f, x, h=1e-3):
    """Fourth-order central finite differences, coordinate by coordinate."""
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (8 * (f(x + e) - f(x - e)) - (f(x + 2 * e) - f(x - 2 * e))) / (12 * h)
    return g


@pytest.fixture(scope="module")
def case():
    key = jax.random.PRNGKey(3)
    circ = qc.random_circuit(4, key)
    obs = qc.random_observable(4, jax.random.fold_in(key, 1))
    p = np.asarray(qc.random_params(circ, jax.random.fold_in(key, 2)))
    return circ, obs, p


def test_every_gate_kind_is_in_the_random_circuit(case):
    circ, _, _ = case
    counts = circ.counts()
    for kind in ["H", "X", "Y", "Z", "S", "T", "Rx", "Ry", "Rz", "Phase", "SWAP", "PauliRot(XYZ)", "PauliRot(ZZ)",
                 "Matrix", "CCRx", "CPhase", "CCPauliRot(XY)", "CRz", "CCX", "CSWAP", "CH", "CNOT"]:
        assert counts.get(kind, 0) > 0, kind


def test_gradient_matches_finite_differences_and_backprop(case, kernels):
    circ, obs, p = case
    f_adj = jax.jit(jax.value_and_grad(lambda t: qc.expect(obs, circ, t)))
    f_bp = jax.jit(jax.value_and_grad(lambda t: qc.expect(obs, circ, t, method="backprop")))
    e, g = f_adj(p)
    e_bp, g_bp = f_bp(p)
    energy = jax.jit(lambda t: qc.expect(obs, circ, t))
    g_fd = fd_grad(lambda t: float(energy(t)), p)
    assert abs(e - e_bp) < 1e-12
    np.testing.assert_allclose(g, g_bp, atol=1e-10)
    np.testing.assert_allclose(g, g_fd, atol=1e-9)


def test_vmap_over_params_and_states():
    circ, obs = qc.variational_circuit(4, 3), qc.heisenberg(4)
    p = np.asarray(qc.random_params(circ, jax.random.PRNGKey(7)))
    batch = np.stack([p, p + 0.1, p - 0.3])
    f = jax.jit(jax.grad(lambda t: qc.expect(obs, circ, t)))
    gb = jax.jit(jax.vmap(f))(batch)
    for i in range(3):
        np.testing.assert_allclose(gb[i], f(batch[i]), atol=1e-12)
    states = qc.random_state(4, jax.random.PRNGKey(9), batch=3)
    fs = jax.jit(jax.vmap(lambda s: jax.value_and_grad(lambda t: qc.expect(obs, circ, t, s))(p)))
    es, gs = fs(states)
    fb = jax.jit(jax.value_and_grad(lambda t, s: qc.expect(obs, circ, t, s, method="backprop")))
    for i in range(3):
        e_i, g_i = fb(p, states[i])
        assert abs(es[i] - e_i) < 1e-12
        np.testing.assert_allclose(gs[i], g_i, atol=1e-10)
    # batched arguments directly
    np.testing.assert_allclose(qc.expect(obs, circ, batch), jax.vmap(lambda t: qc.expect(obs, circ, t))(batch),
                               atol=1e-13)


def test_amplitude_loss_fidelity_and_input_state_gradient(case):
    circ, _, p = case
    target = qc.random_state(4, jax.random.PRNGKey(4))
    psi0 = qc.random_state(4, jax.random.PRNGKey(5))

    def loss(t, s, method):
        out = qc.apply(circ, t, s, method=method)
        amp = jnp.vdot(target, out)
        return jnp.abs(amp) ** 2 + 0.3 * jnp.real(out[3] * jnp.conj(out[7]))

    ga = jax.jit(jax.grad(lambda t, s: loss(t, s, "adjoint"), argnums=(0, 1)))(p, psi0)
    gb = jax.jit(jax.grad(lambda t, s: loss(t, s, "backprop"), argnums=(0, 1)))(p, psi0)
    np.testing.assert_allclose(ga[0], gb[0], atol=1e-10)
    np.testing.assert_allclose(ga[1], gb[1], atol=1e-10)
    f = jax.jit(lambda t: loss(t, psi0, "adjoint"))
    np.testing.assert_allclose(ga[0], fd_grad(lambda t: float(f(t)), p), atol=1e-9)


def test_compiled_program_size_does_not_depend_on_depth():
    h = qc.heisenberg(3)
    sizes = []
    for depth in (10, 1000):
        c = qc.variational_circuit(3, depth)
        p = jnp.zeros(c.nparams)
        jaxpr = jax.make_jaxpr(jax.value_and_grad(lambda t: qc.expect(h, c, t)))(p)
        text = str(jaxpr)
        assert "scan" in text
        sizes.append(re.sub(r"\s+", "", re.sub(r"\d+", "N", text)))  # same program up to numbers/layout
    assert sizes[0] == sizes[1]


def test_deep_circuit_gradient_is_consistent_with_finite_differences():
    # 300 layers: the uncomputed state must stay accurate over the reverse walk.
    c = qc.variational_circuit(4, 300)
    h = qc.heisenberg(4)
    p = np.asarray(qc.random_params(c, jax.random.PRNGKey(0)))
    e, g = qc.value_and_grad(h, c)(p)
    energy = jax.jit(lambda t: qc.expect(h, c, t))
    rng = np.random.default_rng(0)
    for i in rng.choice(c.nparams, 4, replace=False):
        d = np.zeros_like(p)
        d[i] = 1e-3
        fd = (8 * (energy(p + d) - energy(p - d)) - (energy(p + 2 * d) - energy(p - 2 * d))) / 12e-3
        assert abs(g[i] - fd) < 1e-9


def test_compiled_program_size_does_not_depend_on_qubit_count(kernels):
    # rotor layers run as a scan over qubits (backward, from 12 qubits: over blocks of 3 qubits, then
    # one block of the remaining 1-3) and the CNOT ring as one gather: the compiled value-and-gradient
    # program has as many XLA kernels for 16 qubits as for 12, up to the few of that last block
    # (it had ~100 more per 4 qubits when each qubit got its own kernels). The 12-qubit program's
    # gradient (block backward with Rz·Rx·Rz chains and CNOT rings) must equal plain AD's.
    counts = []
    for n in (12, 16):
        c = qc.variational_circuit(n, 3)
        obs = qc.pauli_sum(n, [(1.0, {0: "Z"}), (0.5, {1: "X", n - 1: "Y"})])
        f = jax.jit(jax.value_and_grad(lambda t: qc.expect(obs, c, t)))
        p = jnp.zeros(c.nparams)
        compiled = f.lower(p).compile()
        counts.append(compiled.as_text().count(" fusion("))
        if n == 12:
            p = qc.random_params(c, jax.random.PRNGKey(5))
            e, g = compiled(p)
            eb, gb = jax.value_and_grad(lambda t: qc.expect(obs, c, t, method="backprop"))(p)
            assert abs(e - eb) < 1e-12
            np.testing.assert_allclose(g, gb, atol=1e-11)
    assert abs(counts[1] - counts[0]) <= 6, counts


@pytest.mark.parametrize("n", [18, 19])
def test_large_n_in_place_rotor_layer_matches_product_state_formulas(n, kernels):
    # from 18 qubits a rotor layer in a repeat body runs in place, two qubits per pass (odd n: the
    # last qubit alone). Two layers Rx(a_q) then Rx(b_q) on |0⟩ give a product state with θ_q = a_q + b_q:
    # ⟨Z_q⟩ = cos θ_q and ⟨Z_0 Z_1⟩ = cos θ_0 cos θ_1.
    c = qc.chain(qc.put(n, 0, qc.Rz), qc.repeat(qc.chain(*[qc.put(n, q, qc.Rx) for q in range(n)]), 2))
    obs = qc.pauli_sum(n, [(1.0, {q: "Z"}) for q in range(n)] + [(0.5, {0: "Z", 1: "Z"})])
    p = np.random.default_rng(3).uniform(0, 2 * np.pi, c.nparams)
    th = p[1:n + 1] + p[n + 1:]
    e, g = qc.value_and_grad(obs, c)(p)
    assert abs(e - (np.sum(np.cos(th)) + 0.5 * np.cos(th[0]) * np.cos(th[1]))) < 1e-11
    want = -np.sin(th)
    want[0] -= 0.5 * np.sin(th[0]) * np.cos(th[1])
    want[1] -= 0.5 * np.cos(th[0]) * np.sin(th[1])
    np.testing.assert_allclose(g[1:n + 1], want, atol=1e-11)
    np.testing.assert_allclose(g[n + 1:], want, atol=1e-11)
    assert abs(g[0]) < 1e-11
