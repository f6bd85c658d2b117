"""``qdiff dft``: JSON record, exit codes, one-line errors."""

import json

from qdiff.cli import main


def test_json_record_of_silicon(capsys):
    assert main(["dft", "si", "--ecut", "5", "--kgrid", "2", "2", "2", "--forces", "--json", "--tol", "1e-10"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["schema"] == "qdiff.dft/1" and rec["converged"]
    assert rec["units"]["energy"] == "Hartree" and rec["units"]["forces"] == "Hartree/Bohr"
    assert abs(sum(rec["energies"].values()) - rec["energy"]) < 1e-10
    # perfect diamond: every atom sits at an inversion-related site, the forces vanish by symmetry
    assert max(abs(x) for f in rec["forces"] for x in f) < 1e-8
    assert rec["band_gap"] > 0 and len(rec["eigenvalues"]) == len(rec["kpoints"]) == len(rec["kweights"])
    assert abs(sum(rec["kweights"]) - 1.0) < 1e-12
    assert rec["history"][-1]["iteration"] == rec["n_iterations"]


def test_bad_input_exits_2_with_one_line(capsys):
    assert main(["dft", "al", "--ecut", "5"]) == 2  # odd electron count without smearing
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "odd number of electrons" in err
    assert main(["dft", "si", "--ecut", "-1"]) == 2
    assert "ecut" in capsys.readouterr().err
    assert main(["dft", "no_such_structure.cif"]) == 2


def test_unconverged_run_exits_1_with_record(capsys):
    assert main(["dft", "si", "--ecut", "5", "--kgrid", "2", "2", "2", "--maxiter", "2", "--json"]) == 1
    captured = capsys.readouterr()
    rec = json.loads(captured.out)
    assert rec["converged"] is False and rec["n_iterations"] == 2
    assert "not converged" in captured.err
