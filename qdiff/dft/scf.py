"""Self-consistent field iterations (density mixing).

One iteration maps an input density ρ_in to an output density: build the local
potential V[ρ_in], diagonalise the Hamiltonian at every k-point (all k-points in one
vmapped, compiled program), occupy the bands (Fermi level, smearing), and form ρ_out.
The next input density comes from Anderson (Pulay) acceleration of the residual
ρ_out − ρ_in, preconditioned by Kerker's ``|G|²/(|G|²+k_TF²)`` for metals.  The energy
of iteration n is the Kohn–Sham functional evaluated at (ψ_n, ρ_out,n); convergence
requires both ``|ΔE| < tol_energy`` and ``‖ρ_out − ρ_in‖ < tol_density``
(``‖f‖ = (∫ f²)^{1/2}``, electrons/Bohr^{3/2}).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..checkpoint import load_checkpoint, save_checkpoint
from ..errors import CheckpointError, ConvergenceError, InputError
from .density import compute_density, guess_density
from .energy import TermsData, build_terms_data, energy_terms, ewald, total_local_potential
from .hamiltonian import HamiltonianK, hamiltonian_k, hamiltonian_matrix
from .mixing import KerkerMixing, precondition
from .results import SCFResult
from .terms.projectors import projectors
from .terms.psp_correction import psp_correction_energy

logger = logging.getLogger(__name__)

#: bases with at most this many plane waves are diagonalised densely (the crossover: aluminium at
#: Ecut 15, 331 plane waves, 29 k-points, takes 9.8 s CPU dense and 3.5 s with LOBPCG)
DENSE_MAX_NPW = 200


def _smearing(kind: str, temperature: float):
    from .occupation import Smearing

    return Smearing(kind, temperature)


def _diagonalize_dense(hks, nbands):
    from .eigensolver import dense_eigh

    def one(hk):
        return dense_eigh(hamiltonian_matrix(hk), nbands)

    return jax.vmap(one)(hks)


def _tpa_preconditioner(kinetic, mask, X):
    """Teter–Payne–Allan preconditioner built from the bands' kinetic energies (per column)."""
    ekin = jnp.sum(kinetic[:, None] * jnp.abs(X) ** 2, axis=0) / jnp.maximum(jnp.sum(jnp.abs(X) ** 2, axis=0), 1e-30)
    ekin = jnp.maximum(ekin, 0.1)
    x = kinetic[:, None] / ekin[None, :]
    poly = 27 + 18 * x + 12 * x**2 + 8 * x**3
    diag = poly / (poly + 16 * x**4) / ekin[None, :] * mask[:, None]

    def precond(R, eigenvalues=None):
        return R * diag

    return precond


def _hamiltonian_k(data, V, P, D, ik_arrays):
    """The :class:`HamiltonianK` of one k-point from its per-k arrays and the shared V, D (once per SCF step)."""
    kinetic, mask, fft_idx, Pk = ik_arrays
    return hamiltonian_k(kinetic, mask, fft_idx, V, Pk, D, data.fft_size, data.volume, box=data.sphere_box)


def _diagonalize_lobpcg(data, kinetic, V, P, D, psi0, band_tol, nbands, maxiter):
    """Lowest eigenpairs per k-point by LOBPCG warm-started from ``psi0``.

    The k-points are solved one after the other (``lax.map``), each with its own number of
    iterations; batching them with ``vmap`` would make every k-point iterate as long as the
    slowest one.  ``psi0`` may carry extra (buffer) columns beyond ``nbands``: they speed up
    convergence and need not converge.  ``band_tol`` (nk, m) is each column's residual
    tolerance.  Returns eigenvalues/vectors of all columns and the iterations per k-point.
    """
    from .eigensolver import lobpcg
    from .hamiltonian import apply_hamiltonian

    def one(args):
        kin, mask, fft_idx, Pk, x0, tol = args
        hk = _hamiltonian_k(data, V, P, D, (kin, mask, fft_idx, Pk))
        x0 = x0 * mask[:, None]
        precond = _tpa_preconditioner(kin, mask, x0)
        lam, X, info = lobpcg(lambda X: apply_hamiltonian(hk, X), x0, precond=precond, tol=tol,
                              maxiter=maxiter, n_conv=nbands, recompute_residuals=False)
        return lam, X * mask[:, None], info.iterations

    return jax.lax.map(one, (kinetic, data.mask, data.fft_idx, P, psi0, band_tol))


