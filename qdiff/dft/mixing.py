"""Density-mixing preconditioners for the SCF: simple (damped) and Kerker mixing.

An SCF step maps an input density ``ρ_in`` to an output density ``ρ_out``; the
density residual is ``R = ρ_out − ρ_in`` on the real-space FFT grid.  Linear mixing
steps to ``ρ_in + P R`` with a preconditioner ``P`` diagonal in reciprocal space:

* :class:`SimpleMixing` — ``P̂(G) = α``;
* :class:`KerkerMixing` — ``P̂(G) = α·G²/(G² + k_TF²)`` for ``G ≠ 0`` and
  ``P̂(0) = 0``: the ``G = 0`` component of the residual (the change of the total
  charge, zero for a charge-conserving SCF) is removed explicitly, so the mixed
  density keeps exactly the electron count of ``ρ_in``.

Why Kerker: near ``G → 0`` a metal's SCF map amplifies long-wavelength errors by
the dielectric function.  In the Thomas–Fermi model ``χ₀ = −k_TF²/4π`` and
``v_H(G) = 4π/G²``, the linearised residual is ``R̂(G) = −ε(G)·ê(G)`` with
``ε(G) = 1 + k_TF²/G²`` (``e = ρ_in − ρ*``), so simple mixing contracts the error by
``1 − α·ε(G)``: it diverges for the smallest ``G`` unless ``α < 2/ε(G_min) ∝ L⁻²`` —
"charge sloshing", worse for every larger cell.  Kerker's ``P̂`` is exactly
``α/ε(G)``, so every Fourier component contracts by the same factor ``1 − α``,
independent of ``G`` and of the cell size.

The preconditioners act on arrays on the FFT grid (:func:`precondition`) or on
their Fourier coefficients (:func:`precondition_fourier`); :meth:`preconditioner`
gives the linear map on *flattened* grids expected by
``qdiff.primitives.anderson.anderson_step(..., precond=...)`` (use ``beta=1`` there:
the mixing parameter ``α`` is already inside ``P``).  Units: ``G²`` and ``k_TF²``
in Bohr⁻².
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp

from ..errors import InputError

__all__ = ["SimpleMixing", "KerkerMixing", "precondition", "precondition_fourier"]


def _check_alpha(alpha):
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"mixing alpha must be a real number, got {alpha!r}") from None
    if not (0.0 < alpha < 2.0):
        raise InputError(f"mixing alpha must lie in (0, 2) (|1 − α| < 1 for convergence), got {alpha}")
    return alpha


@dataclass(frozen=True)
class SimpleMixing:
    """Damped linear mixing ``ρ ← ρ + α·R``.

    Attributes:
      alpha: mixing parameter ``α`` in (0, 2).
    """

    alpha: float = 0.8

    def __post_init__(self):
        object.__setattr__(self, "alpha", _check_alpha(self.alpha))

    def factor(self, g2):
        """``P̂(G) = α`` on the grid of ``|G|²`` values."""
        g2 = jnp.asarray(g2)
        return jnp.full(g2.shape, self.alpha, dtype=jnp.real(g2).dtype)

    def preconditioner(self, g2, *, fft: tuple[Callable, Callable] | None = None):
        """Linear map on flattened real-space grids: ``r ↦ flat(precondition(self, r, g2))``."""
        return _flat_map(self, g2, fft)


@dataclass(frozen=True)
class KerkerMixing:
    """Kerker mixing ``R̂(G) ← α·G²/(G² + k_TF²)·R̂(G)``, ``R̂(0) ← 0``.

    Attributes:
      alpha: mixing parameter ``α`` in (0, 2).
      kTF: Thomas–Fermi screening wave vector ``k_TF`` (Bohr⁻¹, > 0); long-wavelength
        components ``G ≲ k_TF`` are damped.
    """

    alpha: float = 0.8
    kTF: float = 0.8

    def __post_init__(self):
        object.__setattr__(self, "alpha", _check_alpha(self.alpha))
        try:
            ktf = float(self.kTF)
        except (TypeError, ValueError):
            raise InputError(f"KerkerMixing kTF must be a real number (1/Bohr), got {self.kTF!r}") from None
        if not (math.isfinite(ktf) and ktf > 0):
            raise InputError(f"KerkerMixing kTF must be finite and > 0 (1/Bohr), got {ktf}")
        object.__setattr__(self, "kTF", ktf)

    def factor(self, g2):
        """``P̂(G) = α·G²/(G² + k_TF²)``, exactly 0 at ``G = 0`` (charge neutrality)."""
        g2 = jnp.real(jnp.asarray(g2))
        return jnp.where(g2 > 0, self.alpha * g2 / (g2 + self.kTF**2), 0.0)

    def preconditioner(self, g2, *, fft: tuple[Callable, Callable] | None = None):
        """Linear map on flattened real-space grids: ``r ↦ flat(precondition(self, r, g2))``."""
        return _flat_map(self, g2, fft)


def _check_mixing(mixing):
    if not isinstance(mixing, (SimpleMixing, KerkerMixing)):
        raise InputError(f"mixing must be SimpleMixing or KerkerMixing, got {type(mixing).__name__}")


def precondition_fourier(mixing, residual_hat, g2):
    """Apply the mixing preconditioner to Fourier coefficients: ``P̂(G)·R̂(G)``.

    Args:
      mixing: :class:`SimpleMixing` or :class:`KerkerMixing`.
      residual_hat: Fourier coefficients of the density residual, any shape equal to ``g2``'s
        (optionally with extra leading batch axes).
      g2: ``|G|²`` (Bohr⁻²) for each coefficient.

    Raises:
      InputError: unknown mixing or shapes that do not match.
    """
    _check_mixing(mixing)
    residual_hat, g2 = jnp.asarray(residual_hat), jnp.asarray(g2)
    if residual_hat.shape[residual_hat.ndim - g2.ndim:] != g2.shape:
        raise InputError(f"residual_hat shape {residual_hat.shape} does not end with g2's shape {g2.shape}")
    return mixing.factor(g2) * residual_hat


def precondition(mixing, residual, g2, fft: tuple[Callable, Callable] | None = None):
    """Apply the mixing preconditioner to a real-space residual on the FFT grid.

    Args:
      mixing: :class:`SimpleMixing` or :class:`KerkerMixing`.
      residual: ``R = ρ_out − ρ_in`` on the FFT grid, shape ``g2.shape`` (e.g. ``(n1, n2, n3)``).
      g2: ``|G|²`` (Bohr⁻²) in the FFT layout of ``jnp.fft.fftn`` (``G = 0`` at index 0).
      fft: optional ``(forward, inverse)`` transforms with ``inverse(forward(x)) = x`` (any
        normalisation: ``P`` is diagonal in G); default ``jnp.fft.fftn`` / ``jnp.fft.ifftn``.

    Returns:
      ``P R`` on the grid; real for a real residual.

    Raises:
      InputError: unknown mixing or ``residual.shape != g2.shape``.
    """
    _check_mixing(mixing)
    residual, g2 = jnp.asarray(residual), jnp.asarray(g2)
    if residual.shape != g2.shape:
        raise InputError(f"residual shape {residual.shape} must equal the g2 grid shape {g2.shape}")
    forward, inverse = (jnp.fft.fftn, jnp.fft.ifftn) if fft is None else fft
    out = inverse(mixing.factor(g2) * forward(residual))
    return jnp.real(out).astype(residual.dtype) if not jnp.iscomplexobj(residual) else out


def _flat_map(mixing, g2, fft):
    g2 = jnp.asarray(g2)
    size = math.prod(g2.shape)

    def apply(r_flat):
        r_flat = jnp.asarray(r_flat)
        if r_flat.shape != (size,):
            raise InputError(f"preconditioner expects a flat grid of {size} values, got shape {r_flat.shape}")
        return precondition(mixing, r_flat.reshape(g2.shape), g2, fft=fft).reshape(size)

    return apply
