"""The ``adjcheck`` mode of ``benchmarks/tensornet_ipeps_large.py`` (run it through that script): is the
fixed-point gradient right?"""

from __future__ import annotations

import json
import time

from tensornet_ipeps_large import _json_write, load_tensor


def cmd_adjcheck(args):
    """Is the fixed-point gradient right?  The AD directional derivative with each adjoint method
    against central differences of the energy, and the adjoint linear system solved by hand."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import jax.flatten_util  # noqa: F401
    import scipy.sparse.linalg as sla

    import qdiff  # noqa: F401
    from qdiff.primitives import krylov
    from qdiff.tensornet.ctmrg import _ctm_update, ctmrg_info
    from qdiff.tensornet.ipeps import CTMEnv, double_layer, symmetrize
    from qdiff.tensornet.ipeps_optimize import ipeps_energy
    from qdiff.tensornet.models import heisenberg
    from qdiff.tensornet.observables import bond_energy

    A, _ = load_tensor(args.tensor)
    A = jnp.asarray(A)
    chi, out = args.chi, {"tensor": args.tensor, "chi": args.chi}
    fd_opts = {"tol": args.tol, "max_iter": args.max_iter, "multiplet_tol": args.multiplet_tol}
    value = jax.jit(lambda B: ipeps_energy(B, "heisenberg", chi, **fd_opts)[0])
    grads = {}
    for method in args.methods.split(","):
        for ctm_tol, adj_tol in ((args.grad_tol, args.grad_adjoint_tol), (args.tol, args.tol)):
            opts = {"tol": ctm_tol, "adjoint_tol": adj_tol, "max_iter": args.grad_max_iter,
                    "multiplet_tol": args.multiplet_tol, "adjoint_method": method}
            t = time.process_time()
            e, g = jax.jit(jax.value_and_grad(lambda B: ipeps_energy(B, "heisenberg", chi, **opts)[0]))(A)
            g.block_until_ready()
            grads[f"{method} tol={ctm_tol:g} adjoint_tol={adj_tol:g}"] = (g, time.process_time() - t)
    g_ref = grads[next(iter(grads))][0]
    rng = np.random.default_rng(args.key)
    r = symmetrize(jnp.asarray(rng.standard_normal(A.shape)))
    dirs = {"-g/|g| (first gradient)": -g_ref / jnp.linalg.norm(g_ref), "random C4v": r / jnp.linalg.norm(r)}
    e0 = float(value(A))
    out["energy"] = e0
    out["directions"] = {}
    for name, d in dirs.items():
        fd = {}
        for eps in (float(x) for x in args.eps.split(",")):
            ep, em = float(value(A + eps * d)), float(value(A - eps * d))
            fd[f"{eps:g}"] = (ep - em) / (2 * eps)
        ad = {k: float(jnp.vdot(g, d)) for k, (g, _) in grads.items()}
        out["directions"][name] = {"central_differences": fd, "ad": ad}
        print(json.dumps({"direction": name, "central_differences": fd, "ad": ad}), flush=True)
    out["grad_cpu"] = {k: round(c, 2) for k, (_, c) in grads.items()}
    # the adjoint linear system (I − Jᵀ) w = ē at the tight fixed point, by hand
    As = symmetrize(A)
    As = As / jnp.linalg.norm(As)
    a = double_layer(As)
    env, info = ctmrg_info(a, chi, tol=args.tol, max_iter=args.max_iter, multiplet_tol=args.multiplet_tol)
    h = jnp.asarray(heisenberg().h_nn)
    flat, unflat = jax.flatten_util.ravel_pytree(env)
    ebar = jax.grad(lambda z: bond_energy(As, unflat(z), h))(flat)
    step = lambda z: jax.flatten_util.ravel_pytree(_ctm_update(unflat(z), a, chi, args.multiplet_tol)[0])[0]
    _, vjp = jax.vjp(step, flat)
    _, jvp = jax.linearize(step, flat)
    JT = jax.jit(lambda w: vjp(w)[0])
    Jv = jax.jit(jvp)
    n = flat.shape[0]
    lam = sla.eigs(sla.LinearOperator((n, n), matvec=lambda v: np.asarray(Jv(jnp.asarray(v.real)))
                                      + 1j * np.asarray(Jv(jnp.asarray(v.imag))), dtype=complex),
                   k=args.eigs, which="LM", return_eigenvectors=False, tol=1e-8, maxiter=2000)
    lam = sorted(lam, key=abs, reverse=True)
    out["ctm_iterations"], out["ctm_residual"] = int(info.iterations), float(info.residual)
    out["jacobian_top_eigenvalues"] = [[float(np.real(v)), float(np.imag(v)), float(abs(v))] for v in lam]
    print(json.dumps({"ctm_iterations": out["ctm_iterations"],
                      "jacobian_top_abs": [round(float(abs(v)), 6) for v in lam]}), flush=True)
    A_op = lambda w: w - JT(w)
    w_exact, it, res = krylov.gmres(A_op, ebar, tol=1e-13, maxiter=20 * args.max_iter, restart=30)
    out["gmres_tight"] = {"matvecs": int(it), "residual": float(res)}
    w, hist = jnp.zeros_like(ebar), []
    for k in range(1, args.max_iter + 1):
        w_new = ebar + JT(w)
        upd = float(jnp.linalg.norm(w_new - w) / jnp.maximum(jnp.linalg.norm(w_new), jnp.linalg.norm(ebar)))
        w = w_new
        if k in (10, 30, 100, 200, 300, 500, 1000) or k == args.max_iter:
            hist.append({"steps": k, "relative_update": upd,
                         "residual": float(jnp.linalg.norm(ebar - A_op(w)) / jnp.linalg.norm(ebar)),
                         "error_vs_gmres": float(jnp.linalg.norm(w - w_exact) / jnp.linalg.norm(w_exact))})
    out["richardson"] = hist
    for tol in (1e-7, 1e-10):
        _, it, res = krylov.gmres(A_op, ebar, tol=tol, maxiter=20 * args.max_iter, restart=30)
        out[f"gmres_tol{tol:g}"] = {"matvecs": int(it), "residual": float(res)}
    print(json.dumps({k: out[k] for k in out if k.startswith(("gmres", "richardson"))}), flush=True)
    if args.json:
        _json_write(args.json, out)
    return 0
