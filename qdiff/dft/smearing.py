"""Smearing functions for the occupations of Kohn–Sham states.

Every smearing is written as a function of the dimensionless variable
``x = (ε − μ) / T`` (``ε`` the band energy, ``μ`` the Fermi level, ``T`` the
smearing temperature ``k_B·T`` in Hartree):

* ``f(x)`` — the occupation of a state, normalised so that ``f → 1`` for
  ``x → −∞`` and ``f → 0`` for ``x → +∞`` (multiply by the maximal occupation,
  2 for spin-degenerate bands);
* ``δ̃(x) = −f'(x)`` — the broadened delta function (:meth:`Smearing.delta`);
* ``s(x)`` — the entropy function, defined by ``s'(x) = x·f'(x)`` and
  ``s(−∞) = 0``.

With these, the free energy of the electrons is ``F = E − T·S`` with
``S = Σ_k w_k Σ_n g·s(x_nk)`` (``g`` the maximal occupation, ``w_k`` the
k-point weights summing to 1).  The relation ``s' = x·f'`` is exactly what
makes ``F`` variational: ``∂/∂x [ (ε − μ)·f(x) − T·s(x) ] = T·(x f'(x) − s'(x)) = 0``,
so ``F − μN`` is stationary with respect to the occupations (Mermin).
The closed forms (ABINIT/DFTK conventions) are

==================== ================================================ ===========================================
kind                 ``f(x)``                                         ``s(x)``
==================== ================================================ ===========================================
fermi-dirac          ``1 / (1 + eˣ)``                                 ``−[f ln f + (1 − f) ln(1 − f)]``
gaussian             ``erfc(x) / 2``                                  ``exp(−x²) / (2√π)``
methfessel-paxton    ``erfc(x)/2 − x·exp(−x²)/(2√π)`` (order 1)       ``(1 − 2x²)·exp(−x²) / (4√π)``
marzari-vanderbilt   ``erfc(y)/2 + exp(−y²)/√(2π)``, ``y = x + 1/√2``  ``y·exp(−y²) / √(2π)``
==================== ================================================ ===========================================

Methfessel–Paxton order 1 and Marzari–Vanderbilt (cold) smearing are not
monotone: ``f`` leaves ``[0, 1]`` slightly (MP: both sides; MV: above 1 only) and
``s`` can be negative.  ``kind="none"`` is the zero-temperature step
(``f = 1`` for ``x < 0``, ``1/2`` at 0, ``0`` above, ``s = 0``) used for insulators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
from jax.scipy.special import erfc

from ..errors import InputError

_KINDS = ("none", "fermi-dirac", "gaussian", "methfessel-paxton", "marzari-vanderbilt")
_ALIASES = {
    "fd": "fermi-dirac", "fermi_dirac": "fermi-dirac", "fermidirac": "fermi-dirac",
    "gauss": "gaussian",
    "mp": "methfessel-paxton", "methfessel_paxton": "methfessel-paxton",
    "mv": "marzari-vanderbilt", "cold": "marzari-vanderbilt", "marzari_vanderbilt": "marzari-vanderbilt",
}
_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


@dataclass(frozen=True)
class Smearing:
    """Occupation smearing: its kind and temperature.

    Attributes:
      kind: ``"none"`` (insulators, T = 0), ``"fermi-dirac"``, ``"gaussian"``,
        ``"methfessel-paxton"`` (order 1) or ``"marzari-vanderbilt"`` (cold smearing).
        Aliases ``"fd"``, ``"mp"``, ``"mv"``, ``"cold"`` are accepted and normalised.
      temperature: smearing width ``T = k_B·T`` in Hartree; 0 for ``"none"``, > 0 otherwise.

    Raises:
      InputError: unknown kind, negative or non-finite temperature, ``T = 0`` with a
        smearing kind, or ``T > 0`` with ``"none"``.
    """

    kind: str = "none"
    temperature: float = 0.0

    def __post_init__(self):
        if not isinstance(self.kind, str):
            raise InputError(f"Smearing kind must be a string, got {type(self.kind).__name__}")
        kind = self.kind.strip().lower()
        kind = _ALIASES.get(kind, kind)
        if kind not in _KINDS:
            raise InputError(f"unknown smearing kind {self.kind!r}; expected one of {', '.join(_KINDS)} "
                             "(or the aliases fd, mp, mv, cold)")
        try:
            temperature = float(self.temperature)
        except (TypeError, ValueError):
            raise InputError(f"Smearing temperature must be a real number (Hartree), "
                             f"got {self.temperature!r}") from None
        if not math.isfinite(temperature) or temperature < 0:
            raise InputError(f"Smearing temperature must be finite and >= 0 (Hartree), got {temperature}")
        if kind == "none" and temperature != 0.0:
            raise InputError(f"smearing kind 'none' needs temperature 0, got {temperature}; "
                             "choose a smearing kind (e.g. 'fermi-dirac') to use a temperature")
        if kind != "none" and temperature == 0.0:
            raise InputError(f"smearing kind {kind!r} needs a temperature > 0 (Hartree); "
                             "use kind 'none' for zero temperature")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "temperature", temperature)

    @property
    def is_smeared(self) -> bool:
        """True for every kind except ``"none"``."""
        return self.kind != "none"

    def occupation(self, x):
        """Occupation ``f(x)`` in units of the maximal occupation, ``x = (ε − μ)/T``."""
        return occupation_function(self.kind, x)

    def delta(self, x):
        """Broadened delta function ``δ̃(x) = −f'(x)`` (integrates to 1 over x).

        Raises:
          InputError: for kind ``"none"``, whose delta is not a function.
        """
        return delta_function(self.kind, x)

    def entropy(self, x):
        """Entropy function ``s(x)`` (per unit of maximal occupation), ``s' = x·f'``, ``s(−∞) = 0``.

        The entropy is ``S = Σ_k w_k Σ_n g·s(x_nk)`` and the free energy ``E − T·S``.
        """
        return entropy_function(self.kind, x)


def occupation_function(kind: str, x):
    """``f(x)`` of the (canonical) smearing ``kind``; see the module docstring."""
    x = jnp.asarray(x)
    if kind == "none":
        return jnp.where(x < 0, 1.0, jnp.where(x > 0, 0.0, 0.5)).astype(x.dtype)
    if kind == "fermi-dirac":
        return 0.5 * (1.0 - jnp.tanh(0.5 * x))  # = 1/(1+eˣ), no overflow
    if kind == "gaussian":
        return 0.5 * erfc(x)
    if kind == "methfessel-paxton":
        return 0.5 * erfc(x) - x * jnp.exp(-x * x) / (2.0 * _SQRT_PI)
    if kind == "marzari-vanderbilt":
        y = x + _INV_SQRT2
        return 0.5 * erfc(y) + jnp.exp(-y * y) / _SQRT_2PI
    raise InputError(f"unknown smearing kind {kind!r}")


def delta_function(kind: str, x):
    """``δ̃(x) = −f'(x)`` of the (canonical) smearing ``kind``."""
    x = jnp.asarray(x)
    if kind == "fermi-dirac":
        c = jnp.cosh(0.5 * x)  # e^x/(1+e^x)² = 1/(4 cosh²(x/2)); → 0, not NaN, for huge |x|
        return 0.25 / (c * c)
    if kind == "gaussian":
        return jnp.exp(-x * x) / _SQRT_PI
    if kind == "methfessel-paxton":
        return jnp.exp(-x * x) * (1.5 - x * x) / _SQRT_PI
    if kind == "marzari-vanderbilt":
        y = x + _INV_SQRT2
        return jnp.exp(-y * y) * (1.0 + math.sqrt(2.0) * y) / _SQRT_PI
    if kind == "none":
        raise InputError("smearing kind 'none' has no broadened delta function")
    raise InputError(f"unknown smearing kind {kind!r}")


def entropy_function(kind: str, x):
    """``s(x)`` of the (canonical) smearing ``kind`` (``s' = x·f'``, ``s(−∞) = 0``)."""
    x = jnp.asarray(x)
    if kind == "none":
        return jnp.zeros_like(x)
    if kind == "fermi-dirac":
        # −[f ln f + (1−f) ln(1−f)] = ln(1 + e^{−|x|}) + |x|/(1 + e^{|x|}), stable for all x.
        a = jnp.abs(x)
        return jnp.log1p(jnp.exp(-a)) + a * 0.5 * (1.0 - jnp.tanh(0.5 * a))
    if kind == "gaussian":
        return jnp.exp(-x * x) / (2.0 * _SQRT_PI)
    if kind == "methfessel-paxton":
        return (1.0 - 2.0 * x * x) * jnp.exp(-x * x) / (4.0 * _SQRT_PI)
    if kind == "marzari-vanderbilt":
        y = x + _INV_SQRT2
        return y * jnp.exp(-y * y) / _SQRT_2PI
    raise InputError(f"unknown smearing kind {kind!r}")
