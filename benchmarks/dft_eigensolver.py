"""LOBPCG benchmark: qdiff.dft.lobpcg against scipy.sparse.linalg.lobpcg on a plane-wave Hamiltonian.

The model is the operator an SCF diagonalises: ``H = −½∇² + V(r)`` in a plane-wave basis
``|G|²/2 ≤ Ecut`` of a cubic cell (side 10.26 Bohr, the 8-atom silicon cell), applied through
FFTs on a 30³ grid, with a smooth local potential ``V``.  Both solvers get the same operator
(numpy FFTs for scipy, jnp FFTs for qdiff), the same random start, the same diagonal
kinetic preconditioner ``1/(|G|²/2 + 1)`` and the same residual tolerance.  Each case runs in
its own process; CPU time (``time.process_time``), compile time reported separately.

Run:  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \\
      XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
      python benchmarks/dft_eigensolver.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

CASES = [(10.0, 8), (20.0, 18)]  # (Ecut in Ha, number of bands)
TOL = 1e-8
SIDE, NGRID = 10.26, 30


def _model(ecut):
    import numpy as np

    r = np.fft.fftfreq(NGRID, 1 / NGRID).astype(int)
    g = np.array(np.meshgrid(r, r, r, indexing="ij")).reshape(3, -1).T * 2 * np.pi / SIDE
    kin_all = 0.5 * np.sum(g**2, axis=1)
    sel = np.where(kin_all <= ecut)[0]
    x = np.arange(NGRID) / NGRID * SIDE
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    v = -2 * np.cos(2 * np.pi * X / SIDE) * np.cos(2 * np.pi * Y / SIDE) - np.cos(4 * np.pi * Z / SIDE)
    return kin_all[sel], sel, v


def _run_case(solver, ecut, m):
    import numpy as np

    kin, sel, v = _model(ecut)
    n = len(kin)
    rng = np.random.default_rng(0)
    x0 = (rng.normal(size=(n, m)) + 1j * rng.normal(size=(n, m))) / (1 + kin[:, None])
    if solver == "scipy":
        from scipy.sparse.linalg import LinearOperator, lobpcg

        def apply(xb):
            xb = xb.reshape(n, -1)
            grid = np.zeros((NGRID**3, xb.shape[1]), complex)
            grid[sel] = xb
            psi = np.fft.ifftn(grid.T.reshape(-1, NGRID, NGRID, NGRID), axes=(1, 2, 3))
            vpsi = np.fft.fftn(v * psi, axes=(1, 2, 3)).reshape(xb.shape[1], -1).T[sel]
            return kin[:, None] * xb + vpsi

        op = LinearOperator((n, n), matvec=apply, matmat=apply, dtype=complex)
        pre = LinearOperator((n, n), matvec=lambda r: r.ravel() / (kin + 1.0),
                             matmat=lambda r: r / (kin[:, None] + 1.0), dtype=complex)
        t = time.process_time()
        w, vecs, hist = lobpcg(op, x0, M=pre, largest=False, tol=TOL, maxiter=500,
                               retResidualNormsHistory=True)
        cpu = time.process_time() - t
        res = np.linalg.norm(apply(vecs) - vecs * w, axis=0)
        return dict(n=n, iterations=len(hist) - 1, cpu_s=cpu, compile_s=0.0, max_residual=float(res.max()),
                    eigenvalues=np.sort(w).tolist())
    import jax
    import jax.numpy as jnp

    import qdiff  # noqa: F401
    from qdiff.dft import lobpcg

    kin_j, sel_j, v_j = jnp.asarray(kin), jnp.asarray(sel), jnp.asarray(v)

    def apply(xb):
        grid = jnp.zeros((NGRID**3, m), complex).at[sel_j].set(xb)
        psi = jnp.fft.ifftn(grid.T.reshape(m, NGRID, NGRID, NGRID), axes=(1, 2, 3))
        vpsi = jnp.fft.fftn(v_j * psi, axes=(1, 2, 3)).reshape(m, -1).T[sel_j]
        return kin_j[:, None] * xb + vpsi

    solve = jax.jit(lambda x0: lobpcg(apply, x0, tol=TOL, maxiter=500,
                                      precond=lambda r, lam: r / (kin_j[:, None] + 1.0)))
    x0 = jnp.asarray(x0)
    t = time.process_time()
    compiled = solve.lower(x0).compile()
    compile_s = time.process_time() - t
    t = time.process_time()
    w, vecs, info = jax.block_until_ready(compiled(x0))
    cpu = time.process_time() - t
    return dict(n=n, iterations=int(info.iterations), cpu_s=cpu, compile_s=compile_s,
                max_residual=float(np.max(np.asarray(info.residual_norms))),
                eigenvalues=np.asarray(w).tolist())


def main():
    if len(sys.argv) == 4:  # child: one case
        print(json.dumps(_run_case(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))))
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # benchmark this checkout's qdiff
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p)
    print("| Ecut (Ha) | plane waves | bands | qdiff iters | qdiff CPU (s) | qdiff compile (s) "
          "| scipy iters | scipy CPU (s) | CPU ratio | max |Δλ| |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for ecut, m in CASES:
        out = {}
        for solver in ("qdiff", "scipy"):
            proc = subprocess.run([sys.executable, __file__, solver, str(ecut), str(m)], env=env,
                                  capture_output=True, text=True, check=True)
            out[solver] = json.loads(proc.stdout.strip().splitlines()[-1])
        q, s = out["qdiff"], out["scipy"]
        dl = max(abs(a - b) for a, b in zip(q["eigenvalues"], s["eigenvalues"]))
        print(f"| {ecut:g} | {q['n']} | {m} | {q['iterations']} | {q['cpu_s']:.2f} | {q['compile_s']:.2f} "
              f"| {s['iterations']} | {s['cpu_s']:.2f} | {q['cpu_s'] / s['cpu_s']:.2f} | {dl:.1e} |")


if __name__ == "__main__":
    main()
