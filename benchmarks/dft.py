"""Plane-wave DFT benchmark: qdiff vs ABINIT (Debian package) on identical settings.

Usage:
    python benchmarks/dft.py                      # all cases, qdiff + ABINIT if installed
    python benchmarks/dft.py --cases si2_e15_k4 al_e15_k8 --out benchmarks/out/dft.json

Every case runs in its own subprocess with XLA and BLAS pinned to one thread
(``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``, OMP/OPENBLAS = 1).
qdiff: the SCF runs twice in that process; the first (cold) run includes JIT compilation,
the second (same shapes, compiled programs reused) is the timed one; compile ≈ cold − warm.
Reported: process CPU time and wall time of the warm run, SCF iterations until |ΔE| < 1e-10 Ha,
peak RSS (ru_maxrss) of the process.  ABINIT (``abinit`` on PATH; this script installs
nothing and skips it when absent) runs serially on the same HGH pseudopotential
(written here in ABINIT's pspcod=3 format), functional (ixc 1), cutoff, k-grid and FFT grid;
its CPU time and peak RSS come from ``getrusage(RUSAGE_CHILDREN)``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

PIN = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
}

CASES = {
    "si2_e15_k4": dict(structure="si", ecut=15.0, kgrid=4, fft_size=(30, 30, 30), smearing="none", temperature=0.0),
    "si2_e30_k4": dict(structure="si", ecut=30.0, kgrid=4, fft_size=None, smearing="none", temperature=0.0),
    "al_e15_k8": dict(structure="al", ecut=15.0, kgrid=8, fft_size=(24, 24, 24), smearing="fermi-dirac",
                      temperature=0.01),
    "si8_e20_k2": dict(structure="si8", ecut=20.0, kgrid=2, fft_size=None, smearing="none", temperature=0.0),
}

# ABINIT's own numbers quoted in the issue (serial wall time, iterations to |dE| < 1e-10), for context
ISSUE_ABINIT = {"si2_e15_k4": ("1.6–2.3 s", 7), "si2_e30_k4": ("3.3–5.1 s", None), "al_e15_k8": ("2.8–3.3 s", 5),
                "si8_e20_k2": ("11.6–15.4 s", 9)}


def _iterations_to(history, tol=1e-10):
    for h in history:
        if abs(h["delta_energy"]) < tol:
            return h["iteration"]
    return None


def worker_qdiff(name: str) -> dict:
    import qdiff  # noqa: F401
    from qdiff.dft import PlaneWaveBasis, builtin_structure, make_model, self_consistent_field

    c = CASES[name]
    model = make_model(*builtin_structure(c["structure"]), smearing=c["smearing"], temperature=c["temperature"])
    runs = []
    for _ in range(2):
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        basis = PlaneWaveBasis(model, c["ecut"], (c["kgrid"],) * 3, fft_size=c["fft_size"])
        res = self_consistent_field(basis, tol_energy=1e-11, tol_density=1e-8)
        runs.append((time.process_time() - t_cpu, time.perf_counter() - t_wall, res))
    (cold_cpu, cold_wall, _), (cpu, wall, res) = runs
    return dict(code="qdiff", case=name, energy=res.energy, iterations=_iterations_to(res.history),
                n_iterations=res.n_iterations, cpu_s=cpu, wall_s=wall, compile_cpu_s=cold_cpu - cpu,
                cold_cpu_s=cold_cpu, cold_wall_s=cold_wall, n_kpoints=basis.n_kpoints, npw=basis.npw,
                fft_size=list(basis.fft_size), peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _hgh_file(psp) -> str:
    """The HGH parameters in ABINIT's pspcod=3 format (off-diagonal h_ij follow from the HGH relations)."""
    znucl = {"Si": 14, "Al": 13}[psp.element]
    lines = [f"{psp.element} HGH 1998 (Hartwigsen-Goedecker-Hutter), written by qdiff benchmarks",
             f"{znucl} {psp.zion} 010101 zatom,zion,pspdat",
             f"3 1 {psp.lmax} 0 2001 0 pspcod,pspxc,lmax,lloc,mmax,r2well",
             f"{psp.rloc} {' '.join(str(c) for c in psp.cloc)} rloc,c1,c2,c3,c4"]
    for l in range(psp.lmax + 1):
        h = psp.h_matrix(l)
        diag = [h[i, i] if i < h.shape[0] else 0.0 for i in range(3)]
        lines.append(f"{psp.rp[l]} {diag[0]} {diag[1]} {diag[2]} r_l,h11,h22,h33")
        if l > 0:
            lines.append("0.0 0.0 0.0 k11,k22,k33")
    return "\n".join(lines) + "\n"


