"""varipeps side by side: Heisenberg antiferromagnet on the square lattice, D = 2, χ = 16.

Runs varipeps' standard square-lattice Heisenberg setup (its example ``heisenberg_afm_square``:
two-site checkerboard unit cell ``[[0, 1], [1, 0]]`` of *unrestricted* real tensors, nearest-neighbour
gates ``S·S`` on horizontal and vertical bonds, its example's CTMRG/AD convergence settings, default
L-BFGS optimiser with its default convergence criterion) from a random start, pinned to one thread.
By default χ follows the example's scheme (start at D², varipeps' heuristics move it up to ``--chi``);
``--fixed-chi`` holds it at ``--chi`` as in qdiff's case. The CTMRG step cap is raised to 300
(``--ctmrg-max-steps``): states met early in this optimisation need ~110-130 sweeps. Records:
energy per site, process CPU and wall time to convergence, the per-step wall times varipeps records
(median, and the first step, which contains the JIT compilation; in a run that varipeps restarted with
noise this list also holds attempts that recorded no energy, so the ``[step]`` lines, which print the CPU
time at each recorded step, are the better per-step figure), χ per step, the number of steps, and peak RSS. varipeps runs in a child process of this script; the parent watches the child's CPU time
(``/proc/<pid>/stat``) and kills it once it passes ``--cpu-limit`` seconds of CPU (default 600) or
``--wall-limit`` seconds of wall time, whether or not varipeps has recorded a step (a stalled CTMRG or
gradient solve records none). A capped run reports what the child had recorded by then (the steps, or
none) and the child's CPU time and peak RSS from ``os.wait4``.

varipeps versions: 1.4.x and 1.5.0 have the same config fields and optimiser entry point, so the script
runs unchanged on both (the JSON records the version and jax version). They differ in the CTMRG: 1.4.x
fixes the phase (sign) of each new corner/edge tensor by its first element above ``svd_sign_fix_eps``
times the largest; 1.5.0 by the overlap with the tensor of the previous sweep.

This script must run in varipeps' own environment (varipeps 1.5.0 pins ``jax<0.9.1``, which clashes
with qdiff's jax); it does not import qdiff.  Setup::

    python3 -m venv /work/venvs/varipeps && /work/venvs/varipeps/bin/pip install varipeps
    /work/venvs/varipeps/bin/python benchmarks/tensornet_varipeps.py [--chi 16] [--D 2] [--json out.json]

or, for varipeps 1.4.2 with the lowest jax it accepts::

    python3 -m venv /work/venvs/varipeps14 && /work/venvs/varipeps14/bin/pip install varipeps==1.4.2 "jax[cpu]==0.8.1"

qdiff's side of the comparison is ``python benchmarks/tensornet.py ipeps`` (case ``d2``).
Without varipeps installed the script prints a message and exits with status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

_POLL_S = 2.0  # how often the parent looks at the child's CPU time


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--D", type=int, default=2, help="iPEPS bond dimension")
    parser.add_argument("--chi", type=int, default=16,
                        help="largest environment bond dimension (varipeps' max_chi; the fixed chi with --fixed-chi)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu-limit", type=float, default=600.0,
                        help="kill the varipeps process after this many CPU seconds (its whole process)")
    parser.add_argument("--wall-limit", type=float, default=None,
                        help="kill it after this many wall-clock seconds as well (for a loaded machine)")
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
    parser.add_argument("--optimizer", choices=("default", "cg", "lbfgs", "bfgs"), default="default",
                        help="varipeps' optimiser: 'default' keeps the installed version's own default (L-BFGS "
                             "in 1.4-1.5, BFGS in 1.2-1.3); its heisenberg_afm_square example selects 'cg'")
    parser.add_argument("--iterative-gradient", action="store_true",
                        help="varipeps' ITERATIVE fixed-point gradient (at most 100 iterations) instead of its "
                             "default GMRES solve")
    parser.add_argument("--verbose", action="store_true",
                        help="print varipeps' CTMRG / gradient sweeps (every recorded optimiser step is printed anyway)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: progress file of the child
    return parser


def _write_json(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (the parent may read it at any moment)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:  # varipeps' step records are lists of JAX scalars
        json.dump(data, fh, default=lambda obj: obj.tolist() if hasattr(obj, "tolist") else str(obj))
    os.replace(tmp, path)


def _read_json(path: str) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a running process, from ``/proc/<pid>/stat`` (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _steps_from_aux(aux: dict) -> tuple[list, list, list]:
    """Energies, wall times and χ of every step varipeps recorded, all restarts in order."""
    runs = sorted(int(k.rsplit("_", 1)[1]) for k in aux if k.startswith("step_energies_"))
    energies = [float(e) for k in runs for e in aux[f"step_energies_{k}"]]
    runtimes = [float(t) for k in runs for t in aux[f"step_runtime_{k}"]]
    chis = [int(c) for k in runs for c in aux.get(f"step_chi_{k}", [])]
    return energies, runtimes, chis


def _child(args: argparse.Namespace) -> None:
    """Run varipeps' optimisation; report progress and the result through the file ``args.child``."""
    progress = args.child
    if args.fast_compile:  # must happen before jax is imported
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_use_fusion_emitters=false"
                                   " --xla_backend_optimization_level=1").strip()
    try:
        import jax
        import jax.numpy as jnp
        import varipeps
    except ImportError as exc:
        _write_json(progress, {"skipped": f"varipeps is not installed in this environment ({exc})"})
        return

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
    for flag, field in (("no_preconditioning", "optimizer_use_preconditioning"),
                        ("iterative_gradient", "ad_custom_fixed_point_method")):
        if getattr(args, flag) and not hasattr(cfg, field):  # both came with varipeps 1.4
            raise SystemExit(f"--{flag.replace('_', '-')}: varipeps {varipeps.__version__} has no config "
                             f"field {field} (added in 1.4); its behaviour is fixed in this version")
    if args.no_preconditioning:
        cfg.optimizer_use_preconditioning = False
    if args.optimizer != "default":
        methods = varipeps.config.Optimizing_Methods
        cfg.optimizer_method = {"cg": methods.CG, "lbfgs": methods.L_BFGS, "bfgs": methods.BFGS}[args.optimizer]
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
    info = {
        "version": varipeps.__version__, "jax": jax.__version__, "start_chi": start_chi,
        "ctmrg_convergence_eps": cfg.ctmrg_convergence_eps, "ctmrg_max_steps": cfg.ctmrg_max_steps,
        "ad_custom_convergence_eps": cfg.ad_custom_convergence_eps,
        # before 1.4 there was no preconditioning and only the iterative fixed-point gradient
        "preconditioning": getattr(cfg, "optimizer_use_preconditioning", False),
        "gradient_method": (cfg.ad_custom_fixed_point_method.name if hasattr(cfg, "ad_custom_fixed_point_method")
                            else "ITERATIVE (the only method before 1.4)"),
        "optimizer": cfg.optimizer_method.name,
    }
    cpu0, wall0, unix0 = time.process_time(), time.perf_counter(), time.time()
    state = {"info": info, "cpu0": cpu0, "unix0": unix0, "aux": {}}
    _write_json(progress, state)

    def record(filename, tensors, unitcell, counter=None, auxiliary_data=None, **kwargs):
        state["aux"] = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in (auxiliary_data or {}).items()}
        state["cpu_s"], state["wall_s"] = time.process_time() - cpu0, time.perf_counter() - wall0
        _write_json(progress, state)
        # one line per step: varipeps' tqdm bar is silent when not on a terminal
        energies, _, chis = _steps_from_aux(state["aux"])
        print(f"[step] counter={counter} cpu={state['cpu_s']:.1f} s wall={state['wall_s']:.1f} s "
              f"steps={len(energies)} last energy={energies[-1:]} chi={chis[-1:]}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        result = varipeps.optimization.optimize_peps_network(
            unitcell, exp_func, autosave_filename=os.path.join(tmp, "autosave.hdf5"), autosave_func=record)
    state["cpu_s"], state["wall_s"] = time.process_time() - cpu0, time.perf_counter() - wall0
    best = result.best_run if result.best_run is not None else 0
    state["result"] = {
        "energy_per_site": float(result.fun), "steps": int(result.nit),
        "step_energies": [float(e) for e in result.step_energies[best]],
        "step_wall_s": [float(t) for t in result.step_runtime[best]],
        "step_chi": [int(c) for c in result.step_chi[best]],
        "converged": bool(result.success), "message": str(result.message),
    }
    _write_json(progress, state)


