"""The qdiff command line: JSON output, one-line errors, exit codes."""

import json
import subprocess
import sys

from qdiff.cli import jsonable, main


def test_unknown_subcommand_is_one_line_and_exit_2(capsys):
    try:
        main(["no-such-command"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qdiff: error:")


def test_unknown_primitive_is_one_line_and_exit_2(capsys):
    assert main(["primitives", "check", "no_such_primitive"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_primitive" in err


def test_jsonable_maps_nonfinite_to_null():
    import numpy as np

    out = json.loads(json.dumps(jsonable({"a": np.array([1.0, np.inf]), "b": float("nan"), "c": 1 + 2j})))
    assert out == {"a": [1.0, None], "b": None, "c": {"real": 1.0, "imag": 2.0}}


def test_console_script_help_runs():
    res = subprocess.run([sys.executable, "-m", "qdiff.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "primitives" in res.stdout
