"""VQE training, checkpoint/resume, the CLI, and bad input."""

import json

import jax
import numpy as np
import pytest

import qdiff.circuits as qc
from qdiff.cli import main
from qdiff.errors import InputError


def test_vqe_reaches_the_exact_heisenberg_ground_energy():
    h = qc.heisenberg(4)  # exact: -8 (4 × the spin-1/2 value -2)
    c = qc.variational_circuit(4, 4)
    res = qc.vqe(h, c, steps=300, lr=0.05, seed=1)
    assert res.energy[0] > res.energy[-1]
    assert res.final_energy == pytest.approx(-8.0, abs=2e-2)
    assert res.final_energy >= -8.0 - 1e-9  # variational bound


def test_checkpoint_resume_gives_identical_parameters(tmp_path):
    h = qc.tfim(4, 1.0, 0.7)
    c = qc.variational_circuit(4, 3)
    straight = qc.vqe(h, c, steps=10, lr=0.05)  # same compiled step function is reused below
    path = tmp_path / "vqe.npz"
    first = qc.vqe(h, c, steps=5, lr=0.05, checkpoint=path, checkpoint_every=2)
    assert len(first.energy) == 5
    resumed = qc.vqe(h, c, steps=10, lr=0.05, checkpoint=path, checkpoint_every=2)
    assert resumed.resumed_from == 5
    np.testing.assert_array_equal(resumed.params, straight.params)
    np.testing.assert_array_equal(resumed.energy, straight.energy)


def test_cli_vqe_json_and_resume(tmp_path, capsys):
    ck = tmp_path / "c.npz"
    args = ["vqe", "--qubits", "4", "--depth", "3", "--steps", "4", "--model", "tfim", "--lr", "0.05",
            "--checkpoint", str(ck), "--checkpoint-every", "2", "--json"]
    assert main(args) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["schema"] == "qdiff.vqe/1" and len(rec["energy"]) == 4 and rec["nparams"] == 40
    k = np.pi * (2 * np.arange(1, 5) - 1) / 4  # free-fermion exact energy of the 4-site TFIM ring, h = J = 1
    assert rec["exact_ground_energy"] == pytest.approx(-np.sum(np.sqrt(2 - 2 * np.cos(k))), abs=1e-9)
    args[6] = "6"
    assert main(args) == 0
    rec2 = json.loads(capsys.readouterr().out)
    assert rec2["resumed_from"] == 4 and rec2["energy"][:4] == rec["energy"]


def test_cli_bad_input_exits_2(capsys):
    assert main(["vqe", "--qubits", "1"]) == 2
    assert "--qubits" in capsys.readouterr().err
    assert main(["vqe", "--depth", "0"]) == 2


def test_bad_input_is_rejected_before_computing():
    with pytest.raises(InputError, match="out of range"):
        qc.put(3, 3, qc.X)
    with pytest.raises(InputError, match="repeated"):
        qc.put(3, (1, 1), qc.SWAP)
    with pytest.raises(InputError, match="both control and target"):
        qc.control(3, 1, 1, qc.X)
    with pytest.raises(InputError, match="not unitary"):
        qc.matrix_gate([[1, 1], [0, 1]])
    c = qc.variational_circuit(3, 2)
    with pytest.raises(InputError, match=r"shape \(21,\)"):
        qc.expect(qc.heisenberg(3), c, np.zeros(20))
    with pytest.raises(InputError, match="NaN"):
        qc.expect(qc.heisenberg(3), c, np.full(21, np.nan))
    with pytest.raises(InputError, match="only 3"):
        qc.expect(qc.heisenberg(4), c, np.zeros(21))
    with pytest.raises(InputError, match="amplitudes"):
        qc.apply(c, np.zeros(21), np.ones(4))
    with pytest.raises(InputError, match="method"):
        qc.apply(c, np.zeros(21), method="magic")
    with pytest.raises(InputError, match="pauli"):
        qc.pauli_rotation("XQ")
    with pytest.raises(InputError, match="steps"):
        qc.vqe(qc.heisenberg(3), c, steps=0)


def test_building_the_deep_circuit_is_cheap():
    # Not a timing test: structural.  The 300,010-parameter circuit is a handful of block objects.
    c = qc.variational_circuit(10, 10000)
    prog = qc.compile_circuit(c)
    repeats = [s for s in prog.steps if type(s).__name__ == "RepeatStep"]
    assert len(repeats) == 1 and repeats[0].count == 9999 and repeats[0].nparams == 30
    assert prog.nparams == 300010
