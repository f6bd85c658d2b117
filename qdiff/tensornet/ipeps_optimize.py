"""Variational energy of a C4v iPEPS and its L-BFGS minimisation (AD through CTMRG).

The energy per site ``e(A)`` of the site tensor ``A`` is computed by symmetrising
and normalising ``A``, converging the CTMRG environment of its double layer at
dimension χ (:func:`qdiff.tensornet.ctmrg.ctmrg_info`), and contracting the
reduced density matrices with the model's bond terms.  Its gradient comes from
reverse-mode AD with the implicit-function (fixed-point) derivative of CTMRG.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import CheckpointError, InputError
from ..precision import require_x64
from ..primitives.fixed_point_adjoint import ADJOINT_METHODS
from .compile_options import compiler_options
from .ctmrg import ctmrg_info
from .ipeps import CTMEnv, double_layer, initial_env, random_tensor, symmetrize, validate_tensor
from .lbfgs import LBFGSState, init_state, lbfgs_step
from .models import Model, get_model
from .observables import bond_energy, correlation_length, magnetization

logger = logging.getLogger(__name__)

_CHECKPOINT_SCHEMA = "qdiff.ipeps.checkpoint/1"
# checkpoints written before an option existed ran with its old behaviour
_META_DEFAULTS = {"env_start": "previous"}


def _resolve_model(model) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        return get_model(model)
    raise InputError(f"model must be a Model or a model name, got {type(model).__name__}")


def _check_dims(D, chi):
    for name, v in (("D", D), ("chi", chi)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise InputError(f"{name} must be a positive integer, got {v!r}")


def ipeps_energy(A: jax.Array, model: Model | str, chi: int, *, env0: CTMEnv | None = None,
                 **ctm_options) -> tuple[jax.Array, tuple[CTMEnv, Any]]:
    """Energy per site of the C4v iPEPS with site tensor ``A``, and its environment.

    Args:
      A: real site tensor (d, D, D, D, D); it is symmetrised and normalised first, so
        the gradient is that of ``e(sym(A)/‖sym(A)‖)``.
      model: a :class:`~qdiff.tensornet.models.Model` or a built-in model name.
      chi: environment dimension χ.
      env0: warm-start environment (default: built from ``A``).
      **ctm_options: passed to :func:`~qdiff.tensornet.ctmrg.ctmrg_info` (``tol``, ``max_iter``,
        ``gradient``, ``steps``).

    Returns:
      ``(energy, (env, info))`` — differentiable in ``A`` (use ``has_aux=True``).
    """
    model = _resolve_model(model)
    _check_tensor(A, model)
    e, _, env, info = _energy_and_env(A, model.h_nn, model.h_nnn, env0, chi, **ctm_options)
    return e, (env, info)


def _check_tensor(A, model: Model) -> None:
    validate_tensor(A)
    if A.shape[0] != model.d:
        raise InputError(f"A has physical dimension {A.shape[0]}, model {model.name!r} needs {model.d}")


def _energy_and_env(A, h_nn, h_nnn, env0, chi, **ctm_options):
    """``(e, As, env, info)``: energy per site of the normalised symmetrised tensor ``As`` and its environment."""
    As = symmetrize(A)
    As = As / jnp.linalg.norm(As)
    env, info = ctmrg_info(double_layer(As), chi, env0=env0, **ctm_options)
    return bond_energy(As, env, h_nn, h_nnn), As, env, info


def evaluate_ipeps(A, model: Model | str, chi: int, *, correlation: bool = True, **ctm_options) -> dict:
    """Energy per site, magnetisation ``|⟨S⟩|`` and correlation length of a C4v iPEPS.

    Returns a dict with ``energy``, ``magnetization`` (staggered for sublattice-rotated
    models), ``correlation_length`` (lattice spacings, if asked), ``ctm_iterations``,
    ``ctm_converged`` and ``truncation`` (discarded corner weight).
    """
    require_x64("evaluate_ipeps")
    model = _resolve_model(model)
    _check_dims(A.shape[1] if np.ndim(A) == 5 else 1, chi)
    A = jnp.asarray(A)
    _check_tensor(A, model)
    env0 = ctm_options.pop("env0", None)
    e, As, env, info = _evaluated(A, model.h_nn, model.h_nnn, env0, chi=chi,
                                  options=tuple(sorted(ctm_options.items())))
    out = {"energy": float(e), "magnetization": float(magnetization(As, env)),
           "ctm_iterations": int(info.iterations), "ctm_converged": bool(info.converged),
           "truncation": float(info.truncation)}
    if correlation:
        out["correlation_length"] = correlation_length(double_layer(As), env)
    return out


@partial(jax.jit, static_argnames=("chi", "options"), compiler_options=compiler_options())
def _evaluated(A, h_nn, h_nnn, env0, *, chi, options):
    """:func:`evaluate_ipeps`'s energy and environment: a top-level program, so the XLA options apply."""
    return _energy_and_env(A, h_nn, h_nnn, env0, chi, **dict(options))