def worker_abinit(name: str) -> dict:
    import numpy as np

    import qdiff  # noqa: F401
    from qdiff.dft import builtin_structure, load_gth

    exe = shutil.which("abinit")
    c = CASES[name]
    lattice, symbols, pos = builtin_structure(c["structure"])
    el = symbols[0]
    psp = load_gth(el)
    from qdiff.dft import default_fft_size

    fft = c["fft_size"] or default_fft_size(lattice, c["ecut"])
    inp = [f"acell 3*1.0", "rprim " + " ".join(f"{x:.12f}" for x in lattice.T.ravel()),
           "ntypat 1", f"znucl {14 if el == 'Si' else 13}", f"natom {len(symbols)}",
           "typat " + " ".join("1" for _ in symbols), "xred\n" + "\n".join(" ".join(f"{x:.12f}" for x in row) for row in np.asarray(pos)),
           f"ecut {c['ecut']}", f"ngkpt {c['kgrid']} {c['kgrid']} {c['kgrid']}", "nshiftk 1", "shiftk 0 0 0",
           f"ngfft {fft[0]} {fft[1]} {fft[2]}", "ixc 1", "nstep 60", "toldfe 1e-11", "chkprim 0", "pp_dirpath \"./\"",
           f"pseudos \"{el}.hgh\""]
    if c["smearing"] != "none":
        inp += ["occopt 3", f"tsmear {c['temperature']}", "nband 8"]
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "run.abi"), "w") as fh:
            fh.write("\n".join(inp) + "\n")
        with open(os.path.join(d, f"{el}.hgh"), "w") as fh:
            fh.write(_hgh_file(psp))
        t0 = time.perf_counter()
        proc = subprocess.run([exe, "run.abi"], cwd=d, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = open(os.path.join(d, "run.abo")).read() if os.path.exists(os.path.join(d, "run.abo")) else proc.stdout
    energy, iters, etots = None, None, []
    for line in out.splitlines():
        s = line.split()
        if len(s) >= 3 and s[0] == "ETOT" and s[1].isdigit():
            etots.append(float(s[2]))
        if line.strip().startswith("etotal") and energy is None:
            try:
                energy = float(s[1])
            except (IndexError, ValueError):
                pass
    for i in range(1, len(etots)):
        if abs(etots[i] - etots[i - 1]) < 1e-10:
            iters = i + 1
            break
    return dict(code="abinit", case=name, energy=energy, iterations=iters, n_iterations=len(etots),
                cpu_s=ru.ru_utime + ru.ru_stime, wall_s=wall, peak_rss_mb=ru.ru_maxrss / 1024,
                returncode=proc.returncode)


def _run_worker(code: str, name: str) -> dict:
    env = dict(os.environ, **PIN)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", code, name], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return dict(code=code, case=name, error=proc.stderr.strip().splitlines()[-1:] or ["failed"])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--peers", nargs="*", default=["abinit"], choices=["abinit"])
    ap.add_argument("--out", default=None, help="write all records as JSON here")
    ap.add_argument("--worker", nargs=2, metavar=("CODE", "CASE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        code, name = args.worker
        rec = worker_qdiff(name) if code == "qdiff" else worker_abinit(name)
        print(json.dumps(rec))
        return 0
    records = []
    have_abinit = shutil.which("abinit") is not None
    if "abinit" in args.peers and not have_abinit:
        print("ABINIT: not installed (abinit not on PATH) — skipped; numbers quoted from the issue instead")
    print(f"{'case':<12s} {'code':<7s} {'energy (Ha)':>16s} {'iter':>5s} {'CPU s':>8s} {'wall s':>8s} "
          f"{'compile s':>9s} {'RSS MB':>7s}")
    for name in args.cases:
        runs = [("qdiff", name)] + ([("abinit", name)] if "abinit" in args.peers and have_abinit else [])
        for code, case in runs:
            r = _run_worker(code, case)
            records.append(r)
            if "error" in r:
                print(f"{case:<12s} {code:<7s} ERROR {r['error']}")
                continue
            comp = f"{r['compile_cpu_s']:9.1f}" if "compile_cpu_s" in r else f"{'-':>9s}"
            en = f"{r['energy']:16.10f}" if r.get("energy") is not None else f"{'?':>16s}"
            print(f"{case:<12s} {code:<7s} {en} {str(r['iterations']):>5s} {r['cpu_s']:8.2f} {r['wall_s']:8.2f} "
                  f"{comp} {r['peak_rss_mb']:7.0f}")
        if not have_abinit:
            wall, it = ISSUE_ABINIT[name]
            print(f"{name:<12s} {'abinit*':<7s} {'(issue)':>16s} {str(it):>5s} {'':>8s} {wall:>8s}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(records, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
