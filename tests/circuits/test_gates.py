"""Every gate kind against its textbook matrix, and a hand-computed state vector.

The reference here is an independent dense simulator written in the test: it loops over basis
states and applies the textbook matrix (Nielsen & Chuang conventions) to the target qubits when
the controls hold.  Qubit 0 is the most significant bit.
"""

import cmath
import math

import jax
import numpy as np
import pytest
import scipy.linalg

import qdiff.circuits as qc

I2 = np.eye(2)
PX = np.array([[0, 1], [1, 0]], complex)
PY = np.array([[0, -1j], [1j, 0]], complex)
PZ = np.array([[1, 0], [0, -1]], complex)
PAULI = {"X": PX, "Y": PY, "Z": PZ}


def textbook(name, theta=0.0):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return {
        "X": PX, "Y": PY, "Z": PZ,
        "H": np.array([[1, 1], [1, -1]]) / math.sqrt(2),
        "S": np.diag([1, 1j]), "T": np.diag([1, cmath.exp(1j * math.pi / 4)]),
        "Rx": np.array([[c, -1j * s], [-1j * s, c]]),
        "Ry": np.array([[c, -s], [s, c]]),
        "Rz": np.diag([cmath.exp(-1j * theta / 2), cmath.exp(1j * theta / 2)]),
        "Phase": np.diag([1, cmath.exp(1j * theta)]),
        "SWAP": np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]),
    }[name]


def reference_apply(psi, n, u, targets, ctrls=(), values=None):
    """Dense reference: loop over basis states (qubit 0 = most significant bit)."""
    values = values or (1,) * len(ctrls)
    out = np.zeros_like(psi)
    for b in range(1 << n):
        bits = [(b >> (n - 1 - q)) & 1 for q in range(n)]
        if any(bits[c] != v for c, v in zip(ctrls, values)):
            out[b] += psi[b]
            continue
        j = 0
        for t in targets:
            j = 2 * j + bits[t]
        for jp in range(u.shape[0]):
            nb = list(bits)
            for k, t in enumerate(targets):
                nb[t] = (jp >> (len(targets) - 1 - k)) & 1
            idx = int("".join(map(str, nb)), 2)
            out[idx] += u[jp, j] * psi[b]
    return out


N = 4


@pytest.fixture(scope="module")
def psi():
    rng = np.random.default_rng(1)
    v = rng.normal(size=16) + 1j * rng.normal(size=16)
    return v / np.linalg.norm(v)


def test_hand_computed_bell_like_state():
    # H on q0, CNOT q0→q2, X on q1: (|000⟩ + |101⟩)/√2 → (|010⟩ + |111⟩)/√2, indices 2 and 7.
    c = qc.chain(qc.put(3, 0, qc.H), qc.control(3, 0, 2, qc.X), qc.put(3, 1, qc.X))
    out = np.asarray(qc.apply(c, np.zeros(0)))
    expected = np.zeros(8, complex)
    expected[[2, 7]] = 1 / math.sqrt(2)
    np.testing.assert_allclose(out, expected, atol=1e-15)


def test_qubit_zero_is_most_significant():
    out = np.asarray(qc.apply(qc.put(3, 0, qc.X), np.zeros(0)))
    assert np.argmax(np.abs(out)) == 4  # |100⟩


@pytest.mark.parametrize("name", ["X", "Y", "Z", "H", "S", "T", "Rx", "Ry", "Rz", "Phase"])
@pytest.mark.parametrize("q", [0, 2, 3])
def test_one_qubit_gates(name, q, psi):
    gate = getattr(qc, name)
    theta = 0.731
    params = np.array([theta]) if gate.nparams else np.zeros(0)
    out = qc.apply(qc.put(N, q, gate), params, psi)
    np.testing.assert_allclose(out, reference_apply(psi, N, textbook(name, theta), (q,)), atol=1e-13)


def test_swap_and_matrix_gate(psi):
    out = qc.apply(qc.put(N, (3, 1), qc.SWAP), np.zeros(0), psi)
    np.testing.assert_allclose(out, reference_apply(psi, N, textbook("SWAP"), (3, 1)), atol=1e-13)
    u = scipy.linalg.expm(-1j * np.array([[0.3, 1j, 0.2, 0], [-1j, 0.1, 0, 0.5],
                                          [0.2, 0, -0.4, 0.7j], [0, 0.5, -0.7j, 0.9]]))
    out = qc.apply(qc.put(N, (2, 0), qc.matrix_gate(u)), np.zeros(0), psi)
    np.testing.assert_allclose(out, reference_apply(psi, N, u, (2, 0)), atol=1e-13)


@pytest.mark.parametrize("pauli,locs", [("XYZ", (0, 2, 3)), ("ZZ", (1, 3)), ("YX", (3, 0)), ("ZYZX", (2, 0, 1, 3))])
def test_pauli_string_rotation(pauli, locs, psi):
    theta = -1.234
    p = np.ones((1, 1))
    for c in pauli:
        p = np.kron(p, PAULI[c])
    u = scipy.linalg.expm(-0.5j * theta * p)
    out = qc.apply(qc.put(N, locs, qc.pauli_rotation(pauli)), np.array([theta]), psi)
    np.testing.assert_allclose(out, reference_apply(psi, N, u, locs), atol=1e-13)


