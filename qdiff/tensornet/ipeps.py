"""Single-site C4v-symmetric iPEPS tensors and their CTMRG environment.

The site tensor ``A[s, u, l, d, r]`` has one physical index ``s`` (dimension d)
and four virtual indices (up, left, down, right; bond dimension D).  C4v symmetry
means ``A`` is invariant under the eight permutations of its virtual legs that
the symmetry group of the square (rotations by 90° and mirrors) induces;
:func:`symmetrize` projects onto that subspace by averaging over the group.

The norm network is built from the *double-layer* tensor

    a[(u u'), (l l'), (d d'), (r r')] = Σ_s A[s, u, l, d, r] · conj(A[s, u', l', d', r'])

whose legs have dimension D².  Its environment at dimension χ is one corner
matrix ``C`` (χ×χ, symmetric) and one edge tensor ``T[α, s, β]`` (χ×D²×χ,
symmetric under α↔β; ``s`` points into the bulk), the same for all four
directions (:class:`CTMEnv`).

The ansatz is real: ``A`` is a real tensor (appropriate for real Hamiltonians such
as the sublattice-rotated Heisenberg model and the transverse-field Ising model).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError

# The eight C4v elements as permutations of the virtual axes (1, 2, 3, 4) = (u, l, d, r).
_ROTATIONS = [(1, 2, 3, 4), (2, 3, 4, 1), (3, 4, 1, 2), (4, 1, 2, 3)]
_C4V_PERMS = tuple(
    (0,) + rot for rot in _ROTATIONS
) + tuple((0,) + (rot[0], rot[3], rot[2], rot[1]) for rot in _ROTATIONS)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class CTMEnv:
    """C4v-symmetric CTMRG environment.

    Attributes:
      C: corner matrix, shape (χ, χ), symmetric (diagonal in the canonical gauge).
      T: edge tensor, shape (χ, D², χ), ``T[α, s, β] = T[β, s, α]``; ``s`` is the bulk leg.
    """

    C: jax.Array
    T: jax.Array

    @property
    def chi(self) -> int:
        return self.C.shape[0]


@jax.jit
def symmetrize(A: jax.Array) -> jax.Array:
    """Project ``A[s, u, l, d, r]`` onto the C4v-invariant subspace (average over the group)."""
    return sum(jnp.transpose(A, p) for p in _C4V_PERMS) / len(_C4V_PERMS)


def validate_tensor(A, *, name: str = "A") -> None:
    """Raise :class:`InputError` unless ``A`` is a finite real (d, D, D, D, D) array."""
    shape = np.shape(A)
    if len(shape) != 5 or len(set(shape[1:])) != 1 or min(shape) < 1:
        raise InputError(f"{name} must have shape (d, D, D, D, D), got {shape}")
    if np.iscomplexobj(A):
        raise InputError(f"{name} must be real (the C4v ansatz here is real), got dtype {np.asarray(A).dtype}")
    if not isinstance(A, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(A))):
        raise InputError(f"{name} has non-finite entries")


@jax.jit
def double_layer(A: jax.Array) -> jax.Array:
    """Double-layer tensor ``a = Σ_s A_s ⊗ A_s*`` with legs (u, l, d, r) of dimension D²."""
    d, D = A.shape[0], A.shape[1]
    a = jnp.einsum("sabcd,sefgh->aebfcgdh", A, jnp.conj(A))
    return a.reshape(D * D, D * D, D * D, D * D)


def double_layer_open(A: jax.Array) -> jax.Array:
    """Double-layer tensor with open physical indices: ``a[u, l, d, r, s, s'] = A_s ⊗ A_s'*``."""
    d, D = A.shape[0], A.shape[1]
    a = jnp.einsum("sabcd,tefgh->aebfcgdhst", A, jnp.conj(A))
    return a.reshape(D * D, D * D, D * D, D * D, d, d)


@partial(jax.jit, static_argnames=("chi",))
def initial_env(a: jax.Array, chi: int) -> CTMEnv:
    """Starting environment: boundary legs of ``a`` summed over, embedded in dimension χ.

    ``C0[r, d] = Σ_{u,l} a[u, l, d, r]`` and ``T0[u, r, d] = Σ_l a[u, l, d, r]`` (dimension D²
    on the χ legs), zero-padded (or cut) to χ and normalised.
    """
    D2 = a.shape[0]
    C0 = jnp.einsum("uldr->rd", a)
    T0 = jnp.einsum("uldr->urd", a)
    if chi >= D2:
        pad = chi - D2
        C0 = jnp.pad(C0, ((0, pad), (0, pad)))
        T0 = jnp.pad(T0, ((0, pad), (0, 0), (0, pad)))
    else:
        C0 = C0[:chi, :chi]
        T0 = T0[:chi, :, :chi]
    C0 = 0.5 * (C0 + C0.T)
    T0 = 0.5 * (T0 + jnp.transpose(T0, (2, 1, 0)))
    return CTMEnv(C0 / jnp.linalg.norm(C0), T0 / jnp.linalg.norm(T0))


@partial(jax.jit, static_argnames=("d", "D"))
def random_tensor(key: jax.Array, d: int, D: int) -> jax.Array:
    """A random C4v-symmetric real site tensor of shape (d, D, D, D, D), unit norm."""
    A = symmetrize(jax.random.normal(key, (d, D, D, D, D), dtype=jnp.float64))
    return A / jnp.linalg.norm(A)


def pad_tensor(A: jax.Array, D: int, *, key: jax.Array, noise: float = 1e-3) -> jax.Array:
    """Embed a (d, D0, …) site tensor in bond dimension ``D ≥ D0`` and add small C4v noise.

    Used to seed a bond-dimension-D optimisation from an optimised D−1 tensor.

    Raises:
      InputError: ``D`` smaller than the tensor's bond dimension.
    """
    validate_tensor(A)
    D0 = A.shape[1]
    if D < D0:
        raise InputError(f"pad_tensor: D={D} is smaller than the tensor's bond dimension {D0}")
    A = jnp.asarray(A) / jnp.linalg.norm(A)
    pad = D - D0
    B = jnp.pad(A, ((0, 0),) + ((0, pad),) * 4)
    B = B + noise * random_tensor(key, A.shape[0], D)
    B = symmetrize(B)
    return B / jnp.linalg.norm(B)


def c4v_residual(A) -> float:
    """Largest deviation of ``A`` from C4v symmetry, ``max_g |A − g·A|`` (diagnostic)."""
    A = jnp.asarray(A)
    return float(max(jnp.abs(A - jnp.transpose(A, p)).max() for p in _C4V_PERMS))


__all__ = ["CTMEnv", "symmetrize", "double_layer", "double_layer_open", "initial_env", "random_tensor",
           "pad_tensor", "validate_tensor", "c4v_residual"]
