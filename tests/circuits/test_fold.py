"""Circuits written without ``repeat`` (``chain(layer_1, …, layer_d)``) run their identical layers
as one loop: same results as the ``repeat`` form and as the unrolled program, program size
independent of depth, and layers that differ are never merged."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

import qdiff.circuits as qc
import qdiff.circuits.fold as fold
from qdiff.circuits.ansatz import cnot_entangler, ring
from qdiff.circuits.compile import RepeatStep, compile_circuit


def rotor(n, gates):
    return qc.chain(*[qc.put(n, q, qc.chain(*gates)) for q in range(n)])


def chain_built(n, depth):
    """Yao's variational circuit, every layer a fresh block object, no ``repeat``."""
    layers = [rotor(n, (qc.Rx, qc.Rz))]
    layers += [qc.chain(cnot_entangler(n, ring(n)), rotor(n, (qc.Rz, qc.Rx, qc.Rz))) for _ in range(depth - 1)]
    return qc.chain(*layers, cnot_entangler(n, ring(n)), rotor(n, (qc.Rz, qc.Rx)))


@contextlib.contextmanager
def unfolded(monkeypatch):
    """Compile with folding switched off (every gate unrolled), the reference program."""
    compile_circuit.cache_clear()
    monkeypatch.setattr(fold, "FOLD_MIN_GATES", 10**12)
    try:
        yield
    finally:
        monkeypatch.setattr(fold, "FOLD_MIN_GATES", 64)
        compile_circuit.cache_clear()


def value_and_grad(obs, c, p, method="adjoint"):
    return jax.jit(jax.value_and_grad(lambda t: qc.expect(obs, c, t, method=method)))(p)


def repeats(c):
    return [s.count for s in compile_circuit(c).steps if isinstance(s, RepeatStep)]


def check_against_unrolled(obs, c, p, monkeypatch, ncoords=3):
    """The folded program's energy equals the unrolled program's, and its adjoint gradient equals
    fourth-order central finite differences of the unrolled program's energy ⟨ψ|H|ψ⟩ (dense H)."""
    e, g = value_and_grad(obs, c, p)
    hd = qc.to_dense(obs, c.nqubits)
    with unfolded(monkeypatch):
        assert repeats(c) == []

        def energy(t):
            psi = np.asarray(qc.apply(c, t))
            return float(np.real(np.vdot(psi, hd @ psi)))

        assert abs(e - energy(p)) < 1e-12
        for i in np.random.default_rng(0).choice(c.nparams, ncoords, replace=False):
            d = np.zeros_like(p)
            d[i] = 1e-3
            fd = (8 * (energy(p + d) - energy(p - d)) - (energy(p + 2 * d) - energy(p - 2 * d))) / 12e-3
            assert abs(g[i] - fd) < 1e-9, (i, g[i], fd)


def test_chain_built_circuit_matches_repeat_form_and_finite_differences(monkeypatch):
    n, depth = 4, 8
    c, v, h = chain_built(n, depth), qc.variational_circuit(n, depth), qc.heisenberg(n)
    assert c.nparams == v.nparams == n * (3 * depth + 1)
    assert repeats(c) == [depth - 1]
    np.testing.assert_array_equal(qc.parameter_table(c), qc.parameter_table(v))
    p = np.asarray(qc.random_params(v, jax.random.PRNGKey(1)))
    e, g = value_and_grad(h, c, p)
    ev, gv = value_and_grad(h, v, p)
    assert abs(e - ev) < 1e-12
    np.testing.assert_allclose(g, gv, atol=1e-12)
    check_against_unrolled(h, c, p, monkeypatch)


def test_program_size_of_chain_built_circuit_does_not_depend_on_depth():
    h = qc.heisenberg(3)
    sizes = []
    for depth in (10, 200):
        c = chain_built(3, depth)
        f = jax.jit(jax.value_and_grad(lambda t: qc.expect(h, c, t)))
        text = f.lower(jnp.zeros(c.nparams)).compile().as_text()
        sizes.append(sum(1 for line in text.splitlines() if " = " in line))  # HLO instructions
    assert sizes[0] == sizes[1], sizes


def test_flat_chain_period_two_and_dagger_match_unrolled_program(monkeypatch):
    # entanglers and rotor layers given as separate items of one flat chain (period 2), under a dagger
    n, depth = 4, 10
    items = [rotor(n, (qc.Rx, qc.Rz))]
    for _ in range(depth):
        items += [cnot_entangler(n, ring(n)), rotor(n, (qc.Rz, qc.Rx, qc.Rz))]
    c = qc.chain(qc.chain(*items), qc.dagger(qc.chain(*items[1:])))
    assert repeats(c) == [depth, depth]
    obs = qc.random_observable(n, jax.random.PRNGKey(2))
    p = np.asarray(qc.random_params(c, jax.random.PRNGKey(3)))
    check_against_unrolled(obs, c, p, monkeypatch)


def test_layers_that_differ_are_not_merged(monkeypatch):
    n = 3
    base = [qc.chain(cnot_entangler(n, ring(n)), rotor(n, (qc.Rz, qc.Rx))) for _ in range(8)]
    other_qubits = qc.chain(cnot_entangler(n, [(1, 2), (2, 0), (0, 1)]), rotor(n, (qc.Rz, qc.Rx)))
    other_kind = qc.chain(cnot_entangler(n, ring(n)),
                          qc.chain(*[qc.put(n, q, qc.chain(qc.Rz, qc.Ry if q == 2 else qc.Rx)) for q in range(n)]))
    fewer = qc.chain(cnot_entangler(n, ring(n)), rotor(n, (qc.Rz,)))
    c = qc.chain(*base, other_qubits, *base, other_kind, *base, fewer)
    assert repeats(c) == [8, 8, 8]
    table = qc.parameter_table(c)
    per = 2 * n
    k = 8 * per  # the parameter of other_kind's Ry sits at its place in gate order
    assert table["gate"][2 * k + per + 2 * 2 + 1] == "Ry"
    assert list(table["gate"][:per]) == ["Rz", "Rx"] * n
    obs = qc.random_observable(n, jax.random.PRNGKey(4))
    p = np.asarray(qc.random_params(c, jax.random.PRNGKey(5)))
    check_against_unrolled(obs, c, p, monkeypatch)


def test_runs_finds_periods_and_respects_the_gate_threshold():
    one = lambda i: 1  # noqa: E731
    assert fold.runs([0, 1, 1, 1, 2], one, min_gates=3) == [(0, 1, 1), (1, 1, 3), (4, 1, 1)]
    assert fold.runs([0, 1, 1, 1, 2], one, min_gates=4) == [(i, 1, 1) for i in range(5)]
    assert fold.runs([5, 1, 2, 1, 2, 1, 2, 3], one, min_gates=2) == [(0, 1, 1), (1, 2, 3), (7, 1, 1)]
    # a layer whose first item recurs inside it: the period is found past the first recurrence
    layer = [0, 1, 0, 2, 3]
    assert fold.runs(layer * 4 + [9], one, min_gates=2) == [(0, 5, 4), (20, 1, 1)]


def test_kept_hashes_agree_for_equal_blocks_built_separately():
    # blocks keep their hash after the first call; equal trees built apart must still hash and compare
    # equal (the program cache relies on it), and a different tree must compare unequal
    a, b = chain_built(3, 5), chain_built(3, 5)
    assert a is not b and a == b and hash(a) == hash(b) == hash(a)
    assert compile_circuit(a) is compile_circuit(b)
    assert chain_built(3, 6) != a and qc.dagger(a) != a
