"""Benchmark: why a vmap-ed batch of n=10 gradients is barely faster than a loop of single ones.

Three measurements, each in this one process, variants alternated, one thread, process CPU seconds
(minimum and median over ``--reps`` calls after a warm-up call):

* ``kernels``: ``--layers`` rotor layers of one-qubit kernels (qdiff's ``lead_apply``: apply a 2×2
  unitary to the leading qubit and move it to the end, the forward and backward kernel below 16
  qubits) on a batch of ``--batch`` states with different unitaries per state, in the layouts a
  batching rule could use: every state alone (``lax.map``, what qdiff does now), the batch axis
  leading (what ``jax.vmap`` of the kernels gives), the batch axis innermost (complex, and real and
  imaginary planes), and 3-qubit blocks as batched 8×8 complex products.  Printed as ns per
  amplitude per qubit step, next to one state alone at 4 to 12 qubits.
* ``floor``: the single value-and-gradient of ``expect`` (Heisenberg ring, ``variational_circuit``)
  at ``--depth`` for 4 to 10 qubits: the part that does not scale with 2**n is what batching could
  save at most.
* ``rules``: the vmap-ed value-and-gradient of a batch at n=10 against a loop of single calls, with
  the batching rule of the adjoint replaced for the measurement (``qdiff.circuits.simulate``'s
  ``_one_at_a_time``): one state at a time (the library's rule), ``lax.map`` chunks of 2, 4 and 8
  states (vmap inside each chunk), and no rule (plain ``jax.vmap`` through the kernels).  Compile
  times are printed too.

Usage:
  python benchmarks/circuits_batch.py                 # all three parts (≈ 1 min)
  python benchmarks/circuits_batch.py --part rules --batch 32 --depth 100
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _timed(fn, reps):
    import jax

    jax.block_until_ready(fn())
    ts = []
    for _ in range(reps):
        t = time.process_time()
        jax.block_until_ready(fn())
        ts.append(time.process_time() - t)
    ts.sort()
    return ts[0], ts[len(ts) // 2]


def _round_robin(fns: dict, reps: int) -> dict:
    """{name: (min, median)} of each zero-argument function, called in turn ``reps`` times."""
    import jax

    times = {k: [] for k in fns}
    for f in fns.values():
        jax.block_until_ready(f())
    for _ in range(reps):
        for k, f in fns.items():
            t = time.process_time()
            jax.block_until_ready(f())
            times[k].append(time.process_time() - t)
    return {k: (min(v), sorted(v)[len(v) // 2]) for k, v in times.items()}


def part_kernels(n: int, batch: int, layers: int, reps: int):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    import qdiff  # noqa: F401  (float64)
    from qdiff.circuits.rotor import lead_apply

    nn, b = 1 << n, batch
    rng = np.random.default_rng(0)
    us = jnp.asarray(rng.normal(size=(layers, n, b, 2, 2)) + 1j * rng.normal(size=(layers, n, b, 2, 2)))
    k8 = jnp.asarray(rng.normal(size=(layers, 3, b, 8, 8)) + 1j * rng.normal(size=(layers, 3, b, 8, 8)))
    x = jnp.asarray(rng.normal(size=(b, nn)) + 1j * rng.normal(size=(b, nn)))

    def layers_of(step, x0, u):
        def body(x, ul):
            for q in range(n):
                x = step(x, ul[q])
            return x, None
        return lax.scan(body, x0, u)[0]

    def one_state(x1, u1):  # x1 (1, N), u1 (layers, n, 2, 2)
        return layers_of(lead_apply, x1, u1)

    def trailing(x, u):  # x (N, B), u (B, 2, 2)
        v = x.reshape(2, -1, b)
        a, c = v[0], v[1]
        return jnp.stack([u[:, 0, 0] * a + u[:, 0, 1] * c, u[:, 1, 0] * a + u[:, 1, 1] * c], 1).reshape(nn, b)

    def trailing_real(x, u):  # x (2, N, B) real and imaginary planes
        ur, ui = jnp.real(u), jnp.imag(u)
        v = x.reshape(2, 2, -1, b)
        ar, cr, ai, ci = v[0, 0], v[0, 1], v[1, 0], v[1, 1]
        rows = []
        for r in range(2):
            re = ur[:, r, 0] * ar - ui[:, r, 0] * ai + ur[:, r, 1] * cr - ui[:, r, 1] * ci
            im = ur[:, r, 0] * ai + ui[:, r, 0] * ar + ur[:, r, 1] * ci + ui[:, r, 1] * cr
            rows.append((re, im))
        re = jnp.stack([rows[0][0], rows[1][0]], 1).reshape(nn, b)
        im = jnp.stack([rows[0][1], rows[1][1]], 1).reshape(nn, b)
        return jnp.stack([re, im])

    def blocks(x, kl):  # x (B, N), kl (3, B, 8, 8): three 3-qubit blocks and the last qubit
        for j in range(3):
            x = jnp.einsum("bac,bcr->bra", kl[j], x.reshape(b, 8, -1)).reshape(b, -1)
        return x

    fns = {
        "one state at a time (lax.map)": (jax.jit(lambda x, u: lax.map(
            lambda a: one_state(a[0][None], a[1])[0], (x, jnp.moveaxis(u, 2, 0)))), (x, us)),
        "batch axis leading (vmap)": (jax.jit(lambda x, u: layers_of(jax.vmap(lead_apply), x, u)), (x, us)),
        "batch axis innermost, complex": (jax.jit(lambda x, u: layers_of(trailing, x, u)), (x.T, us)),
        "batch axis innermost, real planes": (jax.jit(lambda x, u: layers_of(trailing_real, x, u)),
                                              (jnp.stack([jnp.real(x.T), jnp.imag(x.T)]), us)),
        "3-qubit blocks, batched 8x8 dots (9 of 10 qubits)": (
            jax.jit(lambda x, k: lax.scan(lambda x, kl: (blocks(x, kl), None), x, k)[0]), (x, k8)),
    }
    compiled = {k: f.lower(*a).compile() for k, (f, a) in fns.items()}
    res = _round_robin({k: (lambda c=c, a=fns[k][1]: c(*a)) for k, c in compiled.items()}, reps)
    steps = {k: (9 if "blocks" in k else n) for k in res}
    print(f"kernels: n={n}, batch {b}, {layers} layers; ns per amplitude per qubit step (min / median)")
    for k, (lo, med) in res.items():
        d = layers * steps[k] * nn * b
        print(f"  {k:52s} {lo / d * 1e9:6.3f} / {med / d * 1e9:6.3f}")
    print("  one state alone, by qubit count:")
    for m in (4, 6, 8, 10, 12):
        x1 = jnp.ones((1, 1 << m), jnp.complex128)
        u1 = jnp.asarray(rng.normal(size=(layers, m, 2, 2)) + 0j)
        c = jax.jit(lambda x, u, m=m: lax.scan(
            lambda x, ul: (_seq(lead_apply, x, ul, m), None), x, u)[0]).lower(x1, u1).compile()
        lo, med = _timed(lambda: c(x1, u1), reps)
        d = layers * m * (1 << m)
        print(f"    n={m:2d}: {lo / d * 1e9:6.3f} / {med / d * 1e9:6.3f} ns per amplitude, "
              f"{lo / (layers * m) * 1e6:6.3f} µs per kernel")


def _seq(step, x, ul, m):
    for q in range(m):
        x = step(x, ul[q])
    return x


def _circuit_vg(n, depth):
    import jax

    import qdiff.circuits as qc

    circ = qc.variational_circuit(n, depth)
    h = qc.heisenberg(n)
    return circ, jax.value_and_grad(lambda t: qc.expect(h, circ, t))


def part_floor(depth: int, reps: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    print(f"floor: single value-and-gradient at depth {depth} (min / median, ms; µs per layer)")
    for n in (4, 6, 8, 10):
        circ, vg = _circuit_vg(n, depth)
        p = jnp.asarray(np.random.default_rng(0).uniform(0, 2 * np.pi, circ.nparams))
        c = jax.jit(vg).lower(p).compile()
        lo, med = _timed(lambda: c(p), reps)
        print(f"  n={n:2d}: {lo * 1e3:7.3f} / {med * 1e3:7.3f} ms ({lo / depth * 1e6:6.1f} µs per layer)")


def _rule(chunk, original):
    """A replacement for ``simulate._one_at_a_time`` (passed as ``original``): its ``lax.map`` in chunks
    of ``chunk`` states, or no rule at all (``chunk=0``: plain vmap)."""
    return lambda fn: fn if chunk == 0 else original(fn, chunk)


def part_rules(n: int, depth: int, batch: int, reps: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    import qdiff.circuits.simulate as sim

    original = sim._one_at_a_time
    pb = None
    progs, comp = {}, {}
    try:
        for name, chunk in (("one at a time (library)", 1), ("chunks of 2", 2), ("chunks of 4", 4),
                            ("chunks of 8", 8), ("plain vmap", 0)):
            sim._one_at_a_time = original if chunk == 1 else _rule(chunk, original)
            sim._adjoint_apply.cache_clear()
            circ, vg = _circuit_vg(n, depth)
            if pb is None:
                pb = jnp.asarray(np.random.default_rng(0).uniform(0, 2 * np.pi, (batch, circ.nparams)))
            t = time.process_time()
            progs[name] = jax.jit(jax.vmap(vg)).lower(pb).compile()
            comp[name] = time.process_time() - t
        sim._one_at_a_time = original
        sim._adjoint_apply.cache_clear()
        circ, vg = _circuit_vg(n, depth)
        t = time.process_time()
        single = jax.jit(vg).lower(pb[0]).compile()
        comp["loop of single calls"] = time.process_time() - t
    finally:
        sim._one_at_a_time = original
        sim._adjoint_apply.cache_clear()
    ref = single(pb[1])[1]
    for name, c in progs.items():
        err = float(jnp.max(jnp.abs(c(pb)[1][1] - ref)))
        if err > 1e-10:
            raise AssertionError(f"{name}: batched gradient differs from the single one by {err:.1e}")
    fns = {k: (lambda c=c: c(pb)) for k, c in progs.items()}
    fns["loop of single calls"] = lambda: [single(pb[i]) for i in range(batch)]
    res = _round_robin(fns, reps)
    loop = res["loop of single calls"]
    print(f"rules: n={n}, depth {depth}, batch {batch}; seconds min / median, ratio to the loop "
          f"(min / median), compile s")
    for k, (lo, med) in res.items():
        print(f"  {k:26s} {lo:7.4f} / {med:7.4f}   {lo / loop[0]:5.2f} / {med / loop[1]:5.2f}   {comp[k]:5.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("kernels", "floor", "rules", "all"), default="all")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--layers", type=int, default=100)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    if args.part in ("kernels", "all"):
        part_kernels(args.n, args.batch, args.layers, args.reps)
    if args.part in ("floor", "all"):
        part_floor(args.depth, args.reps)
    if args.part in ("rules", "all"):
        part_rules(args.n, args.depth, args.batch, args.reps)


if __name__ == "__main__":
    main()