@dataclass(frozen=True)
class IPEPSResult:
    """Outcome of :func:`optimize_ipeps`.

    Attributes:
      A: optimised site tensor (C4v-symmetric, unit norm), numpy (d, D, D, D, D).
      energy: energy per site at ``A``.
      grad_norm: Euclidean norm of the energy gradient at ``A``.
      steps: L-BFGS iterations completed (including those of a resumed run).
      evaluations: energy + gradient evaluations.
      history: energy after each step (index 0: the starting point).
      stopped: why the loop ended: ``"steps"``, ``"gtol"`` or ``"line_search"``.
      env: the converged environment at ``A`` (C, T as numpy arrays).
      curvature: the L-BFGS curvature pairs at the end, ``{"S", "Y", "pairs"}`` (pass it as
        ``curvature=`` to a follow-up run with the same D, e.g. at a larger χ).
    """

    A: np.ndarray
    energy: float
    grad_norm: float
    steps: int
    evaluations: int
    history: list = field(default_factory=list)
    stopped: str = "steps"
    env: CTMEnv | None = None
    model: str = ""
    D: int = 0
    chi: int = 0
    curvature: dict | None = None


def _energy_of_params(x, C0, T0, h_nn, h_nnn, *, shape, chi, tol, max_iter, adjoint_tol=None, multiplet_tol=None,
                      adjoint_method="iterate"):
    e, _, env, info = _energy_and_env(x.reshape(shape), h_nn, h_nnn, CTMEnv(C0, T0), chi, tol=tol,
                                      max_iter=max_iter, adjoint_tol=adjoint_tol, multiplet_tol=multiplet_tol,
                                      adjoint_method=adjoint_method)
    return e, (env, info)


# one compiled program per (shape, chi, options): JAX's jit cache reuses it across runs
_energy_value_and_grad = jax.jit(jax.value_and_grad(_energy_of_params, has_aux=True),
                                 static_argnames=("shape", "chi", "tol", "max_iter", "adjoint_tol", "multiplet_tol",
                                                  "adjoint_method"),
                                 compiler_options=compiler_options())


@partial(jax.jit, static_argnames=("shape", "chi"))
def _fresh_env(x, *, shape, chi):
    """The tensor's own starting environment (:func:`initial_env` of its normalised double layer)."""
    A = symmetrize(x.reshape(shape))
    return initial_env(double_layer(A / jnp.linalg.norm(A)), chi)


