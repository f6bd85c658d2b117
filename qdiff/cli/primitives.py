"""``qdiff primitives``: list the registered primitives or check them against finite differences."""

from __future__ import annotations

HELP = "list the differentiable primitives, or check their derivatives against finite differences"
SCHEMA = "qdiff.primitives/1"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["check", "list"], nargs="?", default="check",
                        help="check (default): finite-difference check; list: names and modes")
    parser.add_argument("names", nargs="*", metavar="NAME", help="primitives to check (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed for examples and tangents (default 0)")
    parser.add_argument("--include-slow", action="store_true",
                        help="also check primitives tagged 'slow' (skipped by default)")


def run(args):
    from ..primitives import check, registry
    from ..progress import ProgressBar
    from . import CommandFailed

    entries = registry()
    unknown = [n for n in args.names if n not in entries]
    if unknown:
        raise KeyError(f"unknown primitive(s) {', '.join(unknown)}; registered: {', '.join(entries)}")
    selected = args.names or [n for n, p in entries.items() if args.include_slow or "slow" not in p.tags]
    if args.action == "list":
        rows = [{"name": n, "modes": list(entries[n].modes), "order": entries[n].order,
                 "tags": sorted(entries[n].tags), "doc": entries[n].doc.splitlines()[0] if entries[n].doc else ""}
                for n in selected]
        summary = "\n".join(f"{r['name']:<24} {'/'.join(r['modes']):<8} order {r['order']}  {r['doc']}" for r in rows)
        return summary, {"schema": SCHEMA, "primitives": rows}

    reports = []
    with ProgressBar(len(selected), desc="checking", keys=("max_error",)) as bar:
        for n in selected:
            rep = check(n, args.seed)
            reports.append(rep)
            bar({"max_error": rep.max_error})
    lines = [f"{'primitive':<24} {'cases':>5} {'max rel. error':>15} {'tol':>8}  result"]
    for r in reports:
        lines.append(f"{r.name:<24} {len(r.cases):>5} {r.max_error:>15.2e} {r.tolerance:>8.0e}  "
                     f"{'pass' if r.passed else 'FAIL'}")
        for c in r.cases:
            if not c.passed:
                worst = max(c.errors, key=c.errors.get) if c.errors else "-"
                lines.append(f"    {c.label}: {worst} error {c.max_error:.2e} {c.message}")
    passed = all(r.passed for r in reports)
    record = {"schema": SCHEMA, "seed": args.seed, "passed": passed,
              "results": [r.to_dict() for r in reports],
              "units": {"max_error": "relative error of directional derivatives vs central finite differences"}}
    summary = "\n".join(lines)
    if not passed:
        failed = ", ".join(r.name for r in reports if not r.passed)
        raise CommandFailed(f"derivative check failed for {failed}", summary, record)
    return summary, record
