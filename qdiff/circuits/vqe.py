"""Variational quantum eigensolver: minimise ``⟨ψ(θ)|H|ψ(θ)⟩`` with an optax optimiser.

Each step evaluates the energy and its full gradient with the reversible
adjoint (one jit-compiled function per circuit), and applies one optimiser
update.  With ``checkpoint=path`` the parameters, optimiser state, step number
and history are written atomically every ``checkpoint_every`` steps (and at the
end); a later call with the same path resumes from the last checkpoint, so an
interrupted run loses no step and repeats none.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import InputError
from ..progress import ProgressBar, compose
from .ansatz import random_params
from .compile import compile_circuit
from .expect import value_and_grad
from .observables import Observable, check_observable
from .simulate import check_params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VQEResult:
    """Outcome of :func:`vqe`.

    Attributes:
      params: final parameters (float64, gate order).
      energy: energy before each step (length ``steps``), in the observable's units.
      grad_norm: Euclidean norm of the gradient at each step.
      seconds: wall-clock seconds of each step (energy + gradient + update).
      resumed_from: step the run resumed from (0 for a fresh run).
    """

    params: np.ndarray
    energy: np.ndarray
    grad_norm: np.ndarray
    seconds: np.ndarray
    resumed_from: int = 0

    @property
    def final_energy(self) -> float:
        return float(self.energy[-1]) if len(self.energy) else float("nan")


def _make_step(obs, circuit, optimizer, state):
    import optax

    vg = value_and_grad(obs, circuit, jit=False)

    @jax.jit
    def step(params, opt_state):
        e, g = vg(params, state)
        updates, opt_state = optimizer.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, e, jnp.linalg.norm(g)

    return step


@lru_cache(maxsize=16)
def _default_step(obs, circuit, lr):
    """Jitted step of the default Adam optimiser, cached so repeated/resumed runs compile once."""
    import optax

    opt = optax.adam(lr)
    return opt, _make_step(obs, circuit, opt, None)


def vqe(obs: Observable, circuit, params=None, *, steps: int = 100, optimizer=None, lr: float = 0.01,
        seed: int = 0, state=None, checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 10,
        callback: Callable[[dict], None] | None = None, progress: bool = False) -> VQEResult:
    """Train ``circuit`` to minimise the energy of ``obs``.

    Args:
      obs: the Hamiltonian (an :class:`~qdiff.circuits.observables.Observable`).
      circuit: a parametrised block.
      params: initial parameters; default uniform in ``[0, 2π)`` from ``seed``.
      steps: total number of optimisation steps (including those done before a resume).
      optimizer: an ``optax.GradientTransformation``; default ``optax.adam(lr)``.
      lr: learning rate of the default optimiser.
      seed: PRNG seed of the default initial parameters.
      state: input state (default ``|0…0⟩``).
      checkpoint: file to write checkpoints to and resume from.
      checkpoint_every: steps between checkpoints.
      callback: called after each step with ``{"step", "energy", "grad_norm", "seconds"}``.
      progress: draw a progress bar (energy, gradient norm) on stderr.

    Returns:
      :class:`VQEResult` with the history of the whole run (resumed steps included).

    Raises:
      InputError: bad steps/lr/checkpoint_every, observable on more qubits, bad parameters.
      CheckpointError: the checkpoint belongs to a different circuit or optimiser.
    """
    import optax

    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"vqe: steps must be a positive integer, got {steps!r}")
    if not (isinstance(checkpoint_every, (int, np.integer)) and checkpoint_every >= 1):
        raise InputError(f"vqe: checkpoint_every must be a positive integer, got {checkpoint_every!r}")
    step_fn = None
    if optimizer is None:
        if not (np.isfinite(lr) and lr > 0):
            raise InputError(f"vqe: lr must be a positive number, got {lr!r}")
        if state is None:
            optimizer, step_fn = _default_step(obs, circuit, float(lr))
        else:
            optimizer = optax.adam(lr)
    program = compile_circuit(circuit)
    check_observable(obs, program.n)
    if params is None:
        params = random_params(circuit, jax.random.PRNGKey(seed))
    params = check_params(program, params)
    if params.ndim != 1:
        raise InputError("vqe: params must be one parameter vector, not a batch")
    opt_state = optimizer.init(params)
    history = {"energy": [], "grad_norm": [], "seconds": []}
    start = 0
    if checkpoint is not None and os.path.exists(checkpoint):
        template = {"params": params, "opt_state": opt_state, "step": np.int64(0)}
        tree, meta = load_checkpoint(checkpoint, template)
        params, opt_state, start = jnp.asarray(tree["params"]), tree["opt_state"], int(tree["step"])
        opt_state = jax.tree_util.tree_map(jnp.asarray, opt_state)
        history = {k: list(meta.get("history", {}).get(k, [])) for k in history}
        log.info("resumed from %s at step %d", checkpoint, start)
    if step_fn is None:
        step_fn = _make_step(obs, circuit, optimizer, state)
    bar = ProgressBar(steps, desc="vqe", keys=("energy", "grad_norm")) if progress else None
    if bar is not None:
        bar._bar.update(min(start, steps))
    notify = compose(bar, callback)

    def save(step):
        save_checkpoint(checkpoint, {"params": params, "opt_state": opt_state, "step": np.int64(step)},
                        {"history": history, "nparams": int(program.nparams), "steps": int(steps)})

    try:
        for k in range(start, steps):
            t0 = time.perf_counter()
            params, opt_state, e, gn = step_fn(params, opt_state)
            e, gn = float(e), float(gn)
            dt = time.perf_counter() - t0
            if not np.isfinite(e):
                raise FloatingPointError(f"vqe: energy became {e} at step {k}")
            history["energy"].append(e)
            history["grad_norm"].append(gn)
            history["seconds"].append(dt)
            notify({"step": k, "energy": e, "grad_norm": gn, "seconds": dt})
            if checkpoint is not None and ((k + 1) % checkpoint_every == 0 or k + 1 == steps):
                save(k + 1)
    finally:
        if bar is not None:
            bar.close()
    return VQEResult(np.asarray(params), np.asarray(history["energy"]), np.asarray(history["grad_norm"]),
                     np.asarray(history["seconds"]), start)
