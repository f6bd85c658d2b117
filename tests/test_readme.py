"""The README's quick start stays true: two commands, the second is what CI runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _quick_start_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_quick_start_has_exactly_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert "pytest" in commands[1] and "[test]" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _quick_start_commands()[1] in [line.strip() for line in ci]


def test_readme_command_table_matches_cli():
    from qdiff.cli import _SUBCOMMANDS

    text = (ROOT / "README.md").read_text()
    for name in _SUBCOMMANDS:
        assert f"`qdiff {name}" in text, f"README's command table lacks qdiff {name}"