def _local_and_nonlocal(data, td, functional, positions, rho_in, terms):
    """Total local potential V[ρ_in] on the grid and the projectors ``P`` (nk, npw, nproj), couplings ``D``."""
    include = tuple(t for t in ("local", "hartree", "xc") if t in terms)
    V = total_local_potential(data, td, functional, positions, rho_in, include=include)
    if "nonlocal" in terms:
        P = projectors(data, td.proj_radial, td.proj_atom, positions)
        D = td.proj_D
    else:
        P = jnp.zeros(data.G.shape[:2] + (0,), complex)
        D = jnp.zeros((0, 0))
    kinetic = data.kinetic if "kinetic" in terms else jnp.zeros_like(data.kinetic)
    return V, P, D, kinetic


@functools.partial(jax.jit, static_argnames=("functional", "nbands", "n_electrons", "smearing", "temperature",
                                             "solver", "terms"))
def scf_step(data, td: TermsData, positions, rho_in, psi0, psp_corr, e_ewald, band_tol, eig_maxiter=100, *,
             functional, nbands, n_electrons, smearing, temperature, solver, terms):
    """One SCF map ρ_in -> (eigenpairs, occupations, ρ_out, energies); compiled once per shape.

    ``band_tol`` (nk, m): the LOBPCG residual tolerance of every column of ``psi0``, and
    ``eig_maxiter`` its iteration limit (both traced; ignored by the dense solver).

    Returns:
      dict with ``eigenvalues`` (nk, nb), ``psi`` (nk, npw, nb), ``occupation``, ``fermi_level``,
      ``entropy`` (S), ``rho`` (ρ_out) and ``energies`` (dict of terms).
    """
    from .occupation import occupations

    V, P, D, kinetic = _local_and_nonlocal(data, td, functional, positions, rho_in, terms)
    nk = data.kcoords.shape[0]
    if solver == "dense":
        hks = HamiltonianK(kinetic, data.mask, data.fft_idx, jnp.broadcast_to(V, (nk,) + V.shape), P,
                           jnp.broadcast_to(D, (nk,) + D.shape), data.fft_size, data.volume, box=data.sphere_box)
        eig, psi = _diagonalize_dense(hks, psi0.shape[-1])
        eig_iters = jnp.zeros(nk, int)
    else:
        eig, psi, eig_iters = _diagonalize_lobpcg(data, kinetic, V, P, D, psi0, band_tol, nbands, eig_maxiter)
    psi_full = psi
    eig, psi = eig[:, :nbands], psi[:, :, :nbands]
    occ = occupations(eig, data.kweights, n_electrons, _smearing(smearing, temperature))
    rho_out = compute_density(data, psi, occ.occupation)
    entropy_term = occ.entropy  # −TS
    en = energy_terms(data, td, functional, positions, psi, occ.occupation, rho_out,
                      psp_correction=psp_corr, entropy_term=entropy_term, terms=terms,
                      ewald_energy=e_ewald)
    return dict(eigenvalues=eig, psi=psi, psi_full=psi_full, eig_iterations=eig_iters, occupation=occ.occupation,
                fermi_level=occ.fermi_level, minus_ts=occ.entropy, rho=rho_out, energies=en)


@functools.partial(jax.jit, static_argnames=("functional", "terms", "nvec", "nsub"))
def _subspace_guess(data, td: TermsData, positions, rho_in, *, functional, terms, nvec, nsub):
    """Starting orbitals: the lowest ``nvec`` eigenvectors of ``H[ρ_in]`` restricted to the
    ``nsub`` plane waves of lowest kinetic energy at each k-point (a dense diagonalisation),
    embedded in the full sphere.  Much closer to the Kohn–Sham orbitals than random vectors, so
    the first SCF step needs a few LOBPCG iterations instead of tens.
    """
    from .hamiltonian import hamiltonian_matrix

    V, P, D, kinetic = _local_and_nonlocal(data, td, functional, positions, rho_in, terms)

    def one(args):
        kin, mask, fft_idx, Pk = args
        order = jnp.argsort(jnp.where(mask > 0, kin, jnp.inf))[:nsub]
        hsub = _hamiltonian_k(data, V, P, D, (kin[order], mask[order], fft_idx[order], Pk[order]))
        _, vec = jnp.linalg.eigh(hamiltonian_matrix(hsub))
        return jnp.zeros((kin.shape[0], nvec), vec.dtype).at[order].set(vec[:, :nvec])

    return jax.lax.map(one, (kinetic, data.mask, data.fft_idx, P))


