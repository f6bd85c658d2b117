"""U(1) sectors of the C4v iPEPS (Heisenberg AFM): sector masks, random sector tensors, the distance of a
tensor from U(1) symmetry, and the optimisation held inside one sector (the ``u1check`` and ``u1opt``
modes of ``benchmarks/tensornet_ipeps_large.py``, which is how to run them)."""

from __future__ import annotations

import json
import os
import time

from tensornet_ipeps_large import load_tensor, save_tensor


def u1_tensor(charges, total, key):
    """Random real C4v tensor (2, D, D, D, D) with one U(1) charge: entries kept where Sz of the physical
    state (±1/2) plus the virtual charges of the four legs equals ``total``, then C4v-symmetrised.

    The Néel state breaks SU(2) down to the U(1) of rotations about the ordered moment; in the rotated
    frame a single-site tensor with this structure is invariant under it (peps-torch builds such U(1)
    C4v tensors for this model; its D=3 test state has virtual charges 0, 1, 0 in units of Sz)."""
    import jax.numpy as jnp
    import numpy as np

    from qdiff.tensornet import symmetrize

    mask = u1_mask(charges, total)
    if not mask.any():
        raise SystemExit(f"no entry has Sz + sum of charges {charges} = {total}")
    A = np.asarray(symmetrize(jnp.asarray(mask * np.random.default_rng(key).standard_normal(mask.shape))))
    return A / np.linalg.norm(A)


def u1_residual(A, angles=361):
    """How far ``A`` is from U(1) symmetry about an axis n = (sin φ, 0, cos φ) of the rotated frame.

    Least squares over a real symmetric generator Q on the virtual space and a charge c of
    ``‖(n·S) A + Σ_legs Q_leg A − c A‖ / ‖A‖``, minimised over φ on a grid (a real tensor has its moment in
    the x–z plane).  Returns ``(residual, φ, charges)``, the charges being Q's eigenvalues minus the
    smallest; residual ≈ 0 means U(1)-symmetric."""
    import numpy as np

    A = np.asarray(A) / np.linalg.norm(A)
    d, D = A.shape[:2]
    gens = []
    for i in range(D):
        for j in range(i, D):
            E = np.zeros((D, D))
            E[i, j] = E[j, i] = 1.0
            gens.append(E)
    cols = [sum(np.moveaxis(np.tensordot(E, A, axes=(1, k)), 0, k) for k in range(1, 5)).ravel() for E in gens]
    M = np.array(cols + [-A.ravel()]).T
    best = None
    for phi in np.linspace(0.0, np.pi, angles):
        S = np.cos(phi) * np.diag([0.5, -0.5]) + np.sin(phi) * np.array([[0.0, 0.5], [0.5, 0.0]])
        b = -(S @ A.reshape(d, -1)).ravel()
        x = np.linalg.lstsq(M, b, rcond=None)[0]
        res = float(np.linalg.norm(M @ x - b))
        if best is None or res < best[0]:
            q = np.linalg.eigvalsh(sum(xi * E for xi, E in zip(x[:-1], gens)))
            best = (res, float(phi), [float(v) for v in q - q[0]])
    return best


def cmd_u1check(args):
    for path in args.tensors:
        A, _ = load_tensor(path)
        res, phi, q = u1_residual(A)
        print(json.dumps({"tensor": path, "u1_residual": res, "phi": phi, "charges": q}), flush=True)
    return 0


def u1_mask(charges, total):
    """0/1 array (2, D, D, D, D): entries with Sz of the physical state plus the four legs' virtual charges
    equal to ``total`` (C4v-closed, since the condition is symmetric in the legs)."""
    import itertools

    import numpy as np

    D, sz = len(charges), (0.5, -0.5)
    mask = np.zeros((2,) + (D,) * 4)
    for idx in itertools.product(range(2), *[range(D)] * 4):
        if abs(sz[idx[0]] + sum(charges[i] for i in idx[1:]) - total) < 1e-12:
            mask[idx] = 1.0
    return mask


