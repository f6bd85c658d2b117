"""Tensor-network benchmarks: ``python benchmarks/tensornet.py [trg|ipeps|all] [options]``.

Dispatches to ``benchmarks/tensornet_trg.py`` (TRG vs Onsager) and
``benchmarks/tensornet_ipeps.py`` (C4v iPEPS by AD through CTMRG); each prints a
markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name):
    path = os.path.join(_HERE, f"{name}.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    which = argv.pop(0) if argv and argv[0] in ("trg", "ipeps", "all") else "all"
    status = 0
    for part in (("trg", "ipeps") if which == "all" else (which,)):
        module = _load(f"tensornet_{part}")
        if module is None:
            print(f"[{part}] benchmarks/tensornet_{part}.py is not present; skipped")
            continue
        status |= int(module.main(argv) or 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
