"""``qdiff ipeps``: variational C4v iPEPS ground state of a spin-1/2 model by AD through CTMRG."""

from __future__ import annotations

HELP = "optimise a C4v-symmetric iPEPS ground state (L-BFGS, gradients by AD through CTMRG)"
SCHEMA = "qdiff.ipeps/1"


def add_arguments(parser) -> None:
    parser.add_argument("--model", default="heisenberg",
                        help="heisenberg (default; sublattice-rotated), tfim, j1j2")
    parser.add_argument("--field", type=float, default=None, help="transverse field h of tfim (default 3.0)")
    parser.add_argument("--j2", type=float, default=None, help="J2 of j1j2 (default 0.5)")
    parser.add_argument("--D", type=int, default=2, help="bond dimension (default 2)")
    parser.add_argument("--chi", type=int, default=None, help="environment dimension χ (default 8·D, at least D²)")
    parser.add_argument("--steps", type=int, default=100, help="L-BFGS iterations (default 100)")
    parser.add_argument("--checkpoint", default=None, metavar="F",
                        help="checkpoint file written every step; an existing one is resumed")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed of the random initial tensor (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")


def _model(args):
    from ..errors import InputError
    from ..tensornet import get_model

    params = {}
    if args.field is not None:
        if args.model != "tfim":
            raise InputError("--field applies to --model tfim only")
        params["h"] = args.field
    if args.j2 is not None:
        if args.model != "j1j2":
            raise InputError("--j2 applies to --model j1j2 only")
        params["J2"] = args.j2
    return get_model(args.model, **params)


def run(args):
    from ..errors import InputError
    from ..progress import ProgressBar
    from ..tensornet import evaluate_ipeps, optimize_ipeps

    model = _model(args)
    if args.D < 1:
        raise InputError(f"--D must be a positive integer, got {args.D}")
    chi = args.chi if args.chi is not None else max(8 * args.D, args.D * args.D)
    if chi < 1:
        raise InputError(f"--chi must be a positive integer, got {chi}")
    if args.steps < 0:
        raise InputError(f"--steps must be non-negative, got {args.steps}")
    with ProgressBar(args.steps, desc=f"iPEPS D={args.D} chi={chi}", keys=("energy", "grad_norm"),
                     disable=args.no_progress) as bar:
        result = optimize_ipeps(model, args.D, chi, key=args.seed, steps=args.steps, checkpoint=args.checkpoint,
                                callback=bar)
    obs = evaluate_ipeps(result.A, model, chi)
    record = {
        "schema": SCHEMA, "model": model.name, "params": model.params, "D": args.D, "chi": chi,
        "seed": args.seed, "steps": result.steps, "evaluations": result.evaluations, "stopped": result.stopped,
        "energy_per_site": result.energy, "grad_norm": result.grad_norm,
        "magnetization": obs["magnetization"], "staggered": bool(model.rotated),
        "correlation_length": obs["correlation_length"], "truncation": obs["truncation"],
        "history": result.history,
        "units": {"energy_per_site": "J (model couplings) per site", "magnetization": "hbar (|<S>|, S = sigma/2)",
                  "correlation_length": "lattice spacings", "grad_norm": "J per unit tensor norm"},
    }
    mag = "staggered magnetisation" if model.rotated else "magnetisation |<S>|"
    summary = "\n".join([
        f"iPEPS C4v  model {model.name} {model.params}  D={args.D}  chi={chi}",
        f"energy per site      {result.energy:.10f}",
        f"{mag:<20} {obs['magnetization']:.6f}",
        f"correlation length   {obs['correlation_length']:.4f}",
        f"L-BFGS steps {result.steps} ({result.evaluations} evaluations), stopped by {result.stopped}, "
        f"|grad| {result.grad_norm:.2e}",
    ])
    return summary, record