def cmd_u1opt(args):
    """L-BFGS-B (scipy) on the tensors of one U(1) sector: A = sym(mask ⊙ x), fresh CTMRG per evaluation.

    An evaluation whose CTMRG is still changing by more than ``--accept`` after ``--max-iter`` steps is
    rejected (f = 1, far above any energy), so the line search backs off from it.

    The best tensor so far is written atomically to ``--out`` after every iteration; re-running the same
    command resumes from it (scipy's L-BFGS-B memory starts afresh)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import scipy.optimize as so

    import qdiff  # noqa: F401
    from qdiff.tensornet import compiler_options, pad_tensor, symmetrize
    from qdiff.tensornet.ipeps_optimize import _energy_and_env, _fresh_env
    from qdiff.tensornet.models import heisenberg

    charges = tuple(float(c) for c in args.u1_charges.split(","))
    mask = u1_mask(charges, args.u1_total)
    if not mask.any():
        raise SystemExit(f"no entry has Sz + sum of charges {charges} = {args.u1_total}")
    h = jnp.asarray(heisenberg().h_nn)
    chi = args.chi
    opts = {"tol": args.tol, "max_iter": args.max_iter, "adjoint_tol": args.adjoint_tol,
            "multiplet_tol": args.multiplet_tol, "adjoint_method": args.adjoint_method}

    def energy(x):
        A = symmetrize(jnp.asarray(mask) * x.reshape(mask.shape))
        A = A / jnp.linalg.norm(A)
        env0 = jax.lax.stop_gradient(_fresh_env(A.ravel(), shape=A.shape, chi=chi))
        e, _, _, info = _energy_and_env(A, h, None, env0, chi, **opts)
        return e, info

    vg = jax.jit(jax.value_and_grad(energy, has_aux=True), compiler_options=compiler_options())
    meta_prev = {}
    if os.path.exists(args.out):
        x0, meta_prev = load_tensor(args.out)
        source = f"resumed from {args.out}"
    elif args.seed:
        x0, _ = load_tensor(args.seed)
        source = f"{args.seed} projected onto the sector"
        if x0.shape[1] < len(charges):
            x0 = np.asarray(pad_tensor(x0, len(charges), key=jax.random.PRNGKey(args.key), noise=args.noise))
            source = (f"{args.seed} padded to D={len(charges)} with C4v noise {args.noise} (jax key {args.key}), "
                      "projected onto the sector")
        elif x0.shape[1] > len(charges):
            raise SystemExit(f"--seed has D={x0.shape[1]} > {len(charges)} charges")
    else:
        x0 = np.random.default_rng(args.key).standard_normal(mask.shape)
        source = f"random in the sector (numpy key {args.key})"
    x0 = np.asarray(symmetrize(jnp.asarray(mask * x0))).ravel()
    x0 = x0 / np.linalg.norm(x0)
    cpu0 = time.process_time() - meta_prev.get("cpu_s", 0.0)
    hist = list(meta_prev.get("history", []))
    best = {"e": meta_prev.get("energy_at_chi", np.inf), "x": x0}
    print(f"# sector charges {charges}, total {args.u1_total}: {int(mask.sum())} entries; chi={chi}; {source}",
          flush=True)

    class _Stop(Exception):
        pass

    rejected = []

    def f(x):
        (e, info), g = vg(jnp.asarray(x))
        e, g = float(e), np.asarray(g, np.float64)
        if not np.isfinite(e):
            raise _Stop
        measure = max(float(info.spectrum_change), float(info.residual))
        if measure > args.accept:
            # CTMRG did not settle: its energy is not that of the state (it reached −0.727 < QMC in a test
            # run) and the adjoint system is near-singular there; a failed trial the line search backs off from
            rejected.append(measure)
            if not hist:  # L-BFGS-B would read the zero gradient at its start as convergence
                print(f"the starting tensor's CTMRG does not settle (change {measure:.1e} after "
                      f"{int(info.iterations)} steps): try another --key or a larger --max-iter", flush=True)
                raise _Stop
            print(f"eval {len(hist) + len(rejected):4d}  rejected: CTMRG change {measure:.1e} > {args.accept:g} "
                  f"after {int(info.iterations)} steps", flush=True)
            return 1.0, np.zeros_like(g)
        hist.append(e)
        if e < best["e"]:
            best.update(e=e, x=np.array(x))
        if len(hist) % args.print_every == 0:
            print(f"eval {len(hist):4d}  e = {e:.10f}  |g| = {np.linalg.norm(g):.2e}  ctm {int(info.iterations)}"
                  f"{'' if bool(info.converged) else f' (change {measure:.0e})'}  cpu {time.process_time() - cpu0:.0f} s",
                  flush=True)
        if time.process_time() - cpu0 > args.cpu_limit:
            raise _Stop
        return e, g

    def save():
        if not np.isfinite(best["e"]):  # nothing accepted yet: nothing to save
            return
        A = np.asarray(symmetrize(jnp.asarray(mask * best["x"].reshape(mask.shape))))
        save_tensor(args.out, A / np.linalg.norm(A),
                    {"model": "heisenberg", "ansatz": "single-site C4v, one U(1) sector", "D": len(charges),
                     "chi": chi, "energy_at_chi": best["e"], "u1_charges": charges, "u1_total": args.u1_total,
                     "seed": meta_prev.get("seed", source), "adjoint_method": args.adjoint_method,
                     "ctm_options": {k: v for k, v in opts.items()}, "evaluations": len(hist), "history": hist,
                     "cpu_s": time.process_time() - cpu0, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})

    status = "cpu_limit or rejected start"
    try:
        r = so.minimize(f, x0, jac=True, method="L-BFGS-B", callback=lambda xk: save(),
                        options={"maxcor": args.memory, "maxiter": args.steps, "gtol": args.gtol, "ftol": 1e-15})
        status = r.message if isinstance(r.message, str) else r.message.decode()
    except _Stop:
        pass
    save()
    print(json.dumps({"charges": charges, "total": args.u1_total, "chi": chi, "parameters": int(mask.sum()),
                      "best_energy": best["e"], "evaluations": len(hist), "rejected": len(rejected), "stopped": status,
                      "cpu_s": round(time.process_time() - cpu0, 1),
                      "out": args.out if np.isfinite(best["e"]) else None}), flush=True)
    return 0
