"""C4v iPEPS benchmarks (Heisenberg AFM): time to the published optimum, gradient cost, memory, compile.

Run: ``python benchmarks/tensornet.py ipeps [--cases d2,grad,mem,compile,d3]``.  Each case runs in
its own process with XLA and BLAS pinned to one thread; times are process CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

PUBLISHED = {2: -0.6602310935, 3: -0.6681274}  # C4v optima (Liao et al. PRX 2019 / C4v literature)
QMC = -0.669437  # Sandvik 1997
_ENV = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def case_d2(seed=0, chi=16, steps=120, adjoint_method="iterate"):
    """Random start → published D=2 value; CPU time to |E − E_pub| < 1e-6 including compilation."""
    import qdiff  # noqa: F401
    from qdiff.tensornet import optimize_ipeps

    t0 = time.process_time()
    hit = {}

    def cb(info):
        if "t" not in hit and abs(info["energy"] - PUBLISHED[2]) < 1e-6:
            hit["t"], hit["step"] = time.process_time() - t0, info["step"]

    r = optimize_ipeps("heisenberg", 2, chi, key=seed, steps=steps, callback=cb, ctm_adjoint_method=adjoint_method)
    return {"case": "d2", "chi": chi, "seed": seed, "adjoint_method": adjoint_method, "energy": r.energy, "error": r.energy - PUBLISHED[2],
            "cpu_to_1e-6": hit.get("t"), "steps_to_1e-6": hit.get("step"), "steps": r.steps,
            "evaluations": r.evaluations, "cpu_total": time.process_time() - t0, "peak_mb": _peak_mb()}


def _d2_tensor(chi=16):
    from qdiff.tensornet import optimize_ipeps

    return optimize_ipeps("heisenberg", 2, chi, key=0, steps=120).A


def case_d3(chi=27, steps=400, noise=0.1, key=2, refine_chi=0, refine_steps=0, eval_chis=(27, 54),
            out="benchmarks/out"):
    """D=3 seeded from the optimised D=2 tensor padded with C4v noise, optionally refined at a larger χ.

    Stage 1 optimises at ``chi`` with a fresh CTMRG start per evaluation; stage 2 (``refine_chi > 0``)
    continues from the stage-1 tensor at ``refine_chi`` with warm starts (CTMRG needs ~100 steps from
    scratch at D=3).  Both stages checkpoint under ``out`` and resume.  The final tensor is evaluated
    at every χ in ``eval_chis`` (the same 2×1 energy patch as the optimisation).
    """
    import jax
    import numpy as np

    import qdiff  # noqa: F401
    from qdiff.tensornet import evaluate_ipeps, optimize_ipeps, pad_tensor

    os.makedirs(out, exist_ok=True)
    A2 = _d2_tensor()
    A3 = pad_tensor(A2, 3, key=jax.random.PRNGKey(key), noise=noise)
    t0 = time.process_time()
    r = optimize_ipeps("heisenberg", 3, chi, A0=A3, steps=steps, ctm_max_iter=300, gtol=1e-6,
                       checkpoint=os.path.join(out, f"d3_key{key}_noise{noise}_chi{chi}.npz"))
    stages = [{"chi": chi, "energy": r.energy, "steps": r.steps, "evaluations": r.evaluations, "stopped": r.stopped,
               "grad_norm": r.grad_norm}]
    if refine_chi:
        r = optimize_ipeps("heisenberg", 3, refine_chi, A0=r.A, steps=refine_steps, ctm_max_iter=300, gtol=1e-6,
                           env_start="previous",
                           checkpoint=os.path.join(out, f"d3_key{key}_noise{noise}_chi{chi}_to{refine_chi}.npz"))
        stages.append({"chi": refine_chi, "energy": r.energy, "steps": r.steps, "evaluations": r.evaluations,
                       "stopped": r.stopped, "grad_norm": r.grad_norm})
    t = time.process_time() - t0
    np.save(os.path.join(out, "d3_final.npy"), r.A)
    evals = {}
    for c in eval_chis:
        ev = evaluate_ipeps(r.A, "heisenberg", int(c), correlation=False, tol=1e-11, max_iter=500)
        evals[int(c)] = {"energy": ev["energy"], "error": ev["energy"] - PUBLISHED[3],
                         "magnetization": ev["magnetization"], "truncation": ev["truncation"]}
    return {"case": "d3", "stages": stages, "evaluated": evals, "cpu_total": t, "peak_mb": _peak_mb()}


def case_grad(D=3, chi=27, repeats=5):
    """One energy + gradient at (D, χ): cold start (environment from the tensor) and warm start."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import qdiff  # noqa: F401
    from qdiff.tensornet import pad_tensor
    from qdiff.tensornet.ipeps import double_layer, initial_env, symmetrize
    from qdiff.tensornet.ipeps_optimize import _energy_value_and_grad
    from qdiff.tensornet.models import heisenberg

    A = pad_tensor(_d2_tensor(), D, key=jax.random.PRNGKey(1), noise=1e-2) if D > 2 else _d2_tensor()
    h = jnp.asarray(heisenberg().h_nn)
    statics = {"shape": tuple(A.shape), "chi": chi, "tol": 1e-10, "max_iter": 100}
    env0 = initial_env(double_layer(symmetrize(A)), chi)
    x = jnp.asarray(A).ravel()
    t = time.process_time()
    (e, (env, info)), g = _energy_value_and_grad(x, env0.C, env0.T, h, None, **statics)
    g.block_until_ready()
    first = time.process_time() - t
    cold, warm = [], []
    for _ in range(repeats):
        t = time.process_time()
        (e, (_, info_c)), g = _energy_value_and_grad(x, env0.C, env0.T, h, None, **statics)
        g.block_until_ready()
        cold.append(time.process_time() - t)
        t = time.process_time()
        (e, (_, info_w)), g = _energy_value_and_grad(x, env.C, env.T, h, None, **statics)
        g.block_until_ready()
        warm.append(time.process_time() - t)
    return {"case": "grad", "D": D, "chi": chi, "first_call_cpu": first, "cold_cpu": float(np.median(cold)),
            "cold_ctm_iterations": int(info_c.iterations), "warm_cpu": float(np.median(warm)),
            "warm_ctm_iterations": int(info_w.iterations), "peak_mb": _peak_mb()}


