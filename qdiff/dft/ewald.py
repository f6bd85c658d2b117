"""Ion–ion (Ewald) energy of point charges in a periodic cell with a neutralising background.

Atomic units: charges in e, lengths in Bohr, energy in Hartree.  With splitting parameter η
(Bohr⁻¹), cell volume Ω, reciprocal vectors G and total charge Q = Σ Z_i:

    E = ½ Σ_{i,j,L}' Z_i Z_j erfc(η|r_ij + L|)/|r_ij + L|                 (real space, L lattice)
      + (2π/Ω) Σ_{G≠0} e^{−G²/(4η²)}/G² |Σ_j Z_j e^{iG·r_j}|²          (reciprocal space)
      − (η/√π) Σ_i Z_i²                                                (self term)
      − π Q²/(2 η² Ω)                                                  (uniform background)

where the prime drops i = j at L = 0.  The result does not depend on η.  The summation ranges
(integer lattice translations and G vectors) are chosen by :func:`ewald_setup` from a concrete
lattice, outside any differentiated function; :func:`ewald_energy` is then an ordinary JAX function
of ``lattice`` and ``positions`` (and ``charges``): forces are −∂E/∂R and the stress comes from
∂E/∂lattice with the same, fixed ranges (exact for the strains used in differentiation).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erfc

from ..errors import InputError

__all__ = ["EwaldSetup", "ewald_setup", "ewald_energy"]

# erfc(x) and exp(−x²) are below ~2e-17 for x ≥ 6: terms beyond contribute < 1e-14 Ha in total.
_DEFAULT_TAIL = 6.0
_REAL_SPACE_BLOCK = 1 << 21  # pair-translation distances evaluated at once in the real-space sum


@dataclass(frozen=True, eq=False)
class EwaldSetup:
    """Static data of an Ewald sum (numpy arrays built from a concrete lattice).

    Attributes:
      eta: splitting parameter η (Bohr⁻¹).
      translations: int array (nL, 3) of lattice translations n (L = lattice @ n), including 0.
      gvectors: int array (nG, 3) of reciprocal-lattice vectors m ≠ 0 (G = 2π inv(lattice).T @ m).
    """

    eta: float
    translations: np.ndarray
    gvectors: np.ndarray


def _check_lattice(lattice) -> np.ndarray:
    a = np.asarray(lattice, dtype=np.float64)
    if a.shape != (3, 3):
        raise InputError(f"lattice has shape {a.shape}; expected (3, 3) with lattice vectors as columns")
    if not np.all(np.isfinite(a)):
        raise InputError("lattice contains non-finite entries")
    det = np.linalg.det(a)
    if abs(det) < 1e-8 * max(1.0, np.max(np.abs(a))) ** 3:
        raise InputError(f"lattice is singular (volume {det:.3e} Bohr^3)")
    return a


def _box(limit: float, spacing_inv: np.ndarray) -> np.ndarray:
    """All integer triples with |n_i| ≤ ceil(limit · spacing_inv_i)."""
    nmax = np.ceil(limit * spacing_inv).astype(int)
    axes = [np.arange(-m, m + 1) for m in nmax]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def ewald_setup(lattice, *, eta: float | None = None, tail: float = _DEFAULT_TAIL) -> EwaldSetup:
    """Choose η and the real/reciprocal summation ranges for a lattice (numpy, not traced).

    Real-space translations L = A n are kept when |L| ≤ tail/η + D (D = the largest distance
    between two points of the cell after minimum-image wrapping of reduced coordinates), so every
    pair within erfc-range is included for any atomic positions; G vectors with
    |G| ≤ 2η·tail.  The default η = √π / Ω^{1/3} balances the two sums.

    Args:
      lattice: (3, 3) lattice vectors as columns (Bohr); concrete numbers.
      eta: splitting parameter (Bohr⁻¹); default balanced choice.
      tail: erfc / Gaussian cutoff argument (6 gives ~1e-16 relative truncation).
    """
    if isinstance(lattice, jax.core.Tracer):
        raise InputError(
            "lattice is a traced value: build the Ewald ranges outside jit/grad with "
            "ewald_setup(numpy_lattice) and pass setup=... to ewald_energy"
        )
    a = _check_lattice(lattice)
    volume = abs(np.linalg.det(a))
    if eta is None:
        eta = math.sqrt(math.pi) / volume ** (1.0 / 3.0)
    if not (eta > 0 and math.isfinite(eta)):
        raise InputError(f"eta={eta!r}: must be a positive number")
    if not tail > 0:
        raise InputError(f"tail={tail!r}: must be positive")
    b = 2.0 * math.pi * np.linalg.inv(a).T  # reciprocal vectors as columns
    # distance between lattice planes i is 2π/|b_i|; between reciprocal planes 2π/|a_i|
    corners = np.array([[sx, sy, sz] for sx in (-0.5, 0.5) for sy in (-0.5, 0.5) for sz in (-0.5, 0.5)])
    diam = np.max(np.linalg.norm(corners @ a.T, axis=1))
    rmax = tail / eta + diam
    n = _box(rmax, np.linalg.norm(b, axis=0) / (2.0 * math.pi))
    n = n[np.linalg.norm(n @ a.T, axis=1) <= rmax]
    gmax = 2.0 * eta * tail
    m = _box(gmax, np.linalg.norm(a, axis=0) / (2.0 * math.pi))
    gnorm = np.linalg.norm(m @ b.T, axis=1)
    m = m[(gnorm <= gmax) & np.any(m != 0, axis=1)]
    return EwaldSetup(eta=float(eta), translations=n.astype(np.int64), gvectors=m.astype(np.int64))


def ewald_energy(lattice, charges, positions, *, setup: EwaldSetup | None = None):
    """Ewald ion–ion energy (Hartree) of point charges with a neutralising background.

    Args:
      lattice: (3, 3), lattice vectors as columns (Bohr).  May be traced (stress) if ``setup``
        is given.
      charges: (natoms,) ionic charges Z_i (e).
      positions: (natoms, 3) reduced (fractional) coordinates; r_i = lattice @ positions[i].
      setup: precomputed ranges from :func:`ewald_setup`; required when ``lattice`` is traced
        (under jit/grad with respect to the lattice), built from ``lattice`` otherwise.

    Returns:
      scalar energy (Hartree).  Differentiable with respect to lattice, charges and positions.
      Forces on atom i: F_i = −inv(lattice).T @ ∂E/∂positions[i] (Cartesian, Ha/Bohr).
    """
    pos_shape = np.shape(positions)
    if len(pos_shape) != 2 or pos_shape[1] != 3 or pos_shape[0] < 1:
        raise InputError(f"positions has shape {pos_shape}; expected (natoms, 3) reduced coordinates")
    if np.shape(charges) != (pos_shape[0],):
        raise InputError(f"charges has shape {np.shape(charges)}; expected ({pos_shape[0]},)")
    if np.shape(lattice) != (3, 3):
        raise InputError(f"lattice has shape {np.shape(lattice)}; expected (3, 3)")
    if setup is None:
        setup = ewald_setup(lattice)
    natoms = pos_shape[0]
    n, wn = _padded(setup.translations)
    m, wm = _padded(setup.gvectors)
    chunk = max(1, min(natoms, _REAL_SPACE_BLOCK // max(1, natoms * len(n))))
    return _ewald(jnp.asarray(lattice, dtype=float), jnp.asarray(charges, dtype=float),
                  jnp.asarray(positions, dtype=float), n, wn, m, wm, setup.eta, chunk)


def _padded(vectors: np.ndarray):
    """Pad an integer vector list to the next power of two (≥ 64) with zero-weight rows.

    Cells of similar size then share one compiled Ewald program.
    """
    count = len(vectors)
    size = max(64, 1 << int(math.ceil(math.log2(max(count, 1)))))
    out = np.zeros((size, 3))
    out[:count] = vectors
    weights = np.zeros(size)
    weights[:count] = 1.0
    return jnp.asarray(out), jnp.asarray(weights)


@functools.partial(jax.jit, static_argnums=8)
def _ewald(a, z, x, n, wn, m, wm, eta, chunk):
    """The four Ewald terms summed over fixed ranges n (translations) and m (G vectors).

    ``wn``/``wm`` are 1 for real entries and 0 for padding.  The real-space sum runs over atoms i
    in blocks of ``chunk`` rows (memory ~ chunk·N·nL).
    """
    volume = jnp.abs(jnp.linalg.det(a))

    # real space: pairs (i, j) with minimum-image reduced difference, plus translations
    def row(args):
        xi, zi = args
        d = xi[None, :] - x
        d = d - jax.lax.stop_gradient(jnp.round(d))
        frac = d[:, None, :] + n[None, :, :]  # (N, nL, 3)
        r2 = jnp.sum((frac @ a.T) ** 2, axis=-1)
        excluded = (r2 < 1e-20) | (wn[None, :] == 0.0)  # i = j at L = 0, and padding
        r = jnp.sqrt(jnp.where(excluded, 1.0, r2))
        return zi * jnp.sum(z[:, None] * jnp.where(excluded, 0.0, erfc(eta * r) / r))

    e_real = 0.5 * jnp.sum(jax.lax.map(row, (x, z), batch_size=chunk))

    # reciprocal space: G·r_j = 2π m·x_j does not depend on the lattice
    b = 2.0 * jnp.pi * jnp.linalg.inv(a).T
    g2 = jnp.where(wm > 0.0, jnp.sum((m @ b.T) ** 2, axis=-1), 1.0)
    phase = 2.0 * jnp.pi * (m @ x.T)  # (nG, N)
    s_re = jnp.cos(phase) @ z
    s_im = jnp.sin(phase) @ z
    e_recip = 2.0 * jnp.pi / volume * jnp.sum(wm * jnp.exp(-g2 / (4.0 * eta**2)) / g2 * (s_re**2 + s_im**2))

    e_self = -eta / jnp.sqrt(jnp.pi) * jnp.sum(z**2)
    e_background = -jnp.pi * jnp.sum(z) ** 2 / (2.0 * eta**2 * volume)
    return e_real + e_recip + e_self + e_background
