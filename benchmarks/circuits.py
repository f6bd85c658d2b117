"""Benchmark: energy and full gradient of Yao's variational circuit on the Heisenberg ring.

qdiff (reversible adjoint, jit) against qulacs (``ParametricQuantumCircuit.backprop``) and
PennyLane lightning.qubit (adjoint differentiation through the device API), on the identical
circuit and parameters; energies and gradients are cross-checked.  Every case runs in its own
subprocess with every library pinned to one thread; times are process CPU seconds (median of the
repetitions), compile time is reported separately, memory is the peak RSS of the subprocess.

Usage:
  python benchmarks/circuits.py                 # the full table (minutes)
  python benchmarks/circuits.py --quick         # n=10, depths 10 and 100 only
  python benchmarks/circuits.py --rows 10:1000,10:10000 --no-batch   # chosen rows, peers side by side
  python benchmarks/circuits.py --case qdiff --n 10 --depth 100   # one case, prints JSON
  python benchmarks/circuits.py --kernels xla   # qdiff with its XLA kernels instead of the native ones
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# this checkout's qdiff, not the one an editable install points at (the `--case` subprocesses and a
# direct `python benchmarks/circuits.py --case qdiff` from a second worktree would otherwise both
# import the installed tree)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PIN = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "QULACS_NUM_THREADS": "1"}


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn, reps):
    times = []
    out = None
    for _ in range(reps):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    times.sort()
    return times[len(times) // 2], out


def _params(n, depth, seed=0):
    import numpy as np

    return np.random.default_rng(seed).uniform(0, 2 * np.pi, n * (3 * depth + 1))


def _yao_ops(n, depth):
    """(kind, qubit or (control, target)) in gate order, parameter gates consuming θ in order."""
    ops = []
    for q in range(n):
        ops += [("Rx", q), ("Rz", q)]
    for layer in range(depth):
        ops += [("CNOT", (i, (i + 1) % n)) for i in range(n)]
        kinds = ("Rz", "Rx", "Rz") if layer < depth - 1 else ("Rz", "Rx")
        for q in range(n):
            ops += [(k, q) for k in kinds]
    return ops


def case_qdiff(n, depth, reps, batch=0, out=None):
    import jax
    import jax.numpy as jnp
    import numpy as np

    import qdiff.circuits as qc
    from qdiff.circuits import native

    t = time.process_time()
    circ = qc.variational_circuit(n, depth)
    build = time.process_time() - t
    h = qc.heisenberg(n)
    p = jnp.asarray(_params(n, depth))
    energy = jax.jit(lambda t: qc.expect(h, circ, t))
    vg = jax.jit(jax.value_and_grad(lambda t: qc.expect(h, circ, t)))
    t = time.process_time()
    energy_c = energy.lower(p).compile()
    compile_e = time.process_time() - t
    t = time.process_time()
    vg_c = vg.lower(p).compile()
    compile_g = time.process_time() - t
    te, e = _timed(lambda: jax.block_until_ready(energy_c(p)), reps)
    tg, (e2, g) = _timed(lambda: jax.block_until_ready(vg_c(p)), reps)
    rec = {"code": "qdiff", "n": n, "depth": depth, "nparams": int(circ.nparams), "build_s": build,
           "compile_energy_s": compile_e, "compile_grad_s": compile_g, "energy_s": te, "grad_s": tg,
           "energy": float(e), "kernels": "native" if native.enabled() else "xla"}
    if batch:
        pb = jnp.asarray(np.stack([_params(n, depth, seed=s) for s in range(batch)]))
        vgb = jax.jit(jax.vmap(jax.value_and_grad(lambda t: qc.expect(h, circ, t)))).lower(pb).compile()
        tb, _ = _timed(lambda: jax.block_until_ready(vgb(pb)), reps)
        tl, _ = _timed(lambda: [jax.block_until_ready(vg_c(pb[i])) for i in range(batch)], reps)
        rec.update({"batch": batch, "batch_vmap_s": tb, "batch_loop_s": tl})
    rec["peak_rss_mb"] = _peak_rss_mb()
    if out:
        np.save(out, np.asarray(g))
    return rec


def case_qulacs(n, depth, reps, out=None):
    import numpy as np
    from qulacs import Observable, ParametricQuantumCircuit, QuantumState

    t = time.process_time()
    theta = _params(n, depth)
    circ = ParametricQuantumCircuit(n)
    k = 0
    for kind, q in _yao_ops(n, depth):  # qulacs: qubit 0 = least significant; RX(θ) = exp(+iθX/2)
        if kind == "CNOT":
            circ.add_CNOT_gate(n - 1 - q[0], n - 1 - q[1])
        else:
            getattr(circ, f"add_parametric_R{kind[1].upper()}_gate")(n - 1 - q, -theta[k])
            k += 1
    obs = Observable(n)
    for i in range(n):
        j = (i + 1) % n
        for s in "XYZ":
            obs.add_operator(1.0, f"{s} {n - 1 - i} {s} {n - 1 - j}")
    build = time.process_time() - t

    def energy():
        st = QuantumState(n)
        circ.update_quantum_state(st)
        return obs.get_expectation_value(st)

    te, e = _timed(energy, reps)
    tg, g = _timed(lambda: circ.backprop(obs), reps)
    if out:
        np.save(out, -np.asarray(g))
    return {"code": "qulacs", "n": n, "depth": depth, "build_s": build, "energy_s": te, "grad_s": tg,
            "energy": float(e), "peak_rss_mb": _peak_rss_mb()}


def case_pennylane(n, depth, reps, out=None):
    import numpy as np
    import pennylane as qml
    from pennylane.devices import ExecutionConfig

    t = time.process_time()
    theta = _params(n, depth)
    ops, k = [], 0
    for kind, q in _yao_ops(n, depth):
        if kind == "CNOT":
            ops.append(qml.CNOT(wires=list(q)))
        else:
            ops.append(getattr(qml, kind.upper().replace("RX", "RX").replace("RZ", "RZ"))(theta[k], wires=q))
            k += 1
    ham = qml.sum(*[qml.prod(getattr(qml, f"Pauli{s}")(i), getattr(qml, f"Pauli{s}")((i + 1) % n))
                    for i in range(n) for s in "XYZ"])
    tape = qml.tape.QuantumScript(ops, [qml.expval(ham)], trainable_params=list(range(len(theta))))
    dev = qml.device("lightning.qubit", wires=n)
    config = ExecutionConfig(gradient_method="adjoint")
    build = time.process_time() - t
    te, e = _timed(lambda: dev.execute(tape), reps)
    tg, (e2, g) = _timed(lambda: dev.execute_and_compute_derivatives(tape, config), reps)
    if out:
        np.save(out, np.asarray(g).reshape(-1))
    return {"code": "pennylane-lightning", "n": n, "depth": depth, "build_s": build, "energy_s": te,
            "grad_s": tg, "energy": float(np.asarray(e).reshape(-1)[0]), "peak_rss_mb": _peak_rss_mb()}


CASES = {"qdiff": case_qdiff, "qulacs": case_qulacs, "pennylane": case_pennylane}


def run_case(code, n, depth, reps, batch=0, timeout=1800):
    """Run one case in a pinned subprocess; return its record (with the gradient file path)."""
    fd, gfile = tempfile.mkstemp(suffix=".npy")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--case", code, "--n", str(n), "--depth", str(depth),
           "--reps", str(reps), "--grad-out", gfile] + (["--batch", str(batch)] if batch else [])
    env = dict(os.environ, **PIN)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"code": code, "n": n, "depth": depth, "error": f"timeout after {timeout} s"}
    if res.returncode != 0:
        return {"code": code, "n": n, "depth": depth, "error": res.stderr.strip().splitlines()[-1][:200]}
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    rec["grad_file"] = gfile
    return rec


def _compare(ref, other):
    import numpy as np

    if "error" in ref or "error" in other:
        return None
    g0, g1 = np.load(ref["grad_file"]), np.load(other["grad_file"])
    return {"energy_diff": abs(ref["energy"] - other["energy"]), "grad_max_diff": float(np.max(np.abs(g0 - g1)))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES))
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--grad-out")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peers", default="qulacs,pennylane", help="comma-separated peers to run (default both)")
    ap.add_argument("--rows", help="comma-separated n:depth rows to run instead of the default plan")
    ap.add_argument("--no-batch", action="store_true", help="skip the batch-of-32 case")
    ap.add_argument("--json-out", help="write all records to this file")
    ap.add_argument("--kernels", choices=("native", "xla"),
                    help="qdiff's rotor kernels: sets QDIFF_NATIVE=on or off (default: the environment's, auto)")
    args = ap.parse_args(argv)
    if args.kernels:
        os.environ["QDIFF_NATIVE"] = "on" if args.kernels == "native" else "off"
    if args.case:
        fn = CASES[args.case]
        kw = {"batch": args.batch} if args.case == "qdiff" else {}
        print(json.dumps(fn(args.n, args.depth, args.reps, out=args.grad_out, **kw)))
        return 0
    peers = [p for p in args.peers.split(",") if p]
    plan = [(10, d) for d in ((10, 100) if args.quick else (10, 100, 1000, 10000))]
    if not args.quick:
        plan += [(n, 100) for n in (12, 14, 16, 18, 20)]
    if args.rows:
        plan = [tuple(int(v) for v in r.split(":")) for r in args.rows.split(",")]
    records = []
    for n, depth in plan:
        reps = 3 if depth <= 1000 and n <= 16 else 1
        row = {"q": run_case("qdiff", n, depth, reps)}
        for peer in peers:
            row[peer] = run_case(peer, n, depth, reps)
            row[peer]["check"] = _compare(row["q"], row[peer])
        records.append(row)
        print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "grad_file"} for k, v in row.items()}),
              flush=True)
    if not args.no_batch:
        batch = run_case("qdiff", 10, 100, 3, batch=32)
        records.append({"batch": batch})
        print(json.dumps({"batch": batch}), flush=True)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(records, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
