"""GTH/HGH analytic norm-conserving pseudopotentials and their Fourier transforms.

Parameters come from the published tables (Goedecker–Teter–Hutter, PRB 54, 1703 (1996);
Hartwigsen–Goedecker–Hutter, PRB 58, 3641 (1998); Krack, TCA 114, 145 (2005)) shipped as
package data (``qdiff/dft/data/gth_lda.json``: the GTH-PADE set fitted with the Teter–Padé LDA;
``gth_pbe.json``: the GTH-PBE set).  Atomic units throughout: Hartree, Bohr.

Real space (x = r / r_loc):

    V_loc(r) = −Z erf(r / (√2 r_loc)) / r + exp(−x²/2) (C1 + C2 x² + C3 x⁴ + C4 x⁶)
    V_nl     = Σ_l Σ_m Σ_ij |p_i^l Y_lm⟩ h^l_ij ⟨p_j^l Y_lm|
    p_i^l(r) = √2 r^(l + 2(i−1)) exp(−r²/(2 r_l²)) / (r_l^(l + (4i−1)/2) √Γ(l + (4i−1)/2))

with ∫_0^∞ p_i^l(r)² r² dr = 1 and Y_lm real spherical harmonics (:func:`real_ylm`).

Fourier conventions (what a plane-wave code must multiply in) are documented on
:func:`local_form_factor` and :func:`projector_form_factor`.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError

__all__ = [
    "GthPseudo",
    "load_gth",
    "available_gth",
    "local_potential_real",
    "projector_real",
    "local_form_factor",
    "local_form_factor_g0",
    "projector_form_factor",
    "real_ylm",
]

_FUNCTIONAL_FILES = {"lda": "gth_lda.json", "pbe": "gth_pbe.json"}
_FUNCTIONAL_ALIASES = {"lda": "lda", "pade": "lda", "gth-pade": "lda", "teter": "lda",
                       "pbe": "pbe", "gth-pbe": "pbe"}


@dataclass(frozen=True)
class GthPseudo:
    """Static parameters of one GTH/HGH pseudopotential (hashable: usable as a static jit argument).

    Attributes:
      element: chemical symbol.
      zion: ionic (valence) charge Z.
      rloc: radius of the local part r_loc (Bohr).
      cloc: (C1, C2, C3, C4) of the local part (Hartree).
      rp: radius r_l of the projectors for l = 0, 1, ... (Bohr); one entry per channel.
      h: per channel l, the full symmetric matrix h^l_ij (Hartree) as nested tuples; a channel
        without projectors has an empty tuple.
      functional: "lda" or "pbe" (the functional the parameters were fitted with).
      name: label of the parameter set, e.g. "GTH-PADE-q4".
    """

    element: str
    zion: int
    rloc: float
    cloc: tuple[float, float, float, float]
    rp: tuple[float, ...]
    h: tuple[tuple[tuple[float, ...], ...], ...]
    functional: str = "lda"
    name: str = ""

    @property
    def lmax(self) -> int:
        """Largest angular momentum with at least one projector (−1 if purely local)."""
        ls = [l for l, hl in enumerate(self.h) if len(hl) > 0]
        return max(ls) if ls else -1

    def n_projectors(self, l: int) -> int:
        """Number of radial projectors i = 1..n in channel l (0 if none)."""
        return len(self.h[l]) if 0 <= l < len(self.h) else 0

    def h_matrix(self, l: int) -> np.ndarray:
        """The h^l_ij matrix of channel l as a float64 array (shape (n, n), Hartree)."""
        n = self.n_projectors(l)
        return np.array(self.h[l], dtype=np.float64).reshape(n, n)

    def channels(self) -> list[tuple[int, int]]:
        """All (l, i) pairs with a projector (i = 1..n_l), ordered by l then i."""
        return [(l, i) for l in range(len(self.h)) for i in range(1, self.n_projectors(l) + 1)]


def _normalise_functional(functional: str) -> str:
    key = str(functional).strip().lower()
    if key not in _FUNCTIONAL_ALIASES:
        raise InputError(
            f"functional={functional!r}: no GTH pseudopotential set; choose one of "
            f"{sorted(_FUNCTIONAL_FILES)}"
        )
    return _FUNCTIONAL_ALIASES[key]


@functools.lru_cache(maxsize=None)
def _table(functional: str) -> dict[str, tuple[tuple[GthPseudo, bool], ...]]:
    """Parse one data file: element -> ((pseudo, is_default), ...) sorted by zion (read-only)."""
    text = resources.files("qdiff.dft").joinpath("data", _FUNCTIONAL_FILES[functional]).read_text()
    doc = json.loads(text)
    out = {}
    for element, records in doc["potentials"].items():
        entries = []
        for rec in records:
            channels = sorted(rec["nonlocal"], key=lambda c: c["l"])
            rp = tuple(float(c["r"]) for c in channels)
            h = tuple(tuple(tuple(float(x) for x in row) for row in c["h"]) for c in channels)
            cloc = tuple(float(c) for c in rec["cloc"]) + (0.0,) * (4 - len(rec["cloc"]))
            psp = GthPseudo(element=element, zion=int(rec["zion"]), rloc=float(rec["rloc"]),
                            cloc=cloc, rp=rp, h=h, functional=functional, name=rec["name"])
            entries.append((psp, bool(rec.get("default", False))))
        out[element] = tuple(entries)
    return out


def available_gth(functional: str = "lda") -> dict[str, tuple[int, ...]]:
    """Elements and their available valence charges in one GTH set.

    Args:
      functional: "lda" (GTH-PADE) or "pbe" (GTH-PBE).

    Returns:
      dict symbol -> sorted tuple of available ionic charges.
    """
    table = _table(_normalise_functional(functional))
    return {el: tuple(p.zion for p, _ in entries) for el, entries in table.items()}


def load_gth(symbol: str, functional: str = "lda", zion: int | None = None) -> GthPseudo:
    """Load the GTH/HGH parameters of one element.

    Args:
      symbol: chemical symbol ("Si"; case-insensitive).
      functional: "lda" (the GTH-PADE set, for the Teter–Padé LDA) or "pbe" (GTH-PBE).
      zion: valence charge to choose among the available ones (e.g. Na: 1 or 9); None picks the
        set's default (the one CP2K labels plain "GTH-PADE"/"GTH-PBE"; usually the semicore-free
        choice for main-group elements).

    Raises:
      InputError: unknown functional, element without parameters, unavailable valence, or an
        element with several valences and no default when zion is None.
    """
    func = _normalise_functional(functional)
    table = _table(func)
    if not isinstance(symbol, str) or not symbol.strip():
        raise InputError(f"symbol={symbol!r}: expected a chemical symbol such as 'Si'")
    sym = symbol.strip().capitalize()
    if sym not in table:
        raise InputError(
            f"symbol={symbol!r}: no GTH-{'PADE' if func == 'lda' else 'PBE'} pseudopotential; "
            f"available elements: {' '.join(table)}"
        )
    entries = table[sym]
    charges = [p.zion for p, _ in entries]
    if zion is None:
        defaults = [p for p, d in entries if d]
        if len(defaults) == 1:
            return defaults[0]
        if len(entries) == 1:
            return entries[0][0]
        raise InputError(
            f"zion=None: {sym} has several {func} pseudopotentials (valence {charges}) and no "
            "default; pass zion explicitly"
        )
    if isinstance(zion, bool) or int(zion) != zion:
        raise InputError(f"zion={zion!r}: expected an integer valence charge")
    for p, _ in entries:
        if p.zion == int(zion):
            return p
    raise InputError(f"zion={zion!r}: {sym} ({func}) is available with valence {charges} only")


# ----------------------------------------------------------------------------- real space


@functools.partial(jax.jit, static_argnums=0)
def local_potential_real(psp: GthPseudo, r):
    """Local part V_loc(r) (Hartree) at radius r (Bohr, r ≥ 0; the r → 0 limit is finite).

    V_loc(r) = −Z erf(r/(√2 r_loc))/r + exp(−x²/2)(C1 + C2 x² + C3 x⁴ + C4 x⁶), x = r/r_loc.
    """
    r = jnp.asarray(r, dtype=float)
    x2 = (r / psp.rloc) ** 2
    c1, c2, c3, c4 = psp.cloc
    poly = c1 + x2 * (c2 + x2 * (c3 + x2 * c4))
    a = 1.0 / (math.sqrt(2.0) * psp.rloc)
    small = r < 1e-8
    r_safe = jnp.where(small, 1.0, r)
    erf_over_r = jnp.where(small, 2.0 * a / math.sqrt(math.pi),
                           _erf(a * r_safe) / r_safe)
    return -psp.zion * erf_over_r + jnp.exp(-0.5 * x2) * poly


def _erf(x):
    from jax.scipy.special import erf

    return erf(x)


def _check_projector(psp: GthPseudo, l: int, i: int) -> None:
    if not isinstance(l, (int, np.integer)) or not isinstance(i, (int, np.integer)):
        raise InputError(f"l={l!r}, i={i!r}: expected Python integers")
    if psp.n_projectors(l) < i or i < 1:
        raise InputError(
            f"(l={l}, i={i}): {psp.element} {psp.name} has projectors "
            f"{psp.channels() or 'none'} only"
        )


def _projector_norm(rl: float, l: int, i: int) -> float:
    nu = l + (4 * i - 1) / 2
    return math.sqrt(2.0) / (rl**nu * math.sqrt(math.gamma(nu)))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def projector_real(psp: GthPseudo, l: int, i: int, r):
    """Radial projector p_i^l(r) (Bohr^−3/2), normalised ∫ p² r² dr = 1 (HGH Eq. 3)."""
    _check_projector(psp, l, i)
    rl = psp.rp[l]
    r = jnp.asarray(r, dtype=float)
    return _projector_norm(rl, l, i) * r ** (l + 2 * (i - 1)) * jnp.exp(-0.5 * (r / rl) ** 2)


# ----------------------------------------------------------------------------- reciprocal space


@functools.partial(jax.jit, static_argnums=0)
def local_form_factor(psp: GthPseudo, q):
    """Fourier transform of the local part, V̂_loc(q) = ∫ V_loc(r) e^{−iq·r} d³r (Hartree·Bohr³).

    With t = q r_loc:

        V̂_loc(q) = −4πZ e^{−t²/2}/q²
                   + (2π)^{3/2} r_loc³ e^{−t²/2} [C1 + C2(3 − t²) + C3(15 − 10t² + t⁴)
                                                  + C4(105 − 105t² + 21t⁴ − t⁶)]

    A plane-wave code uses V_loc(G) = (1/Ω) Σ_atoms e^{−iG·R} V̂_loc(|G|) for the potential's
    Fourier coefficients (so V(r) = Σ_G V_loc(G) e^{iG·r}).  At q = 0 this function returns 0:
    the G = 0 component is left out of the potential (ABINIT/DFTK energy zero) and its finite part
    enters the energy as the psp correction, see :func:`local_form_factor_g0`.  Values and
    q-gradients are NaN-free everywhere (elementwise on arrays).

    Args:
      psp: the pseudopotential.
      q: |G| (or |k+G|) in Bohr^−1, any shape, q ≥ 0.
    """
    q = jnp.asarray(q, dtype=float)
    zero = q == 0.0
    q_safe = jnp.where(zero, 1.0, q)
    t2 = (q_safe * psp.rloc) ** 2
    c1, c2, c3, c4 = psp.cloc
    poly = (c1 + c2 * (3.0 - t2) + c3 * (15.0 - 10.0 * t2 + t2**2)
            + c4 * (105.0 - 105.0 * t2 + 21.0 * t2**2 - t2**3))
    gauss = jnp.exp(-0.5 * t2)
    value = -4.0 * math.pi * psp.zion * gauss / q_safe**2 + (2.0 * math.pi) ** 1.5 * psp.rloc**3 * gauss * poly
    return jnp.where(zero, 0.0, value)


def local_form_factor_g0(psp: GthPseudo) -> float:
    """Finite G = 0 limit lim_{q→0} [V̂_loc(q) + 4πZ/q²] (Hartree·Bohr³).

        = 2π Z r_loc² + (2π)^{3/2} r_loc³ (C1 + 3 C2 + 15 C3 + 105 C4)

    The psp-correction energy of a cell is E_pspcorr = (N_electrons / Ω) Σ_atoms of this value
    (Si₂, a = 10.26, 8 electrons: −0.2948927658 Ha).
    """
    c1, c2, c3, c4 = psp.cloc
    return (2.0 * math.pi * psp.zion * psp.rloc**2
            + (2.0 * math.pi) ** 1.5 * psp.rloc**3 * (c1 + 3.0 * c2 + 15.0 * c3 + 105.0 * c4))


@functools.lru_cache(maxsize=None)
def _projector_polynomial(l: int, k: int) -> tuple[float, ...]:
    """Coefficients c_j of (−d/dα)^k [α^−ν e^{−β/α}] = α^{−ν−k} e^{−β/α} Σ_j c_j (β/α)^j, ν = l + 3/2."""
    nu = l + 1.5
    coeffs = [1.0]
    for step in range(k):
        new = [0.0] * (len(coeffs) + 1)
        for j, c in enumerate(coeffs):
            new[j] += (nu + step + j) * c
            new[j + 1] -= c
        coeffs = new
    return tuple(coeffs)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def projector_form_factor(psp: GthPseudo, l: int, i: int, q):
    """Radial Fourier transform P_i^l(q) = ∫_0^∞ r² p_i^l(r) j_l(qr) dr (Bohr^{3/2}).

    Convention.  With the plane-wave expansion e^{iq·r} = 4π Σ_lm i^l j_l(qr) Y_lm(r̂) Y_lm(q̂)
    (real Y_lm, :func:`real_ylm`), the projector |β⟩ = |p_i^l Y_lm⟩ centred on an atom at R has,
    in the orthonormal plane-wave basis e^{i(k+G)·r}/√Ω of a cell of volume Ω, the coefficients

        ⟨k+G | β⟩ = (4π / √Ω) (−i)^l Y_lm(q̂) P_i^l(|q|) e^{−iq·R},   q = k + G,

    so that ⟨β|ψ⟩ = Σ_G conj(⟨k+G|β⟩) c_G for ψ = Σ_G c_G e^{i(k+G)·r}/√Ω, and the nonlocal
    energy is Σ_nk w_k f_nk Σ_atoms Σ_lm Σ_ij h^l_ij ⟨ψ|β_i⟩⟨β_j|ψ⟩.  The factors dftcore adds are
    4π/√Ω, (−i)^l, Y_lm(q̂) and the structure factor; this function returns only P_i^l.

    Closed form: with α = 1/(2 r_l²), t = q r_l and k = i − 1,
    P = N_il √π q^l (2r_l²)^{l+3/2+k} / 2^{l+2} e^{−t²/2} Σ_j c_j (t²/2)^j, where N_il is the
    projector normalisation and c_j come from differentiating the Gaussian integral k times in α.
    Elementwise in q (any shape, q ≥ 0), smooth and NaN-free at q = 0 (P = 0 there for l > 0).
    """
    _check_projector(psp, l, i)
    rl = psp.rp[l]
    k = i - 1
    coeffs = _projector_polynomial(l, k)
    pref = (_projector_norm(rl, l, i) * math.sqrt(math.pi) * (2.0 * rl * rl) ** (l + 1.5 + k)
            / 2.0 ** (l + 2))
    q = jnp.asarray(q, dtype=float)
    u = 0.5 * (q * rl) ** 2  # β/α = q² r_l² / 2
    poly = jnp.zeros_like(q)
    for c in reversed(coeffs):
        poly = poly * u + c
    out = pref * jnp.exp(-u) * poly
    if l > 0:
        out = out * q**l
    return out


def _unit(q):
    """q/|q| with the double-where trick: 0 (and zero gradient) at q = 0."""
    q = jnp.asarray(q, dtype=float)
    n2 = jnp.sum(q * q, axis=-1, keepdims=True)
    zero = n2 == 0.0
    n = jnp.sqrt(jnp.where(zero, 1.0, n2))
    return jnp.where(zero, 0.0, q / n)


@functools.partial(jax.jit, static_argnums=0)
def real_ylm(l: int, q):
    """Real spherical harmonics Y_lm(q̂) for m = −l..l, l ≤ 3 (orthonormal on the unit sphere).

    Ordering and signs (u = q/|q|): l = 1: (u_y, u_z, u_x)·√(3/4π); l = 2: √(15/4π)(u_x u_y,
    u_y u_z), √(5/16π)(3u_z² − 1), √(15/4π) u_x u_z, √(15/16π)(u_x² − u_y²); l = 3 likewise with
    the standard real (tesseral) forms, no Condon–Shortley phase.  Only Σ_m Y_lm(a) Y_lm(b) =
    (2l+1)/(4π) P_l(a·b) matters for a projector sum.  Written as homogeneous polynomials of u, so
    at q = 0 the result is 0 for l ≥ 1 (and 1/√(4π) for l = 0), with finite gradients.

    Args:
      l: angular momentum 0..3 (Python int).
      q: vectors (..., 3), any nonzero length (normalised here).

    Returns:
      array (..., 2l+1).
    """
    if l not in (0, 1, 2, 3):
        raise InputError(f"l={l!r}: real_ylm supports l = 0, 1, 2, 3")
    q = jnp.asarray(q, dtype=float)
    if q.shape[-1:] != (3,):
        raise InputError(f"q has shape {q.shape}; expected (..., 3)")
    u = _unit(q)
    x, y, z = u[..., 0], u[..., 1], u[..., 2]
    pi = math.pi
    if l == 0:
        return jnp.full(q.shape[:-1] + (1,), 1.0 / math.sqrt(4 * pi))
    if l == 1:
        c = math.sqrt(3 / (4 * pi))
        return c * jnp.stack([y, z, x], axis=-1)
    r2 = x * x + y * y + z * z  # 1, or 0 at q = 0
    if l == 2:
        c1 = math.sqrt(15 / (4 * pi))
        return jnp.stack([c1 * x * y, c1 * y * z, math.sqrt(5 / (16 * pi)) * (3 * z * z - r2),
                          c1 * x * z, math.sqrt(15 / (16 * pi)) * (x * x - y * y)], axis=-1)
    return jnp.stack([
        math.sqrt(35 / (32 * pi)) * y * (3 * x * x - y * y),
        math.sqrt(105 / (4 * pi)) * x * y * z,
        math.sqrt(21 / (32 * pi)) * y * (5 * z * z - r2),
        math.sqrt(7 / (16 * pi)) * z * (5 * z * z - 3 * r2),
        math.sqrt(21 / (32 * pi)) * x * (5 * z * z - r2),
        math.sqrt(105 / (16 * pi)) * z * (x * x - y * y),
        math.sqrt(35 / (32 * pi)) * x * (x * x - 3 * y * y),
    ], axis=-1)
