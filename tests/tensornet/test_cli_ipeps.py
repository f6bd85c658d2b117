"""``qdiff ipeps`` command line: a short run and one-line errors for bad input."""

import json

import pytest

from qdiff.cli import main


@pytest.mark.parametrize("argv, words", [
    (["--D", "0"], "--D must be a positive integer"),
    (["--chi", "0"], "--chi must be a positive integer"),
    (["--chi", "-4"], "--chi must be a positive integer"),
    (["--model", "potts"], "known models"),
    (["--model", "heisenberg", "--field", "1.0"], "--field applies to --model tfim"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, words):
    assert main(["ipeps", *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err


def test_short_run_json(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    code = main(["ipeps", "--D", "2", "--chi", "16", "--steps", "3", "--checkpoint", str(ckpt), "--json",
                 "--no-progress"])
    assert code == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["schema"] == "qdiff.ipeps/1" and rec["steps"] == 3 and ckpt.exists()
    # variational: above the QMC ground-state energy −0.669437 (Sandvik 1997), decreasing along the run
    assert rec["energy_per_site"] > -0.669437
    assert rec["history"][-1] <= rec["history"][0]
    assert 0.0 <= rec["magnetization"] <= 0.5