#: eigensolver residual tolerance of the first SCF iteration
FIRST_EIG_TOL = 1e-3
#: later iterations: occupied bands to EIG_TOL_RATIO × the density residual norm, clamped to
#: [EIG_TOL_MIN, EIG_TOL_MAX] (loose while the density is far from self-consistency)
EIG_TOL_RATIO = 0.05
EIG_TOL_MIN = 1e-10
EIG_TOL_MAX = 1e-3
#: LOBPCG iteration limits per SCF iteration (first, later)
FIRST_EIG_MAXITER = 100
EIG_MAXITER = 100
#: empty bands only need accurate eigenvalues, whose error is ~ residual²/gap: they are converged
#: to max(EMPTY_BAND_TOL, occupied tolerance); a band with occupation f to (2/f)× the occupied one
EMPTY_BAND_TOL = 1e-5
#: plane waves of the dense subspace diagonalisation giving the first SCF step's orbitals
SUBSPACE_GUESS_NPW = 200

#: extra (unconverged) buffer bands carried by the iterative eigensolver
N_BUFFER_BANDS = 2


def _initial_orbitals(basis, seed: int = 0):
    """Random normalised starting orbitals (plus buffer bands), damped at high kinetic energy."""
    data = basis.data
    rng = np.random.default_rng(seed)
    nk, npw = data.mask.shape
    nb = min(basis.nbands + N_BUFFER_BANDS, int(np.min(basis.n_planewaves)))
    x = rng.standard_normal((nk, npw, nb)) + 1j * rng.standard_normal((nk, npw, nb))
    x *= (np.asarray(data.mask) / (1.0 + np.asarray(data.kinetic)))[..., None]
    q, _ = np.linalg.qr(x)
    return jnp.asarray(q)


def _band_tolerances(occupation, eig_tol: float, shape, nbands: int, n_electrons: int):
    """LOBPCG residual tolerance of each column, (nk, m).

    Occupied bands (occupation 2) get ``eig_tol``; a band with occupation ``f`` contributes ``f·|ψ|²``
    to the density, so it gets ``eig_tol·2/f``, capped at ``max(EMPTY_BAND_TOL, eig_tol)`` (empty bands:
    only their eigenvalues are reported, with an error quadratic in the residual).  Buffer columns
    beyond ``nbands`` need not converge (inf).  Before the first occupations are known, the lowest
    ⌈N/2⌉ bands count as occupied.
    """
    nk, m = shape
    if occupation is None:
        occupation = np.zeros((nk, nbands))
        occupation[:, : math.ceil(n_electrons / 2)] = 2.0
    occ = np.asarray(occupation, float)
    cap = max(EMPTY_BAND_TOL, eig_tol)
    with np.errstate(divide="ignore"):
        band = np.where(occ > 0, eig_tol * 2.0 / np.where(occ > 0, occ, 1.0), np.inf)
    tol = np.full((nk, m), np.inf)
    tol[:, :nbands] = np.minimum(band, cap)
    return jnp.asarray(tol)


def _eig_maxiter(iteration: int) -> int:
    """LOBPCG iteration limit of an SCF iteration: :data:`FIRST_EIG_MAXITER` in the first,
    :data:`EIG_MAXITER` later."""
    return FIRST_EIG_MAXITER if iteration == 1 else EIG_MAXITER


def _eig_tol(residual: float) -> float:
    """Occupied-band eigensolver tolerance for a density residual norm (see :data:`EIG_TOL_RATIO`)."""
    return float(np.clip(EIG_TOL_RATIO * residual, EIG_TOL_MIN, EIG_TOL_MAX))


def _subspace_size(basis, nvec: int) -> int:
    """Plane waves of the first step's dense subspace diagonalisation: :data:`SUBSPACE_GUESS_NPW`,
    at least 4× the number of vectors, at most the smallest sphere."""
    return int(min(np.min(basis.n_planewaves), max(SUBSPACE_GUESS_NPW, 4 * nvec)))