@pytest.mark.parametrize("name,ctrls,values,target", [
    ("X", (0,), (1,), (2,)), ("X", (0, 3), (1, 1), (1,)), ("X", (1, 2), (0, 1), (0,)),
    ("Rx", (0, 1), (1, 0), (3,)), ("Phase", (3,), (0,), (1,)), ("Rz", (2,), (1,), (0,)),
    ("H", (1,), (1,), (2,)), ("Y", (0, 1, 2), (0, 0, 1), (3,)), ("SWAP", (0,), (0,), (1, 3)),
])
def test_controlled_gates_with_negative_controls(name, ctrls, values, target, psi):
    gate = getattr(qc, name)
    theta = 2.2
    params = np.array([theta]) if gate.nparams else np.zeros(0)
    out = qc.apply(qc.control(N, ctrls, target, gate, values=values), params, psi)
    np.testing.assert_allclose(out, reference_apply(psi, N, textbook(name, theta), target, ctrls, values),
                               atol=1e-13)


def test_controlled_pauli_rotation_and_dagger_and_kron(psi):
    theta = 0.4
    p = np.kron(PX, PY)
    u = scipy.linalg.expm(-0.5j * theta * p)
    c = qc.control(N, (0,), (2, 3), qc.pauli_rotation("XY"), values=(0,))
    out = qc.apply(c, np.array([theta]), psi)
    np.testing.assert_allclose(out, reference_apply(psi, N, u, (2, 3), (0,), (0,)), atol=1e-13)
    # dagger(chain(a, b)) = b† a†, parameters in the order the inverted gates act
    d = qc.dagger(qc.chain(qc.put(N, 1, qc.Rx), qc.put(N, 1, qc.S), qc.put(N, 2, qc.Ry)))
    out = qc.apply(d, np.array([0.3, 0.5]), psi)  # Ry(0.3)† acts first, then S†, then Rx(0.5)†
    ref = reference_apply(psi, N, textbook("Ry", 0.3).conj().T, (2,))
    ref = reference_apply(ref, N, textbook("S").conj().T, (1,))
    ref = reference_apply(ref, N, textbook("Rx", 0.5).conj().T, (1,))
    np.testing.assert_allclose(out, ref, atol=1e-13)
    k = qc.kron(N, {0: qc.H, 3: qc.Rz})
    out = qc.apply(k, np.array([1.1]), psi)
    ref = reference_apply(reference_apply(psi, N, textbook("H"), (0,)), N, textbook("Rz", 1.1), (3,))
    np.testing.assert_allclose(out, ref, atol=1e-13)


def test_repeat_applies_body_with_its_own_parameters(psi):
    body = qc.chain(qc.put(N, 0, qc.Rx), qc.control(N, 0, 1, qc.X), qc.put(N, 1, qc.Rz))
    params = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    out = qc.apply(qc.repeat(body, 3), params, psi)
    ref = psi
    for r in range(3):
        ref = reference_apply(ref, N, textbook("Rx", params[2 * r]), (0,))
        ref = reference_apply(ref, N, PX, (1,), (0,))
        ref = reference_apply(ref, N, textbook("Rz", params[2 * r + 1]), (1,))
    np.testing.assert_allclose(out, ref, atol=1e-13)


def test_variational_circuit_matches_yao_structure_on_small_case():
    # n=3, depth=2: Rx,Rz per qubit; [CNOT ring; Rz,Rx,Rz per qubit]; CNOT ring; Rz,Rx per qubit.
    n, depth = 3, 2
    c = qc.variational_circuit(n, depth)
    assert c.nparams == n * (3 * depth + 1) == 21
    theta = np.linspace(0.1, 2.1, 21)
    psi = np.zeros(8, complex)
    psi[0] = 1
    it = iter(theta)
    ref = psi
    for q in range(n):
        ref = reference_apply(ref, n, textbook("Rx", next(it)), (q,))
        ref = reference_apply(ref, n, textbook("Rz", next(it)), (q,))
    for layer in range(depth):
        for a, b in [(0, 1), (1, 2), (2, 0)]:
            ref = reference_apply(ref, n, PX, (b,), (a,))
        kinds = ("Rz", "Rx", "Rz") if layer < depth - 1 else ("Rz", "Rx")
        for q in range(n):
            for kind in kinds:
                ref = reference_apply(ref, n, textbook(kind, next(it)), (q,))
    np.testing.assert_allclose(qc.apply(c, theta), ref, atol=1e-13)


def test_deep_circuit_counts_are_yaos():
    c = qc.variational_circuit(10, 10000)
    assert c.nparams == 300010
    assert c.counts() == {"Rz": 200000, "Rx": 100010, "CNOT": 100000}
    table = qc.parameter_table(c)
    assert len(table) == 300010
    assert list(table["gate"][:4]) == ["Rx", "Rz", "Rx", "Rz"] and list(table["qubit"][:4]) == [0, 0, 1, 1]
    assert list(table["gate"][20:23]) == ["Rz", "Rx", "Rz"] and int(table["qubit"][23]) == 1
    assert "repeat ×9999" in str(c)


def test_probabilities_sample_fidelity():
    c = qc.chain(qc.put(2, 0, qc.H), qc.control(2, 0, 1, qc.X))
    psi = qc.apply(c, np.zeros(0))
    np.testing.assert_allclose(qc.probabilities(psi), [0.5, 0, 0, 0.5], atol=1e-15)
    bits = np.asarray(qc.sample(psi, 4000, jax.random.PRNGKey(0)))
    assert set(map(tuple, bits)) <= {(0, 0), (1, 1)}
    assert abs(bits[:, 0].mean() - 0.5) < 0.05  # binomial: 4 standard deviations ≈ 0.032
    assert float(qc.fidelity(psi, qc.basis_state(2, "11"))) == pytest.approx(0.5, abs=1e-14)
    plus = qc.product_state([[1 / math.sqrt(2), 1 / math.sqrt(2)]] * 2)
    np.testing.assert_allclose(plus, np.full(4, 0.5), atol=1e-15)
