"""Exchange–correlation energy densities (spin-unpolarised), pure JAX, elementwise on arrays.

Atomic units: ρ in electrons/Bohr³, σ = |∇ρ|² in electrons²/Bohr⁸, energies per electron ε_xc in
Hartree, energy densities e = ρ ε_xc in Hartree/Bohr³.  Densities at or below ``DENSITY_THRESHOLD``
(including the small negative values an FFT can produce) contribute exactly zero, with zero and
NaN-free derivatives of every order (the double-``where`` trick: the formula is evaluated at a safe
dummy density where it is masked out).

Potentials are derivatives of the energy density: for an LDA v_xc = ∂e/∂ρ; for a GGA
v_xc = ∂e/∂ρ − 2 ∇·(∂e/∂σ ∇ρ).  :meth:`Functional.derivatives` returns e, ∂e/∂ρ and ∂e/∂σ
pointwise by automatic differentiation (one reverse pass, the energy density being elementwise).

Functionals:
  * ``lda`` — Goedecker–Teter–Hutter Padé LDA (PRB 54, 1703 (1996); LibXC LDA_XC_TETER93,
    ABINIT ixc = 1), the functional the GTH-PADE pseudopotentials were fitted with.
  * ``lda_pw92`` — Slater exchange + Perdew–Wang 1992 correlation (PRB 45, 13244), with the
    paper's A = 0.031091 (as ABINIT ixc = 7; LibXC LDA_C_PW).
  * ``pbe`` — Perdew–Burke–Ernzerhof GGA (PRL 77, 3865 (1996)) with κ = 0.804,
    μ = 0.2195149727645171, β = 0.06672455060314922, γ = (1 − ln 2)/π², on PW92 correlation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable

import jax
import jax.numpy as jnp

from ..errors import InputError

__all__ = [
    "DENSITY_THRESHOLD",
    "Functional",
    "FUNCTIONALS",
    "get_functional",
    "lda_teter",
    "lda_slater_pw92",
    "slater_exchange",
    "pw92_correlation",
    "gga_pbe",
    "pbe_exchange",
    "pbe_correlation",
    "lda_potential",
]

DENSITY_THRESHOLD = 1e-14  # electrons/Bohr³; below it the xc energy density is set to zero

# Goedecker–Teter–Hutter Padé coefficients (spin-unpolarised)
_TETER_A = (0.4581652932831429, 2.217058676663745, 0.7405551735357053, 0.01968227878617998)
_TETER_B = (1.0, 4.504130959426697, 1.110667363742916, 0.02359291751427506)

# Perdew–Wang 92, unpolarised correlation (Table I, ε_c(r_s, 0)); p = 1
_PW92_ALPHA1 = 0.21370
_PW92_BETA = (7.5957, 3.5876, 1.6382, 0.49294)
PW92_A = 0.031091  # the published value; LibXC's "PW_MOD" variant (used by its PBE) has 0.0310907
PW92_A_MODIFIED = 0.0310907

# PBE
PBE_KAPPA = 0.804
PBE_MU = 0.2195149727645171
PBE_BETA = 0.06672455060314922
PBE_GAMMA = (1.0 - math.log(2.0)) / math.pi**2


def _masked(rho):
    """(mask, ρ_safe): ρ_safe = ρ where ρ > threshold, 1 elsewhere (finite formula and derivatives)."""
    rho = jnp.asarray(rho, dtype=float)
    mask = rho > DENSITY_THRESHOLD
    return mask, jnp.where(mask, rho, 1.0)


def _rs(rho):
    """Wigner–Seitz radius r_s = (3/(4πρ))^{1/3} (Bohr)."""
    return jnp.cbrt(3.0 / (4.0 * math.pi * rho))


def _kf(rho):
    """Fermi wave vector k_F = (3π²ρ)^{1/3} (Bohr⁻¹)."""
    return jnp.cbrt(3.0 * math.pi**2 * rho)


# ----------------------------------------------------------------------------- LDA


@jax.jit
def lda_teter(rho):
    """Teter–Padé LDA ε_xc(ρ) (Hartree per electron).

    ε_xc = −(a0 + a1 r_s + a2 r_s² + a3 r_s³)/(b1 r_s + b2 r_s² + b3 r_s³ + b4 r_s⁴).
    """
    mask, rho_s = _masked(rho)
    rs = _rs(rho_s)
    a0, a1, a2, a3 = _TETER_A
    b1, b2, b3, b4 = _TETER_B
    num = a0 + rs * (a1 + rs * (a2 + rs * a3))
    den = rs * (b1 + rs * (b2 + rs * (b3 + rs * b4)))
    return jnp.where(mask, -num / den, 0.0)


def _slater(rho_safe):
    return -0.75 * jnp.cbrt(3.0 * rho_safe / math.pi)


@jax.jit
def slater_exchange(rho):
    """Slater (Dirac) exchange ε_x = −(3/4)(3ρ/π)^{1/3} (Hartree per electron)."""
    mask, rho_s = _masked(rho)
    return jnp.where(mask, _slater(rho_s), 0.0)


def _pw92(rs, a):
    b1, b2, b3, b4 = _PW92_BETA
    srs = jnp.sqrt(rs)
    den = 2.0 * a * srs * (b1 + srs * (b2 + srs * (b3 + srs * b4)))
    return -2.0 * a * (1.0 + _PW92_ALPHA1 * rs) * jnp.log1p(1.0 / den)


@functools.partial(jax.jit, static_argnames=("a",))
def pw92_correlation(rho, *, a: float = PW92_A):
    """Perdew–Wang 92 correlation ε_c(r_s, ζ=0) (Hartree per electron).

    ε_c = −2A(1 + α₁ r_s) ln[1 + 1/(2A(β₁ r_s^{1/2} + β₂ r_s + β₃ r_s^{3/2} + β₄ r_s²))].

    Args:
      rho: density (Bohr⁻³).
      a: the constant A; default the published 0.031091 (``PW92_A_MODIFIED`` = 0.0310907 is
        LibXC's PW_MOD variant).
    """
    mask, rho_s = _masked(rho)
    return jnp.where(mask, _pw92(_rs(rho_s), a), 0.0)


@functools.partial(jax.jit, static_argnames=("a",))
def lda_slater_pw92(rho, *, a: float = PW92_A):
    """Slater exchange + PW92 correlation ε_xc(ρ) (Hartree per electron)."""
    mask, rho_s = _masked(rho)
    return jnp.where(mask, _slater(rho_s) + _pw92(_rs(rho_s), a), 0.0)


# ----------------------------------------------------------------------------- PBE


def _masked_gga(rho, sigma):
    mask, rho_s = _masked(rho)
    sigma = jnp.asarray(sigma, dtype=float)
    sigma_s = jnp.where(mask, jnp.maximum(sigma, 0.0), 0.0)
    return mask, rho_s, sigma_s


def _pbe_x(rho, sigma):
    kf = _kf(rho)
    s2 = sigma / (4.0 * kf * kf * rho * rho)
    fx = 1.0 + PBE_KAPPA - PBE_KAPPA / (1.0 + PBE_MU * s2 / PBE_KAPPA)
    return _slater(rho) * fx


def _pbe_c(rho, sigma, a):
    ec = _pw92(_rs(rho), a)
    ks2 = 4.0 * _kf(rho) / math.pi  # k_s² (Thomas–Fermi screening wave vector squared)
    t2 = sigma / (4.0 * ks2 * rho * rho)
    big_a = (PBE_BETA / PBE_GAMMA) / jnp.expm1(-ec / PBE_GAMMA)
    y = big_a * t2
    # (1 + y)/(1 + y + y²) written to avoid overflow of y² at very low density
    ratio = 1.0 / (1.0 + y * (y / (1.0 + y)))
    h = PBE_GAMMA * jnp.log1p((PBE_BETA / PBE_GAMMA) * t2 * ratio)
    return ec + h


@jax.jit
def pbe_exchange(rho, sigma):
    """PBE exchange ε_x = ε_x^Slater F_x(s), F_x = 1 + κ − κ/(1 + μs²/κ), s² = σ/(4k_F²ρ²)."""
    mask, rho_s, sigma_s = _masked_gga(rho, sigma)
    return jnp.where(mask, _pbe_x(rho_s, sigma_s), 0.0)


@functools.partial(jax.jit, static_argnames=("a",))
def pbe_correlation(rho, sigma, *, a: float = PW92_A):
    """PBE correlation ε_c = ε_c^PW92 + H(r_s, t) (ζ = 0, φ = 1; Hartree per electron).

    H = γ ln[1 + (β/γ) t² (1 + At²)/(1 + At² + A²t⁴)], A = (β/γ)/(exp(−ε_c^PW92/γ) − 1),
    t² = σ/(4 k_s² ρ²), k_s² = 4k_F/π.
    """
    mask, rho_s, sigma_s = _masked_gga(rho, sigma)
    return jnp.where(mask, _pbe_c(rho_s, sigma_s, a), 0.0)


@functools.partial(jax.jit, static_argnames=("a",))
def gga_pbe(rho, sigma, *, a: float = PW92_A):
    """PBE exchange + correlation ε_xc(ρ, σ) (Hartree per electron), σ = |∇ρ|²."""
    mask, rho_s, sigma_s = _masked_gga(rho, sigma)
    return jnp.where(mask, _pbe_x(rho_s, sigma_s) + _pbe_c(rho_s, sigma_s, a), 0.0)


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Functional:
    """An exchange–correlation functional (static; hashable).

    Attributes:
      name: registry key ("lda", "lda_pw92", "pbe").
      needs_gradient: True for a GGA (energy density depends on σ = |∇ρ|²).
      eps: ε_xc(ρ) for an LDA, ε_xc(ρ, σ) for a GGA (Hartree per electron).
      description: one line naming the parametrisation.
    """

    name: str
    needs_gradient: bool
    eps: Callable
    description: str = ""

    def energy_density(self, rho, sigma=None):
        """e = ρ ε_xc(ρ[, σ]) (Hartree/Bohr³), elementwise; E_xc = ∫ e d³r."""
        rho = jnp.asarray(rho, dtype=float)
        if self.needs_gradient:
            if sigma is None:
                raise InputError(f"functional {self.name!r} is a GGA: sigma = |grad rho|^2 is required")
            return rho * self.eps(rho, sigma)
        return rho * self.eps(rho)

    def derivatives(self, rho, sigma=None):
        """(e, ∂e/∂ρ, ∂e/∂σ) pointwise; ∂e/∂σ is None for an LDA.

        For an LDA ∂e/∂ρ is the xc potential; for a GGA the potential is
        ∂e/∂ρ − 2∇·(∂e/∂σ ∇ρ) (the divergence is the caller's, on its grid).
        """
        rho = jnp.asarray(rho, dtype=float)
        if self.needs_gradient:
            if sigma is None:
                raise InputError(f"functional {self.name!r} is a GGA: sigma = |grad rho|^2 is required")
            sigma = jnp.asarray(sigma, dtype=float)
            e, vjp = jax.vjp(lambda r, s: self.energy_density(r, s), rho, sigma)
            vrho, vsigma = vjp(jnp.ones_like(e))
            return e, vrho, vsigma
        e, vjp = jax.vjp(self.energy_density, rho)
        (vrho,) = vjp(jnp.ones_like(e))
        return e, vrho, None


FUNCTIONALS = MappingProxyType({
    "lda": Functional("lda", False, lda_teter,
                      "Goedecker-Teter-Hutter Pade LDA (LDA_XC_TETER93, ABINIT ixc=1)"),
    "lda_pw92": Functional("lda_pw92", False, lda_slater_pw92,
                           "Slater exchange + Perdew-Wang 92 correlation (ABINIT ixc=7)"),
    "pbe": Functional("pbe", True, gga_pbe, "Perdew-Burke-Ernzerhof GGA (ABINIT ixc=11)"),
})


def get_functional(name: str) -> Functional:
    """Look up a functional by name ("lda", "lda_pw92", "pbe"; case-insensitive)."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in FUNCTIONALS:
        raise InputError(f"functional={name!r}: unknown; choose one of {sorted(FUNCTIONALS)}")
    return FUNCTIONALS[key]


def lda_potential(rho, functional: str | Functional = "lda"):
    """LDA exchange–correlation potential v_xc(ρ) = d(ρ ε_xc)/dρ (Hartree), elementwise."""
    f = functional if isinstance(functional, Functional) else get_functional(functional)
    if f.needs_gradient:
        raise InputError(f"functional {f.name!r} is a GGA; use Functional.derivatives(rho, sigma)")
    return f.derivatives(rho)[1]
