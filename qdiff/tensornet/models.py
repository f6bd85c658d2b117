"""Spin-1/2 lattice models on the infinite square lattice, written as two-site terms.

A model is a nearest-neighbour (NN) bond term ``h_nn`` and, optionally, a
next-nearest-neighbour (NNN, diagonal) bond term ``h_nnn``; each is a Hermitian
``d² × d²`` matrix acting on ``site1 ⊗ site2`` (row index ``s1·d + s2``).  The
energy per site of a translation- and C4v-invariant state is

    e = 2 ⟨h_nn⟩ + 2 ⟨h_nnn⟩

(each site owns two NN bonds and two diagonal bonds).  On-site fields are folded
into the bond terms: a field ``−h σˣ`` per site becomes ``−(h/4)(σˣ⊗1 + 1⊗σˣ)``
on each NN bond.

The single-site C4v ansatz of :mod:`qdiff.tensornet.ipeps` describes a state in
which every site is the same.  The Néel order of the Heisenberg antiferromagnet
breaks that, so :func:`heisenberg` applies the usual *sublattice rotation* — the
spin operators of one site of every NN bond are conjugated by ``iσʸ``
(``Sˣ→−Sˣ, Sʸ→Sʸ, Sᶻ→−Sᶻ``), a unitary change of basis on one sublattice that
leaves the spectrum unchanged and makes the Néel state uniform.  Diagonal bonds
join two sites of the same sublattice and are not rotated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError

# Spin-1/2 operators S = σ/2.
_SX = np.array([[0.0, 0.5], [0.5, 0.0]])
_SY = np.array([[0.0, -0.5j], [0.5j, 0.0]])
_SZ = np.array([[0.5, 0.0], [0.0, -0.5]])
_ID = np.eye(2)
_ROT = np.array([[0.0, 1.0], [-1.0, 0.0]])  # iσʸ: the sublattice rotation


def spin_operators() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the spin-1/2 operators ``(Sˣ, Sʸ, Sᶻ) = σ/2`` as 2×2 arrays."""
    return _SX.copy(), _SY.copy(), _SZ.copy()


def _heisenberg_bond() -> np.ndarray:
    """``S₁·S₂`` as a 4×4 matrix."""
    return sum(np.kron(s, s) for s in (_SX, _SY, _SZ))


def _rotate_second(h: np.ndarray) -> np.ndarray:
    """Conjugate the second site of a two-site operator by ``iσʸ``."""
    u = np.kron(_ID, _ROT)
    return u.conj().T @ h @ u


@dataclass(frozen=True)
class Model:
    """A spin-1/2 model on the square lattice given by its two-site bond terms.

    Attributes:
      name: a label (used in reports and checkpoints).
      h_nn: nearest-neighbour bond term, Hermitian ``(d², d²)``; energy unit per bond.
      h_nnn: next-nearest-neighbour (diagonal) bond term, or ``None``.  Evaluating it needs
        the 2×2-plaquette reduced density matrix (see :mod:`qdiff.tensornet.observables`).
      d: local Hilbert-space dimension (2 for spin 1/2).
      rotated: whether ``h_nn`` includes the Néel sublattice rotation (the staggered
        magnetisation is then the uniform one of the rotated frame).
    """

    name: str
    h_nn: np.ndarray
    h_nnn: np.ndarray | None = None
    d: int = 2
    rotated: bool = False
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "h_nn", _validate_bond(self.h_nn, "h_nn", self.d))
        if self.h_nnn is not None:
            object.__setattr__(self, "h_nnn", _validate_bond(self.h_nnn, "h_nnn", self.d))


def _validate_bond(h, name: str, d: int) -> np.ndarray:
    h = np.asarray(h)
    if h.shape != (d * d, d * d):
        raise InputError(f"{name} must be a {d * d}x{d * d} matrix (two sites of dimension {d}), got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise InputError(f"{name} has non-finite entries")
    scale = max(1.0, float(np.abs(h).max()))
    if np.abs(h - h.conj().T).max() > 1e-12 * scale:
        raise InputError(f"{name} is not Hermitian (max |h - h^†| = {np.abs(h - h.conj().T).max():.3e})")
    if np.iscomplexobj(h):
        if np.abs(h.imag).max() > 1e-12 * scale:
            raise InputError(f"{name} has an imaginary part; the real C4v iPEPS ansatz needs a real symmetric "
                             "bond term (rotate to a real basis first)")
        h = h.real
    return np.asarray(0.5 * (h + h.T), dtype=np.float64)


def two_site_model(h_nn, h_nnn=None, *, name: str = "custom", rotated: bool = False) -> Model:
    """Build a model from user-written bond terms (e.g. J1–J2 from two Heisenberg bonds).

    Args:
      h_nn: nearest-neighbour term, Hermitian 4×4 (row index ``s1·2 + s2``).
      h_nnn: diagonal (next-nearest-neighbour) term, Hermitian 4×4, or ``None``.
      name: label.
      rotated: set True when ``h_nn`` already contains a sublattice rotation, so the
        staggered magnetisation is reported as the uniform one.

    Raises:
      InputError: a term is not a finite Hermitian 4×4 matrix, or is complex.
    """
    return Model(name=name, h_nn=h_nn, h_nnn=h_nnn, rotated=rotated)


def heisenberg(J: float = 1.0) -> Model:
    """Heisenberg antiferromagnet ``H = J Σ_⟨ij⟩ Sᵢ·Sⱼ`` with the Néel sublattice rotation."""
    return Model(name="heisenberg", h_nn=J * _rotate_second(_heisenberg_bond()), rotated=True,
                 params={"J": float(J)})


def transverse_ising(h: float = 3.0, J: float = 1.0) -> Model:
    """Transverse-field Ising ``H = −J Σ_⟨ij⟩ σᶻᵢσᶻⱼ − h Σᵢ σˣᵢ`` (Pauli matrices; h_c ≈ 3.044 J)."""
    sz, sx = 2 * _SZ, 2 * _SX
    bond = -J * np.kron(sz, sz) - (h / 4.0) * (np.kron(sx, _ID) + np.kron(_ID, sx))
    return Model(name="tfim", h_nn=bond, params={"h": float(h), "J": float(J)})


def j1j2(J2: float = 0.5, J1: float = 1.0) -> Model:
    """J1–J2 Heisenberg model ``J1 Σ_⟨ij⟩ Sᵢ·Sⱼ + J2 Σ_⟨⟨ik⟩⟩ Sᵢ·Sₖ`` (NN terms sublattice-rotated)."""
    return Model(name="j1j2", h_nn=J1 * _rotate_second(_heisenberg_bond()), h_nnn=J2 * _heisenberg_bond(),
                 rotated=True, params={"J1": float(J1), "J2": float(J2)})


_MODELS: dict[str, Callable[..., Model]] = {
    "heisenberg": heisenberg,
    "tfim": transverse_ising,
    "j1j2": j1j2,
}


def model_names() -> list[str]:
    """Names accepted by :func:`get_model`."""
    return sorted(_MODELS)


def get_model(name: str, **params) -> Model:
    """Return the built-in model ``name`` (``heisenberg``, ``tfim``, ``j1j2``) with ``params``.

    Raises:
      InputError: unknown name (the message lists the known ones) or unknown parameter.
    """
    if name not in _MODELS:
        raise InputError(f"unknown model {name!r}; known models: {', '.join(model_names())}")
    try:
        return _MODELS[name](**params)
    except TypeError as exc:
        raise InputError(f"model {name!r}: {exc}") from None