def case_mem(D=3, chi=36, gradient="fixed_point", steps=0, tol=1e-10):
    """Peak RSS of one energy + gradient (fresh process)."""
    import jax
    import jax.numpy as jnp

    import qdiff  # noqa: F401
    from qdiff.tensornet import ctmrg_info, energy_per_site, heisenberg, random_tensor
    from qdiff.tensornet.compile_options import compiler_options
    from qdiff.tensornet.ipeps import double_layer, symmetrize

    A = random_tensor(jax.random.PRNGKey(0), 2, D)
    options = {"gradient": gradient, "tol": tol, "max_iter": 200}
    if gradient == "unrolled":
        options["steps"] = steps

    def energy(A):
        As = symmetrize(A)
        env, info = ctmrg_info(double_layer(As), chi, **options)
        return energy_per_site(As, env, heisenberg()), info.iterations

    before = _peak_mb()
    t = time.process_time()
    # compiled like the library's own entry points (qdiff.tensornet.compile_options)
    (e, it), g = jax.jit(jax.value_and_grad(energy, has_aux=True), compiler_options=compiler_options())(A)
    g.block_until_ready()
    return {"case": "mem", "D": D, "chi": chi, "gradient": gradient, "tol": tol, "steps": steps or int(it),
            "cpu": time.process_time() - t, "peak_mb": _peak_mb(), "baseline_mb": before}


def case_compile(D=2, chi=16, max_iter=100):
    """Compile time of the jitted energy + gradient for a given CTMRG step limit."""
    import jax
    import jax.numpy as jnp

    import qdiff  # noqa: F401
    from qdiff.tensornet import random_tensor
    from qdiff.tensornet.ipeps import double_layer, initial_env
    from qdiff.tensornet.ipeps_optimize import _energy_value_and_grad
    from qdiff.tensornet.models import heisenberg

    A = random_tensor(jax.random.PRNGKey(0), 2, D)
    env0 = initial_env(double_layer(A), chi)
    args = (A.ravel(), env0.C, env0.T, jnp.asarray(heisenberg().h_nn), None)
    t = time.process_time()
    _energy_value_and_grad.lower(*args, shape=A.shape, chi=chi, tol=1e-10, max_iter=max_iter).compile()
    return {"case": "compile", "D": D, "chi": chi, "max_iter": max_iter, "compile_cpu": time.process_time() - t}


CASES = {"d2": case_d2, "d3": case_d3, "grad": case_grad, "mem": case_mem, "compile": case_compile}


def _run_child(name, kwargs):
    env = {**os.environ, **_ENV}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, json.dumps(kwargs)],
                         capture_output=True, text=True, env=env, cwd=root)
    if out.returncode != 0:
        return {"case": name, "error_message": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="tensornet.py ipeps")
    p.add_argument("--cases", default="compile,grad,mem,d2,d3")
    p.add_argument("--d3", default="{}", help='JSON keyword arguments of the d3 case, e.g. \'{"refine_chi": 54}\'')
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        name, kwargs = args.child[0], json.loads(args.child[1])
        print(json.dumps(CASES[name](**kwargs)))
        return 0
    plan = []
    for name in args.cases.split(","):
        if name == "compile":
            plan += [("compile", {"max_iter": 50}), ("compile", {"max_iter": 500})]
        elif name == "mem":
            plan += [("mem", {}), ("mem", {"tol": 1e-6}), ("mem", {"gradient": "unrolled", "steps": 20}),
                     ("mem", {"gradient": "unrolled", "steps": 60})]
        elif name == "d3":
            plan.append((name, json.loads(args.d3)))
        else:
            plan.append((name, {}))
    print(f"# C4v iPEPS benchmarks — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{platform.machine()}, python {platform.python_version()}; one thread, process CPU seconds")
    results = []
    for name, kwargs in plan:
        r = _run_child(name, kwargs)
        results.append(r)
        print(json.dumps(r))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
