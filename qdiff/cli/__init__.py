"""The ``qdiff`` command line: ``qdiff SUBCOMMAND [options]``.

Each subcommand lives in its own module ``qdiff.cli.<name>`` exposing
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> (summary, record)``:
``summary`` is the human-readable text printed by default, ``record`` the JSON
object printed instead with ``--json``.  Logs and progress bars go to stderr.
Bad input ends the program with one line on stderr and exit status 2; a failed
check or a run that did not converge exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import sys
from typing import Any, Sequence

# subcommand name -> module under qdiff.cli (imported only when used)
_SUBCOMMANDS = {
    "primitives": "primitives",
    "ipeps": "ipeps",
    "dft": "dft",
    "trg": "trg",
    "vqe": "vqe",
}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line (no usage dump)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sys.stderr.write(f"qdiff: error: {message}\n")
        raise SystemExit(2)


class CommandFailed(Exception):
    """Raised by a subcommand whose work ran but failed (exit status 1); carries its output."""

    def __init__(self, message: str, summary: str = "", record: dict | None = None):
        super().__init__(message)
        self.summary = summary
        self.record = record


def jsonable(obj: Any) -> Any:
    """Convert arrays, numpy scalars and non-finite floats into plain JSON values (NaN/inf → None)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        if arr.ndim == 0:
            return jsonable(arr.item())
        if np.iscomplexobj(arr):
            return {"real": jsonable(arr.real.tolist()), "imag": jsonable(arr.imag.tolist())}
        return jsonable(arr.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, complex):
        return {"real": jsonable(obj.real), "imag": jsonable(obj.imag)}
    return obj


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qdiff", description="Differentiable quantum simulations on JAX (float64).")
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"qdiff {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the summary")
    common.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name in _SUBCOMMANDS.items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[common])
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _emit(args, summary: str, record: dict | None) -> None:
    if args.json:
        sys.stdout.write(json.dumps(jsonable(record or {}), indent=2) + "\n")
    elif summary:
        sys.stdout.write(summary.rstrip("\n") + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qdiff`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(name)s: %(message)s")
    import qdiff  # noqa: F401  (turns on float64)
    from ..errors import QdiffError

    try:
        summary, record = args._module.run(args)
    except CommandFailed as exc:
        _emit(args, exc.summary, exc.record)
        sys.stderr.write(f"qdiff: {exc}\n")
        return 1
    except (QdiffError, ValueError, TypeError, KeyError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        sys.stderr.write(f"qdiff: error: {' '.join(str(msg).split())}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("qdiff: interrupted\n")
        return 130
    _emit(args, summary, record)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
