"""Benchmark: Yao's variational circuit written without ``repeat`` (``chain(layer_1, …, layer_d)``).

Each layer is a fresh block object; the compiler folds the identical layers into one loop body
(``qdiff/circuits/fold.py``).  Per depth, in its own subprocess pinned to one thread, reports
process CPU seconds for: building the block tree (user code), the compile plan
(``compile_circuit``), lowering + XLA compilation of ``jax.jit(jax.value_and_grad(expect))``, one
energy+gradient call after compilation, and the peak RSS; and checks energy and gradient against
``variational_circuit(n, depth)`` (the ``repeat`` form) at the same parameters.

Usage:
  python benchmarks/circuits_chain_compile.py                       # n=10, depths 100 and 10,000
  python benchmarks/circuits_chain_compile.py --n 10 --depths 10,100,1000,10000
  python benchmarks/circuits_chain_compile.py --case --n 10 --depth 100   # one case, prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's qdiff, not an installed one

PIN = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1", "OMP_NUM_THREADS": "1"}


def _case(n: int, depth: int) -> dict:
    import resource

    import jax
    import numpy as np

    import qdiff.circuits as qc
    from qdiff.circuits.ansatz import cnot_entangler, ring
    from qdiff.circuits.compile import RepeatStep, compile_circuit

    def rotor(gates):
        return qc.chain(*[qc.put(n, q, qc.chain(*gates)) for q in range(n)])

    t = time.process_time()
    layers = [rotor((qc.Rx, qc.Rz))]
    layers += [qc.chain(cnot_entangler(n, ring(n)), rotor((qc.Rz, qc.Rx, qc.Rz))) for _ in range(depth - 1)]
    c = qc.chain(*layers, cnot_entangler(n, ring(n)), rotor((qc.Rz, qc.Rx)))
    build = time.process_time() - t
    t = time.process_time()
    prog = compile_circuit(c)
    plan = time.process_time() - t
    h = qc.heisenberg(n)
    p = np.asarray(qc.random_params(c, jax.random.PRNGKey(0)))
    f = jax.jit(jax.value_and_grad(lambda x: qc.expect(h, c, x)))
    t = time.process_time()
    compiled = f.lower(p).compile()
    comp = time.process_time() - t
    jax.block_until_ready(compiled(p))
    t = time.process_time()
    e, g = jax.block_until_ready(compiled(p))
    run = time.process_time() - t
    v = qc.variational_circuit(n, depth)
    ev, gv = jax.jit(jax.value_and_grad(lambda x: qc.expect(h, v, x)))(p)
    hlo = sum(1 for line in compiled.as_text().splitlines() if " = " in line)
    return {"n": n, "depth": depth, "nparams": c.nparams, "build_s": build, "plan_s": plan, "compile_s": comp,
            "energy_grad_s": run, "hlo_instructions": hlo,
            "repeats": [s.count for s in prog.steps if isinstance(s, RepeatStep)],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "max_abs_dgrad_vs_repeat_form": float(np.max(np.abs(np.asarray(g) - np.asarray(gv)))),
            "abs_denergy_vs_repeat_form": float(abs(e - ev))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--depths", default="100,10000")
    ap.add_argument("--case", action="store_true", help="run one case in this process (needs --depth)")
    ap.add_argument("--depth", type=int)
    a = ap.parse_args(argv)
    if a.case:
        print(json.dumps(_case(a.n, a.depth)))
        return 0
    rows = []
    for d in [int(x) for x in a.depths.split(",")]:
        env = dict(os.environ, **PIN)
        out = subprocess.run([sys.executable, __file__, "--case", "--n", str(a.n), "--depth", str(d)],
                             env=env, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print("| n | depth | params | build tree (s) | plan (s) | compile E+G (s) | E+G (s) | HLO instr. | peak RSS (MB) "
          "| max Δgrad vs repeat form |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['depth']} | {r['nparams']:,} | {r['build_s']:.3g} | {r['plan_s']:.3g} | "
              f"{r['compile_s']:.3g} | {r['energy_grad_s']:.3g} | {r['hlo_instructions']} | {r['peak_rss_mb']:.0f} | "
              f"{r['max_abs_dgrad_vs_repeat_form']:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
