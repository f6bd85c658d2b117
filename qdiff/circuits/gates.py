"""Gate leaves: the elementary quantum gates a circuit is built from.

A :class:`Gate` is an immutable description of an operation on ``nqubits``
qubits with ``nparams`` (0 or 1) real parameters; parameter *values* are never
stored in a gate, they are passed next to the circuit as one flat float64 array.

Conventions (used everywhere in :mod:`qdiff.circuits`):

* Qubit 0 is the **most significant** bit of a basis-state index: for ``n``
  qubits, basis state ``|b_0 b_1 … b_{n-1}⟩`` has index ``Σ_q b_q 2^{n-1-q}``,
  and a state vector reshaped to ``(2,)*n`` has axis ``q`` = qubit ``q``
  (the textbook / PennyLane ordering).
* Rotations are ``R_P(θ) = exp(-iθP/2)`` for a Pauli string ``P``;
  ``phase(φ) = diag(1, e^{iφ})``.
* A multi-qubit gate's matrix is written in the basis of its own qubits in the
  order they are listed (first listed = most significant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: kinds of gate, as the compiler sees them
#:  - "fixed":  a constant unitary (X, Y, Z, H, S, T, SWAP, matrix gates)
#:  - "rot":    exp(-iθ/2 P) for a Pauli string P (Rx, Ry, Rz, pauli_rotation)
#:  - "phase":  diag(1, e^{iθ}) on one qubit
_KINDS = ("fixed", "rot", "phase")


def _tupled(m: np.ndarray) -> tuple:
    return tuple(tuple(complex(x) for x in row) for row in np.asarray(m))


@dataclass(frozen=True)
class Gate:
    """An elementary gate (a leaf of the block tree).

    Attributes:
      name: display name ("X", "Rx", "SWAP", "PauliRot(XYZ)", "Matrix", …).
      nqubits: number of qubits it acts on.
      kind: "fixed", "rot" or "phase" (see module docstring).
      pauli: for kind "rot": the Pauli string, one letter of "XYZ" per qubit.
      matrix: for kind "fixed": the unitary as a tuple of tuples of complex.
    """

    name: str
    nqubits: int
    kind: str = "fixed"
    pauli: str = ""
    matrix: tuple | None = None

    @property
    def nparams(self) -> int:
        """Number of real parameters the gate takes (0 or 1)."""
        return 0 if self.kind == "fixed" else 1

    def unitary(self, theta: float = 0.0) -> np.ndarray:
        """The gate's ``2^k × 2^k`` matrix at parameter ``theta`` (numpy, complex128)."""
        if self.kind == "fixed":
            return np.array(self.matrix, dtype=np.complex128)
        if self.kind == "phase":
            return np.diag([1.0, np.exp(1j * theta)]).astype(np.complex128)
        p = pauli_matrix(self.pauli)
        return math.cos(theta / 2) * np.eye(p.shape[0]) - 1j * math.sin(theta / 2) * p

    def __repr__(self) -> str:
        return self.name


_PAULI = {
    "I": np.eye(2, dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}


def pauli_matrix(string: str) -> np.ndarray:
    """Dense matrix of a Pauli string such as ``"XZY"`` (first letter = most significant qubit)."""
    out = np.ones((1, 1), dtype=np.complex128)
    for c in string:
        out = np.kron(out, _PAULI[c])
    return out


def _fixed(name: str, m) -> Gate:
    m = np.asarray(m, dtype=np.complex128)
    return Gate(name, int(round(math.log2(m.shape[0]))), "fixed", "", _tupled(m))


_S2 = 1 / math.sqrt(2)
X = _fixed("X", _PAULI["X"])
Y = _fixed("Y", _PAULI["Y"])
Z = _fixed("Z", _PAULI["Z"])
H = _fixed("H", [[_S2, _S2], [_S2, -_S2]])
S = _fixed("S", [[1, 0], [0, 1j]])
T = _fixed("T", [[1, 0], [0, np.exp(1j * math.pi / 4)]])
SWAP = _fixed("SWAP", [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
Rx = Gate("Rx", 1, "rot", "X")
Ry = Gate("Ry", 1, "rot", "Y")
Rz = Gate("Rz", 1, "rot", "Z")
Phase = Gate("Phase", 1, "phase")


def pauli_rotation(pauli: str) -> Gate:
    """The rotation ``exp(-iθ/2 P)`` about a Pauli string ``P`` (letters X, Y, Z; one per qubit).

    Raises:
      InputError: empty string or a letter other than X, Y, Z.
    """
    if not isinstance(pauli, str) or not pauli or any(c not in "XYZ" for c in pauli.upper()):
        raise InputError(f"pauli_rotation: pauli must be a non-empty string of X, Y, Z, got {pauli!r}")
    pauli = pauli.upper()
    if len(pauli) == 1:
        return {"X": Rx, "Y": Ry, "Z": Rz}[pauli]
    return Gate(f"PauliRot({pauli})", len(pauli), "rot", pauli)


def matrix_gate(matrix, name: str = "Matrix", atol: float = 1e-10) -> Gate:
    """A constant gate given by its unitary matrix (``2^k × 2^k``), checked to be unitary.

    Raises:
      InputError: not square of power-of-two size, not finite, or ``‖U†U − 1‖_max > atol``.
    """
    m = np.asarray(matrix, dtype=np.complex128)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2 or (m.shape[0] & (m.shape[0] - 1)):
        raise InputError(f"matrix_gate: matrix must be square of size 2^k (k ≥ 1), got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise InputError("matrix_gate: matrix has non-finite entries")
    err = float(np.max(np.abs(m.conj().T @ m - np.eye(m.shape[0]))))
    if err > atol:
        raise InputError(f"matrix_gate: matrix is not unitary (max |U†U − 1| = {err:.3g} > {atol:g})")
    return _fixed(name, m)


def dagger_gate(gate: Gate) -> tuple[Gate, int]:
    """The inverse of a gate, as ``(gate', sign)``: parameter θ of the inverse is ``sign·θ``."""
    if gate.kind == "fixed":
        m = np.array(gate.matrix, dtype=np.complex128).conj().T
        if np.allclose(m, np.array(gate.matrix)):
            return gate, 1
        name = gate.name[:-1] if gate.name.endswith("†") else gate.name + "†"
        return Gate(name, gate.nqubits, "fixed", "", _tupled(m)), 1
    return gate, -1


def is_diagonal(gate: Gate) -> bool:
    """Whether the gate's matrix is diagonal in the computational basis for every parameter."""
    if gate.kind == "phase":
        return True
    if gate.kind == "rot":
        return set(gate.pauli) == {"Z"}
    m = np.array(gate.matrix)
    return bool(np.allclose(m, np.diag(np.diag(m))))


def permutation_of(gate: Gate) -> tuple[int, ...] | None:
    """For a fixed gate that is a permutation matrix, ``σ`` with ``U|j⟩ = |σ(j)⟩``; else None."""
    if gate.kind != "fixed":
        return None
    m = np.array(gate.matrix)
    if not np.allclose(np.abs(m), np.round(np.abs(m))) or not np.allclose(m.imag, 0) or np.any(m.real < -0.5):
        return None
    if not np.allclose(m.sum(axis=0), 1) or not np.allclose(m.sum(axis=1), 1):
        return None
    return tuple(int(np.argmax(m[:, j])) for j in range(m.shape[1]))