def optimize_ipeps(model: Model | str, D: int, chi: int, *, A0=None, key=None, steps: int = 100,
                   method: str = "lbfgs", checkpoint: str | os.PathLike | None = None,
                   callback: Callable[[dict], Any] | None = None, gtol: float = 1e-7,
                   memory: int = 20, ctm_tol: float = 1e-10, ctm_max_iter: int = 300,
                   ctm_adjoint_tol: float | None = None, env_start: str = "fresh",
                   curvature: dict | None = None, ctm_multiplet_tol: float | None = None,
                   ctm_adjoint_method: str = "iterate") -> IPEPSResult:
    """Minimise the energy per site of a single-site C4v iPEPS by L-BFGS, gradients by AD through CTMRG.

    Each evaluation converges CTMRG (see ``env_start``) and differentiates it at its fixed
    point; ``value_and_grad`` is compiled once per (shape, χ, CTMRG options).

    Args:
      model: :class:`~qdiff.tensornet.models.Model` or name (``heisenberg``, ``tfim``, ``j1j2``).
      D: bond dimension.
      chi: environment dimension χ.
      A0: initial tensor (d, D, D, D, D), real; default random (``key``).
      key: PRNG key or integer seed for the random start (default 0).
      steps: total number of L-BFGS iterations (a resumed run counts those already done).
      method: ``"lbfgs"`` (the resumable L-BFGS of :mod:`qdiff.tensornet.lbfgs`).
      checkpoint: file written atomically after every step (tensor, optimiser state,
        environment, energy history); if it exists the run resumes from it.
      callback: called after each step with ``{"step", "energy", "grad_norm", "evaluations",
        "ctm_iterations"}`` (e.g. :class:`qdiff.progress.ProgressBar`).
      gtol: stop when the gradient's Euclidean norm falls below this.
      memory: number of L-BFGS curvature pairs.
      ctm_tol, ctm_max_iter: CTMRG convergence threshold (corner spectrum) and step limit (the
        D=3 Heisenberg optimum needs 110–160 steps from a fresh start; an unconverged CTMRG gives
        inconsistent energies and gradients and stalls the line search).
      ctm_adjoint_tol: stopping threshold of the adjoint (gradient) iteration, relative step
        ``‖w_k − w_{k−1}‖/‖w_k‖`` (default ``ctm_tol``).  The adjoint contracts at the rate of
        CTMRG itself, so it costs about as many steps as a fresh CTMRG run; a looser value (the
        D=3/D=4 runs in docs/benchmarks.md use ``1e-7``) stops it earlier, with a gradient error of
        order this threshold divided by one minus the contraction rate.
      env_start: where each evaluation's CTMRG starts.  ``"fresh"`` (default): from the trial
        tensor's own boundary (:func:`~qdiff.tensornet.ipeps.initial_env`), so the energy is a
        function of the tensor alone.  ``"previous"``: from the environment of the current
        iterate (fewer CTMRG steps, but CTMRG can have several fixed points — notably near
        (near-)degenerate corner multiplets — and a warm start can then follow a spurious
        low-energy branch until it ends, where the line search stalls).  With ``"previous"`` a
        failed line search is retried once from the fresh environment with the L-BFGS memory
        cleared before the run stops.
      curvature: L-BFGS curvature pairs to start from (``IPEPSResult.curvature`` of an earlier
        run with the same tensor shape; used only when a run starts, not when it resumes).  A
        run continued at a larger χ then takes well-scaled quasi-Newton steps from its first
        step instead of a unit-length steepest-descent trial.
      ctm_multiplet_tol: CTMRG truncation that never splits a corner multiplet (relative gap;
        ``multiplet_tol`` of :func:`~qdiff.tensornet.ctmrg.ctmrg_info`); default ``None``, the
        plain χ largest values.
      ctm_adjoint_method: how the gradient's adjoint linear system is solved (``adjoint_method``
        of :func:`~qdiff.tensornet.ctmrg.ctmrg_info`): ``"iterate"`` (default, plain iteration,
        the cheapest) or ``"gmres"`` (restarted GMRES, at most ``ctm_max_iter`` products; accurate
        also where CTMRG's Jacobian has an eigenvalue near 1 and the plain iteration stalls —
        a warning "adjoint iteration stopped … gradient is inaccurate" says so; at D=3, χ=54 it
        needs 25 products where the plain iteration needs ~130, see docs/benchmarks.md).  Recorded
        in the checkpoint; like the tolerances it may change when a run resumes.

    Returns:
      :class:`IPEPSResult`.

    Raises:
      InputError: bad model, D, χ, A0, steps or method.
      CheckpointError: the checkpoint is corrupt or belongs to a different run.
    """
    require_x64("optimize_ipeps")
    model = _resolve_model(model)
    _check_dims(D, chi)
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise InputError(f"steps must be a non-negative integer, got {steps!r}")
    if method != "lbfgs":
        raise InputError(f"method must be 'lbfgs', got {method!r}")
    if env_start not in ("fresh", "previous"):
        raise InputError(f"env_start must be 'fresh' or 'previous', got {env_start!r}")
    if ctm_adjoint_method not in ADJOINT_METHODS:
        raise InputError(f"ctm_adjoint_method must be one of {ADJOINT_METHODS}, got {ctm_adjoint_method!r}")
    if ctm_adjoint_tol is not None and not (float(ctm_adjoint_tol) > 0):
        raise InputError(f"ctm_adjoint_tol must be positive, got {ctm_adjoint_tol!r}")
    if A0 is not None:
        validate_tensor(A0, name="A0")
        if np.shape(A0) != (model.d, D, D, D, D):
            raise InputError(f"A0 must have shape {(model.d, D, D, D, D)}, got {np.shape(A0)}")
        A0 = np.asarray(A0, dtype=np.float64)
    else:
        if key is None or isinstance(key, (int, np.integer)):
            key = jax.random.PRNGKey(0 if key is None else int(key))
        A0 = np.asarray(random_tensor(key, model.d, D))
    A0 = np.asarray(symmetrize(jnp.asarray(A0)))
    A0 = A0 / np.linalg.norm(A0)
    shape = A0.shape
    statics = {"shape": tuple(shape), "chi": int(chi), "tol": float(ctm_tol), "max_iter": int(ctm_max_iter),
               "adjoint_tol": None if ctm_adjoint_tol is None else float(ctm_adjoint_tol),
               "multiplet_tol": None if ctm_multiplet_tol is None else float(ctm_multiplet_tol),
               "adjoint_method": ctm_adjoint_method}
    n = int(np.prod(shape))
    if curvature is not None:
        curvature = _check_curvature(curvature, memory, n)
    h_nn = jnp.asarray(model.h_nn)
    h_nnn = None if model.h_nnn is None else jnp.asarray(model.h_nnn)
    env_init = initial_env(double_layer(jnp.asarray(A0)), chi)
    info_last: dict = {}

    def fun(x, aux, fresh=env_start == "fresh"):
        x = jnp.asarray(x)
        if fresh:
            env0 = _fresh_env(x, shape=statics["shape"], chi=statics["chi"])
        else:
            env0 = CTMEnv(jnp.asarray(aux["C"]), jnp.asarray(aux["T"]))
        (e, (env, info)), g = _energy_value_and_grad(x, env0.C, env0.T, h_nn, h_nnn, **statics)
        info_last["ctm_iterations"] = int(info.iterations)
        return float(e), np.asarray(g, dtype=np.float64).ravel(), {"C": np.asarray(env.C), "T": np.asarray(env.T)}

    meta_expected = {"schema": _CHECKPOINT_SCHEMA, "model": model.name, "params": model.params, "D": D,
                     "chi": chi, "memory": memory, "env_start": env_start, "multiplet_tol": statics["multiplet_tol"]}
    history: list[float] = []
    state = None
    if checkpoint is not None and os.path.exists(checkpoint):
        template = LBFGSState(x=np.zeros(n), f=np.zeros(()), g=np.zeros(n), f_prev=np.zeros(()),
                              S=np.zeros((memory, n)), Y=np.zeros((memory, n)), pairs=np.zeros((), np.int64),
                              step=np.zeros((), np.int64), nfev=np.zeros((), np.int64),
                              aux={"C": np.zeros((chi, chi)), "T": np.zeros((chi, shape[1] ** 2, chi))})
        tree, meta = load_checkpoint(checkpoint, template.as_tree())
        mismatch = {k: (meta.get(k, _META_DEFAULTS.get(k)), v) for k, v in meta_expected.items()
                    if meta.get(k, _META_DEFAULTS.get(k)) != v}
        if mismatch:
            raise CheckpointError(f"checkpoint {os.fspath(checkpoint)!r} belongs to a different run: "
                                  + ", ".join(f"{k}={a!r} (this run: {b!r})" for k, (a, b) in mismatch.items()))
        state = LBFGSState.from_tree(tree)
        history = [float(v) for v in meta.get("history", [])]
        if len(history) != int(state.step) + 1:
            raise CheckpointError(f"checkpoint {os.fspath(checkpoint)!r}: energy history has {len(history)} "
                                  f"entries for {int(state.step)} steps")
        logger.info("resuming from %s at step %d (energy %.12f)", checkpoint, int(state.step), float(state.f))

    def save(st: LBFGSState):
        if checkpoint is not None:
            # the adjoint method (like the tolerances) changes how the gradient is computed, not the
            # objective: recorded, not required to match, so a run can resume with a better solver
            save_checkpoint(checkpoint, st.as_tree(), {**meta_expected, "ctm_adjoint_method": ctm_adjoint_method,
                                                       "history": history})

    if state is None:
        state = init_state(fun, A0.ravel(), memory, {"C": np.asarray(env_init.C), "T": np.asarray(env_init.T)})
        if curvature is not None:
            state = LBFGSState(**{**state.as_tree(), **curvature})
        history = [float(state.f)]
        save(state)
    stopped = "steps"
    while int(state.step) < steps:
        if np.linalg.norm(state.g) <= gtol:
            stopped = "gtol"
            break
        new, ok = lbfgs_step(fun, state)
        if not ok and env_start == "previous":
            # the warm-started environment may sit on a CTMRG branch that ends nearby: re-converge
            # from the tensor's own boundary, forget the curvature pairs, and try once more
            logger.info("L-BFGS: line search failed at step %d; re-converging CTMRG from a fresh start",
                        int(state.step))
            f, g, aux = fun(state.x, state.aux, fresh=True)
            state = LBFGSState(**{**state.as_tree(), "f": np.asarray(f, np.float64), "g": np.asarray(g, np.float64),
                                  "aux": aux, "pairs": np.asarray(0, np.int64), "S": np.zeros_like(state.S),
                                  "Y": np.zeros_like(state.Y), "nfev": np.asarray(int(state.nfev) + 1, np.int64)})
            new, ok = lbfgs_step(fun, state)
        if not ok:
            stopped = "line_search"
            logger.info("L-BFGS: no further decrease found at step %d", int(state.step))
            break
        state = new
        history.append(float(state.f))
        save(state)
        if callback is not None:
            callback({"step": int(state.step), "energy": float(state.f), "grad_norm": float(np.linalg.norm(state.g)),
                      "evaluations": int(state.nfev), "ctm_iterations": info_last.get("ctm_iterations", -1)})
    if stopped == "steps" and np.linalg.norm(state.g) <= gtol:
        stopped = "gtol"
    A = state.x.reshape(shape)
    A = np.asarray(symmetrize(jnp.asarray(A)))
    return IPEPSResult(A=A / np.linalg.norm(A), energy=float(state.f), grad_norm=float(np.linalg.norm(state.g)),
                       steps=int(state.step), evaluations=int(state.nfev), history=history, stopped=stopped,
                       env=CTMEnv(state.aux["C"], state.aux["T"]), model=model.name, D=D, chi=chi,
                       curvature={"S": state.S.copy(), "Y": state.Y.copy(), "pairs": np.asarray(state.pairs)})


def _check_curvature(curvature, memory: int, n: int) -> dict:
    """Validate L-BFGS pairs handed over from an earlier run (same tensor shape and memory)."""
    if not isinstance(curvature, dict) or set(curvature) != {"S", "Y", "pairs"}:
        raise InputError("curvature must be a dict with keys 'S', 'Y', 'pairs' (IPEPSResult.curvature)")
    S, Y = np.asarray(curvature["S"], np.float64), np.asarray(curvature["Y"], np.float64)
    if S.shape != (memory, n) or Y.shape != (memory, n):
        raise InputError(f"curvature pairs have shape {S.shape}/{Y.shape}, this run needs {(memory, n)} "
                         "(same D and memory)")
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(Y))):
        raise InputError("curvature pairs have non-finite entries")
    return {"S": S.copy(), "Y": Y.copy(), "pairs": np.asarray(int(curvature["pairs"]), np.int64)}


__all__ = ["ipeps_energy", "evaluate_ipeps", "optimize_ipeps", "IPEPSResult"]