def _run_child(argv: list[str], args: argparse.Namespace, progress: str) -> tuple[str | None, int, object, float]:
    """Start the child, kill it at the CPU or wall limit.

    Returns:
        (limit that stopped it or None, exit code (negative: killed by that signal), its rusage, unix time at the end)
    """
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv, "--child", progress])
    wall0, stopped = time.perf_counter(), None
    try:
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                return stopped, os.waitstatus_to_exitcode(status), usage, time.time()
            cpu = _proc_cpu_s(child.pid)
            if stopped is None and cpu is not None and cpu > args.cpu_limit:
                stopped = "cpu-limit"
            elif stopped is None and args.wall_limit and time.perf_counter() - wall0 > args.wall_limit:
                stopped = "wall-limit"
            if stopped:
                end = time.time()
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                return stopped, os.waitstatus_to_exitcode(status), usage, end
            time.sleep(_POLL_S)
    except BaseException:  # Ctrl-C etc.: never leave the child running
        child.kill()
        child.wait()
        raise


def main(argv=None) -> dict | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.child:
        _child(args)
        return None

    with tempfile.TemporaryDirectory() as tmp:
        progress = os.path.join(tmp, "progress.json")
        stopped, status, usage, end = _run_child(argv, args, progress)
        state = _read_json(progress)
    if "skipped" in state:
        print(f"{state['skipped']}; skipping. Create its own venv: python3 -m venv /work/venvs/varipeps && "
              "/work/venvs/varipeps/bin/pip install varipeps")
        return None
    child_cpu = usage.ru_utime + usage.ru_stime  # the whole child process, imports included
    peak_mb = usage.ru_maxrss / 1024
    info, result = state.get("info", {}), state.get("result")
    if result is not None:
        energies, runtimes, chis = result["step_energies"], result["step_wall_s"], result["step_chi"]
        energy, steps = result["energy_per_site"], result["steps"]
        cpu, wall = state["cpu_s"], state["wall_s"]
    else:  # killed at a limit, or crashed: what the child had recorded
        energies, runtimes, chis = _steps_from_aux(state.get("aux", {}))
        energy = float(min(energies)) if energies else float("nan")
        steps = len(energies)  # varipeps' own counter may be a label such as "best"
        cpu = child_cpu - state["cpu0"] if "cpu0" in state else child_cpu
        wall = end - state["unix0"] if "unix0" in state else float("nan")
    out = {
        "code": "varipeps", "version": info.get("version"), "jax": info.get("jax"),
        "ansatz": "two-site checkerboard unit cell [[0,1],[1,0]], unrestricted real tensors",
        "D": args.D, "chi": args.chi, "fixed_chi": args.fixed_chi, "start_chi": info.get("start_chi"),
        "seed": args.seed, "energy_per_site": energy, "steps": steps,
        "cpu_s": cpu, "wall_s": wall, "child_cpu_s_total": child_cpu,
        "capped": stopped is not None, "stopped_by": stopped, "child_exit_status": status,
        "cpu_limit_s": args.cpu_limit, "wall_limit_s": args.wall_limit,
        "step_wall_s_median": statistics.median(runtimes) if runtimes else None,
        "step_wall_s_first": runtimes[0] if runtimes else None,
        "step_energies": energies, "step_chi": chis, "step_wall_s": runtimes, "peak_rss_mb": peak_mb,
        "loadavg": os.getloadavg(), "xla_flags": os.environ.get("XLA_FLAGS"),
        **{k: info.get(k) for k in ("ctmrg_convergence_eps", "ctmrg_max_steps", "ad_custom_convergence_eps",
                                    "preconditioning", "gradient_method", "optimizer")},
        "converged": result is not None and result["converged"],
        "message": None if result is None else result["message"],
    }
    print(f"varipeps {out['version']} (jax {out['jax']}), {out['ansatz']}, D={args.D}, chi={args.chi}")
    if stopped:
        print(f"stopped at the {stopped} ({args.cpu_limit if stopped == 'cpu-limit' else args.wall_limit} s); "
              f"{steps} steps recorded by then")
    elif result is None:
        print(f"the varipeps process ended without a result (exit status {status})")
    else:
        print(f"varipeps: {out['message']} (success = {out['converged']})")
    print(f"energy per site {energy:.10f} after {steps} steps")
    print(f"time: {cpu:.1f} s CPU, {wall:.1f} s wall from the optimiser's start ({child_cpu:.1f} s CPU for the "
          f"whole process); per step (wall, varipeps' own timer): median {out['step_wall_s_median']}, "
          f"first (with compilation) {out['step_wall_s_first']}")
    print(f"environment chi per step: {sorted(set(chis))}")
    print(f"peak RSS {peak_mb:.0f} MB; load average {out['loadavg']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
