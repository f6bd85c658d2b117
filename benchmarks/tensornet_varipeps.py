"""varipeps side by side: Heisenberg antiferromagnet on the square lattice, D = 2, χ = 16.

Runs varipeps' standard square-lattice Heisenberg setup (its example ``heisenberg_afm_square``:
two-site checkerboard unit cell ``[[0, 1], [1, 0]]`` of *unrestricted* real tensors, nearest-neighbour
gates ``S·S`` on horizontal and vertical bonds, its example's CTMRG/AD convergence settings, default
L-BFGS optimiser with its default convergence criterion) from a random start, pinned to one thread.
By default χ follows the example's scheme (start at D², varipeps' heuristics move it up to ``--chi``);
``--fixed-chi`` holds it at ``--chi`` as in qdiff's case. The CTMRG step cap is raised to 300
(``--ctmrg-max-steps``): states met early in this optimisation need ~110-130 sweeps. Records:
energy per site, process CPU and wall time to convergence, the per-step wall times varipeps records
(median, and the first step, which contains the JIT compilation), χ per step, the number of steps,
and peak RSS. The run is capped at ``--cpu-limit`` seconds of process CPU time (default 600) and
optionally ``--wall-limit`` seconds of wall time; a capped run reports the last recorded step (the cap
is checked when varipeps records a step).

This script must run in varipeps' own environment (varipeps 1.5.0 pins ``jax<0.9.1``, which clashes
with qdiff's jax); it does not import qdiff.  Setup::

    python3 -m venv /work/venvs/varipeps && /work/venvs/varipeps/bin/pip install varipeps
    /work/venvs/varipeps/bin/python benchmarks/tensornet_varipeps.py [--chi 16] [--D 2] [--json out.json]

qdiff's side of the comparison is ``python benchmarks/tensornet.py ipeps`` (case ``d2``).
Without varipeps installed the script prints a message and exits with status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


class _CpuLimit(Exception):
    pass


_STOP = {"flag": False}


def _on_cpu_limit(signum, frame):
    # only set a flag: raising from a signal handler can land in a gc callback of JAX, where the
    # exception is swallowed; the per-step callback below raises at the next step instead
    _STOP["flag"] = True


def main(argv=None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--D", type=int, default=2, help="iPEPS bond dimension")
    parser.add_argument("--chi", type=int, default=16,
                        help="largest environment bond dimension (varipeps' max_chi; the fixed chi with --fixed-chi)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu-limit", type=float, default=600.0, help="cap on process CPU seconds")
    parser.add_argument("--wall-limit", type=float, default=None,
                        help="cap on wall-clock seconds as well (for a loaded machine)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--fixed-chi", action="store_true",
                        help="hold chi at --chi from the start, varipeps' heuristic chi increase/decrease off "
                             "(default: its example's scheme, start at D^2 and let varipeps move chi up to --chi)")
    parser.add_argument("--ctmrg-max-steps", type=int, default=300,
                        help="varipeps' CTMRG step cap (its example sets 100, its default is 75; states met "
                             "during this optimisation need ~110-130 sweeps to reach 1e-7)")
    parser.add_argument("--library-defaults", action="store_true",
                        help="use varipeps' library defaults (CTMRG eps 1e-8, 75 steps) instead of the settings of "
                             "its heisenberg_afm_square example (eps 1e-7, AD eps 5e-8)")
    parser.add_argument("--fast-compile", action="store_true",
                        help="give XLA the compiler options qdiff's own entry points use "
                             "(--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=1)")
    parser.add_argument("--no-preconditioning", action="store_true",
                        help="switch off the L-BFGS gradient preconditioning that varipeps >= 1.4 applies by default")
    parser.add_argument("--iterative-gradient", action="store_true",
                        help="varipeps' ITERATIVE fixed-point gradient (at most 100 iterations) instead of its "
                             "default GMRES solve")
    parser.add_argument("--verbose", action="store_true",
                        help="print every recorded optimiser step and varipeps' CTMRG / gradient sweeps")
    args = parser.parse_args(argv)

    if args.fast_compile:  # must happen before jax is imported
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_use_fusion_emitters=false"
                                   " --xla_backend_optimization_level=1").strip()

    try:
        import jax
        import jax.numpy as jnp
        import varipeps
    except ImportError as exc:
        print(f"varipeps is not installed in this environment ({exc}); skipping. "
              "Create its own venv: python3 -m venv /work/venvs/varipeps && "
              "/work/venvs/varipeps/bin/pip install varipeps")
        return None

    jax.config.update("jax_enable_x64", True)
    cfg = varipeps.varipeps_config  # the config instance the optimiser reads
    if args.fixed_chi:
        cfg.ctmrg_heuristic_increase_chi = False
        cfg.ctmrg_heuristic_decrease_chi = False
    if not args.library_defaults:
        # the settings varipeps' own heisenberg_afm_square example makes (its library defaults are stricter:
        # CTMRG eps 1e-8 within 75 steps, which the states met here do not reach, see docs/benchmarks.md)
        cfg.ctmrg_convergence_eps = 1e-7
        cfg.ad_custom_convergence_eps = 5e-8
        cfg.ad_custom_max_steps = 100
        cfg.ctmrg_heuristic_increase_chi_threshold = 1e-4
        cfg.optimizer_max_steps = 2000
    cfg.ctmrg_max_steps = args.ctmrg_max_steps
    if args.no_preconditioning:
        cfg.optimizer_use_preconditioning = False
    if args.iterative_gradient:
        cfg.ad_custom_fixed_point_method = varipeps.config.Grad_Fixed_Point_Method.ITERATIVE
    if args.verbose:  # varipeps' own per-sweep output of the CTMRG and of the gradient's fixed point
        cfg.ctmrg_print_steps = True
        cfg.ad_custom_print_steps = True
    cfg.optimizer_autosave_step_count = 1

    sx = jnp.array([[0, 1], [1, 0]]) / 2
    sy = jnp.array([[0, -1j], [1j, 0]]) / 2
    sz = jnp.array([[1, 0], [0, -1]]) / 2
    bond = jnp.real(jnp.kron(sx, sx) + jnp.kron(sy, sy) + jnp.kron(sz, sz))
    exp_func = varipeps.expectation.Two_Sites_Expectation_Value(horizontal_gates=(bond,), vertical_gates=(bond,))
    structure = [[0, 1], [1, 0]]
    start_chi = args.chi if args.fixed_chi else min(args.D ** 2, args.chi)
    unitcell = varipeps.peps.PEPS_Unit_Cell.random(structure, 2, args.D, start_chi, float, max_chi=args.chi,
                                                   seed=args.seed)

    saved: dict = {}

    def record(filename, tensors, unitcell, counter=None, auxiliary_data=None, **kwargs):
        saved["counter"] = counter
        saved["aux"] = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in (auxiliary_data or {}).items()}
        saved["cpu_s"] = time.process_time()
        saved["wall_s"] = time.perf_counter()
        if args.verbose:
            runs = sorted(k for k in saved["aux"] if k.startswith("step_energies_"))
            last = {k: [float(e) for e in saved["aux"][k][-1:]] for k in runs}
            last["chi"] = [int(c) for c in saved["aux"].get(runs[-1].replace("energies", "chi"), [])[-1:]] if runs else []
            print(f"[step] counter={counter} cpu={time.process_time() - cpu0:.1f} s "
                  f"wall={time.perf_counter() - wall0:.1f} s last energies per run={last}", flush=True)
        if _STOP["flag"]:
            raise _CpuLimit()

    signal.signal(signal.SIGPROF, _on_cpu_limit)
    signal.setitimer(signal.ITIMER_PROF, args.cpu_limit)
    if args.wall_limit:
        signal.signal(signal.SIGALRM, _on_cpu_limit)
        signal.setitimer(signal.ITIMER_REAL, args.wall_limit)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    capped = False
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = varipeps.optimization.optimize_peps_network(
                unitcell, exp_func, autosave_filename=os.path.join(tmp, "autosave.hdf5"), autosave_func=record)
        except _CpuLimit:
            capped, result = True, None
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0

    if result is not None:
        best = result.best_run if result.best_run is not None else 0
        energies = [float(e) for e in result.step_energies[best]]
        runtimes = [float(t) for t in result.step_runtime[best]]
        chis = [int(c) for c in result.step_chi[best]]
        energy, steps = float(result.fun), int(result.nit)
    else:
        aux = saved.get("aux", {})
        runs = sorted(int(k.rsplit("_", 1)[1]) for k in aux if k.startswith("step_energies_"))
        energies = [float(e) for k in runs for e in aux[f"step_energies_{k}"]]  # all restarts, in order
        runtimes = [float(t) for k in runs for t in aux[f"step_runtime_{k}"]]
        chis = [int(c) for k in runs for c in aux.get(f"step_chi_{k}", [])]
        energy = float(min(energies)) if energies else float("nan")
        steps = len(energies)  # varipeps' own counter may be a label such as "best"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "code": "varipeps", "version": varipeps.__version__, "jax": jax.__version__,
        "ansatz": "two-site checkerboard unit cell [[0,1],[1,0]], unrestricted real tensors",
        "D": args.D, "chi": args.chi, "fixed_chi": args.fixed_chi, "start_chi": start_chi, "seed": args.seed, "energy_per_site": energy, "steps": steps,
        "cpu_s": cpu, "wall_s": wall, "capped": capped, "cpu_limit_s": args.cpu_limit, "wall_limit_s": args.wall_limit,
        "step_wall_s_median": statistics.median(runtimes) if runtimes else None,
        "step_wall_s_first": runtimes[0] if runtimes else None,
        "step_energies": energies, "step_chi": chis, "step_wall_s": runtimes, "peak_rss_mb": peak_mb,
        "loadavg": os.getloadavg(), "xla_flags": os.environ.get("XLA_FLAGS"),
        "ctmrg_convergence_eps": cfg.ctmrg_convergence_eps, "ctmrg_max_steps": cfg.ctmrg_max_steps,
        "ad_custom_convergence_eps": cfg.ad_custom_convergence_eps,
        "preconditioning": cfg.optimizer_use_preconditioning, "converged": result is not None and bool(result.success),
        "message": None if result is None else str(result.message),
    }
    print(f"varipeps {out['version']} (jax {out['jax']}), {out['ansatz']}, D={args.D}, chi={args.chi}")
    print(f"energy per site {energy:.10f} after {steps} steps{' (cap reached: last recorded step)' if capped else ''}")
    print(f"time: {cpu:.1f} s CPU, {wall:.1f} s wall; per step (wall, varipeps' own timer): median "
          f"{out['step_wall_s_median']}, first (with compilation) {out['step_wall_s_first']}")
    print(f"environment chi per step: {sorted(set(chis))}")
    print(f"peak RSS {peak_mb:.0f} MB; load average {out['loadavg']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