def self_consistent_field(basis, *, tol_energy: float = 1e-10, tol_density: float = 1e-6, maxiter: int = 60,
                          mixing: str = "auto", beta: float = 0.8, anderson_m: int = 8, k_tf: float = 0.8,
                          solver: str = "auto", callback=None, rho0=None, positions=None,
                          raise_on_failure: bool = True, checkpoint=None) -> SCFResult:
    """Run the SCF to self-consistency.

    Args:
      basis: :class:`~qdiff.dft.basis.PlaneWaveBasis` (its model holds the structure).
      tol_energy: stop when the energy changes by less than this between iterations (Hartree) …
      tol_density: … and the density residual norm is below this (electrons/Bohr^{3/2}).
      maxiter: maximum number of iterations.
      mixing: "kerker", "simple" or "auto" (Kerker when the model has smearing).
      beta: mixing damping.
      anderson_m: Anderson history length (0 = plain damped mixing).
      k_tf: Kerker screening wave vector (1/Bohr).
      solver: "dense", "lobpcg" or "auto" (dense up to :data:`DENSE_MAX_NPW` plane waves).
      callback: called after each iteration with a dict (iteration, energy, delta_energy,
        residual, fermi_level, time).
      rho0: initial density (default: superposed atomic Gaussians).
      positions: reduced positions overriding the model's (same shape).
      raise_on_failure: raise :class:`~qdiff.errors.ConvergenceError` (with the last
        :class:`SCFResult` as ``.state``) when not converged; else return it with
        ``converged=False``.
      checkpoint: optional file path.  After every iteration the next input density, the
        orbitals and the history are written there atomically; if the file exists when the
        SCF starts, the run resumes from it (it must belong to the same system and basis,
        else :class:`~qdiff.errors.CheckpointError`).

    Returns:
      :class:`~qdiff.dft.results.SCFResult`.
    """
    from ..primitives.anderson import anderson_init, anderson_step

    model = basis.model
    data = basis.data
    for name, v in (("tol_energy", tol_energy), ("tol_density", tol_density)):
        if not (v > 0):
            raise InputError(f"{name} must be > 0, got {v}")
    if int(maxiter) < 1:
        raise InputError(f"maxiter must be >= 1, got {maxiter}")
    if mixing not in ("auto", "kerker", "simple"):
        raise InputError(f"mixing must be 'auto', 'kerker' or 'simple', got {mixing!r}")
    if solver not in ("auto", "dense", "lobpcg"):
        raise InputError(f"solver must be 'auto', 'dense' or 'lobpcg', got {solver!r}")
    pos = jnp.asarray(model.positions if positions is None else positions, dtype=float)
    if pos.shape != model.positions.shape:
        raise InputError(f"positions must have shape {model.positions.shape}, got {pos.shape}")
    if solver == "auto":
        solver = "dense" if basis.npw <= DENSE_MAX_NPW else "lobpcg"
    if mixing == "auto":
        mixing = "kerker" if model.smearing != "none" else "simple"
    # the step size is Anderson's `beta`, so the shared Kerker filter runs with alpha = 1
    kerker = KerkerMixing(alpha=1.0, kTF=k_tf) if mixing == "kerker" else None
    td = build_terms_data(basis)
    psp_corr = psp_correction_energy(model) if "psp_correction" in model.terms else 0.0
    e_ewald = float(ewald(data.lattice, td.charges, pos)) if "ewald" in model.terms else 0.0
    rho = guess_density(basis, np.asarray(pos)) if rho0 is None else jnp.asarray(rho0)
    if rho.shape != tuple(basis.fft_size):
        raise InputError(f"rho0 must have the FFT grid shape {basis.fft_size}, got {rho.shape}")
    psi = _initial_orbitals(basis)
    static = dict(functional=model.functional, nbands=basis.nbands, n_electrons=model.n_electrons,
                  smearing=model.smearing, temperature=model.temperature, solver=solver, terms=model.terms)
    history = []
    fingerprint = _fingerprint(basis, pos)
    if checkpoint is not None and os.path.exists(checkpoint):
        (rho, psi), meta = load_checkpoint(checkpoint, (rho, psi))
        if meta.get("fingerprint") != fingerprint:
            raise CheckpointError(f"checkpoint {checkpoint!r} belongs to another system or basis")
        history = list(meta.get("history", []))
        logger.info("resuming SCF from %s after %d iterations", checkpoint, len(history))
    dv = basis.model.volume / rho.size
    state = anderson_init(rho.reshape(-1), max(anderson_m, 1))
    shape = rho.shape
    flat_precond = None if kerker is None else kerker.preconditioner(data.G2grid)
    e_prev = history[-1]["energy"] if history else None
    out = None
    converged = False
    eig_tol = _eig_tol(history[-1]["residual"]) if history else FIRST_EIG_TOL
    occupation = None
    if solver == "lobpcg" and not history:  # a fresh start: orbitals from a small dense problem
        psi = _subspace_guess(data, td, pos, rho, functional=model.functional, terms=model.terms,
                              nvec=psi.shape[-1], nsub=_subspace_size(basis, psi.shape[-1]))
    t0 = time.perf_counter()
    for it in range(len(history) + 1, int(maxiter) + 1):
        band_tol = _band_tolerances(occupation, eig_tol, psi.shape[::2], basis.nbands, model.n_electrons)
        out = scf_step(data, td, pos, rho, psi, psp_corr, e_ewald, band_tol, _eig_maxiter(it), **static)
        occupation = out["occupation"]
        psi = out["psi_full"]
        energy = float(sum(out["energies"].values()))
        resid = out["rho"] - rho
        rnorm = float(jnp.sqrt(jnp.sum(resid**2) * dv))
        de = np.inf if e_prev is None else energy - e_prev
        info = dict(iteration=it, energy=energy, delta_energy=de, residual=rnorm,
                    eig_iterations=int(jnp.max(out["eig_iterations"])),
                    eig_iterations_total=int(jnp.sum(out["eig_iterations"])),
                    fermi_level=float(out["fermi_level"]), time=time.perf_counter() - t0)
        history.append(info)
        logger.info("SCF %3d  E=%.12f  dE=%.3e  |drho|=%.3e", it, energy, de, rnorm)
        if callback is not None:
            callback(dict(info))
        if abs(de) < tol_energy and rnorm < tol_density:
            converged = True
            break
        e_prev = energy
        eig_tol = _eig_tol(rnorm)
        if anderson_m > 0:
            rho, state = anderson_step(state, rho.reshape(-1), out["rho"].reshape(-1), beta=beta,
                                       precond=flat_precond)
            rho = rho.reshape(shape)
        else:
            step = resid if kerker is None else precondition(kerker, resid, data.G2grid)
            rho = rho + beta * step
        if checkpoint is not None:
            save_checkpoint(checkpoint, (rho, psi), {"fingerprint": fingerprint, "history": _jsonable(history)})
    if out is None:  # resumed from a checkpoint that already used up maxiter
        band_tol = _band_tolerances(occupation, eig_tol, psi.shape[::2], basis.nbands, model.n_electrons)
        out = scf_step(data, td, pos, rho, psi, psp_corr, e_ewald, band_tol, _eig_maxiter(len(history) + 1), **static)
    result = _make_result(basis, out, pos, history, converged)
    if not converged and raise_on_failure:
        raise ConvergenceError(
            f"SCF not converged in {maxiter} iterations (last |dE|={history[-1]['delta_energy']:.3e} Ha, "
            f"residual={history[-1]['residual']:.3e}); the last state is in .state", state=result)
    return result


def _fingerprint(basis, pos) -> str:
    """A string identifying system and basis (for checkpoint validation)."""
    m = basis.model
    parts = [np.round(m.lattice, 10).tolist(), list(m.symbols), np.round(np.asarray(pos), 10).tolist(),
             m.functional, m.smearing, m.temperature, basis.ecut, list(basis.kpoints.kgrid),
             list(basis.kpoints.kshift), list(basis.fft_size), basis.nbands]
    return repr(parts)


def _jsonable(history):
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in h.items()} for h in history]


def _make_result(basis, out, pos, history, converged) -> SCFResult:
    energies = {k: float(v) for k, v in out["energies"].items()}
    return SCFResult(basis=basis, energies=energies, energy=float(sum(energies.values())),
                     eigenvalues=np.asarray(out["eigenvalues"]), occupations=np.asarray(out["occupation"]),
                     fermi_level=float(out["fermi_level"]), density=np.asarray(out["rho"]),
                     psi=np.asarray(out["psi"]), positions=np.asarray(pos), history=history,
                     converged=converged, n_iterations=len(history),
                     entropy=(-float(out["minus_ts"]) / basis.model.temperature if basis.model.temperature > 0
                              else 0.0))
