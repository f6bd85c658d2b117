"""qdiff.circuits: gate blocks, a state-vector simulator with a reversible-adjoint gradient,
observables on graphs, and a VQE trainer.

Conventions: qubit 0 is the most significant bit of a basis index; rotations are
``exp(−iθP/2)``; parameters live outside the blocks in one flat float64 array,
ordered as the gates act (see :func:`parameter_table`).
"""

from .ansatz import chain_pairs, cnot_entangler, random_params, ring, variational_circuit
from .blocks import (Chain, Control, Dagger, Kron, Put, Repeat, chain, control, dagger, gate_counts, kron,
                     nparams, nqubits, put, repeat)
from .compile import compile_circuit, parameter_table
from .expect import expect, random_circuit, random_observable, value_and_grad
from .gates import (SWAP, Gate, H, Phase, Rx, Ry, Rz, S, T, X, Y, Z, matrix_gate, pauli_matrix,
                    pauli_rotation)
from .observables import (Observable, apply_observable, expectation, ground_energy, heisenberg, maxcut,
                          pauli_sum, tfim, to_dense, to_sparse)
from .simulate import apply
from .vqe import VQEResult, vqe
from .states import (basis_state, fidelity, probabilities, product_state, random_state, sample, state,
                     zero_state)

__all__ = [
    "Gate", "X", "Y", "Z", "H", "S", "T", "Rx", "Ry", "Rz", "Phase", "SWAP", "pauli_rotation", "matrix_gate",
    "pauli_matrix", "Put", "Control", "Chain", "Kron", "Repeat", "Dagger", "put", "control", "chain", "kron",
    "repeat", "dagger", "nqubits", "nparams", "gate_counts", "compile_circuit", "parameter_table",
    "variational_circuit", "ring", "chain_pairs", "cnot_entangler", "random_params", "random_circuit",
    "random_observable", "Observable", "pauli_sum", "heisenberg", "tfim", "maxcut", "to_dense", "to_sparse",
    "ground_energy", "expectation", "apply_observable", "apply", "expect", "value_and_grad",
    "vqe", "VQEResult", "zero_state", "basis_state", "product_state", "state", "random_state", "probabilities", "sample", "fidelity",
]
