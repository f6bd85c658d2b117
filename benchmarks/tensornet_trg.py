"""TRG benchmark: accuracy against Onsager and timings of ln Z / energy / specific heat.

For each β in (0.3, 0.6, 0.44, βc) and the chosen χ, ``trg_observables`` (ln Z per
site, energy = -∂lnZ/∂β and specific heat = β²∂²lnZ/∂β² by AD) is compared with
Onsager's exact values.  Compile time is measured separately (process CPU time, XLA
pinned to one thread; the first row's CPU time includes the jit compilation again), and the compile time of ``trg_lnz`` is measured
for two step counts to show it does not depend on the number of steps.

Run:  XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
      python benchmarks/tensornet_trg.py [--chi 24] [--steps 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's qdiff, not an installed one

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _compile_time(fn, *args, **kwargs) -> dict:
    """CPU seconds to trace+lower and to XLA-compile ``fn`` (a fresh ``jit``), and the StableHLO size."""
    import jax

    t0 = time.process_time()
    lowered = jax.jit(fn, static_argnames=tuple(kwargs)).lower(*args, **kwargs)
    t1 = time.process_time()
    lowered.compile()
    t2 = time.process_time()
    return {"lower_s": t1 - t0, "compile_s": t2 - t1, "total_s": t2 - t0, "hlo_lines": lowered.as_text().count("\n")}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="TRG accuracy vs Onsager and timings")
    parser.add_argument("--chi", type=int, default=24)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)

    import jax.numpy as jnp

    import qdiff  # noqa: F401
    from qdiff.tensornet.onsager import BETA_C, onsager_energy, onsager_lnz, onsager_specific_heat
    from qdiff.tensornet.trg import _observables, _trg_lnz, trg_observables

    one = jnp.float64(1.0)
    zero = jnp.float64(0.0)
    compile_obs = {s: _compile_time(_observables.__wrapped__, jnp.float64(0.3), one, zero,
                                    chi=args.chi, steps=s, svd="qdiff") for s in (20, 40)}
    compile_lnz = {s: _compile_time(_trg_lnz.__wrapped__, jnp.float64(0.3), one, zero, chi=args.chi, steps=s,
                                    svd="qdiff") for s in (20, 40)}

    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = []
    for name, beta in (("0.3", 0.3), ("0.6", 0.6), ("0.44", 0.44), ("beta_c", BETA_C)):
        t0 = time.process_time()
        obs = {k: float(v) for k, v in trg_observables(beta, chi=args.chi, steps=args.steps).items()}
        cpu = time.process_time() - t0
        exact = {"lnz": onsager_lnz(beta), "energy": onsager_energy(beta),
                 "specific_heat": onsager_specific_heat(beta)}
        rel = {k: abs(obs[k] - exact[k]) / abs(exact[k]) for k in obs}
        rows.append({"beta": name, "value": beta, "trg": obs, "exact": exact, "rel": rel, "cpu_s": cpu})
        print(f"beta={name:>6}  lnZ {obs['lnz']:.12f} (rel {rel['lnz']:.1e})  "
              f"u {obs['energy']:.10f} (rel {rel['energy']:.1e})  "
              f"c {obs['specific_heat']:.6f} vs {exact['specific_heat']:.6f} (rel {rel['specific_heat']:.1e})  "
              f"{cpu:.1f} s CPU", flush=True)
    native = {k: float(v) for k, v in trg_observables(0.3, chi=args.chi, steps=args.steps, svd="jax").items()}
    for name, res in (("trg_observables", compile_obs), ("trg_lnz", compile_lnz)):
        for s, c in res.items():
            print(f"compile {name}, {s} steps: {c['total_s']:.2f} s CPU (trace+lower {c['lower_s']:.2f} s, "
                  f"XLA {c['compile_s']:.2f} s), {c['hlo_lines']} StableHLO lines")
    print(f"jnp.linalg.svd derivatives at beta=0.3: energy {native['energy']}, "
          f"specific heat {native['specific_heat']}")
    print("near beta_c a finite chi cannot resolve the logarithmic divergence of the specific heat")
    result = {"chi": args.chi, "steps": args.steps, "rows": rows, "compile_observables_s": compile_obs,
              "compile_lnz_s": compile_lnz, "native_svd": native, "loadavg_end": os.getloadavg()}
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
