"""Example inputs and probe helpers for the decomposition entries (eigh, svd, qr).

Private: used by the registry entries' ``examples``/``probe`` and by the tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._linalg_common import _mH


def _random_matrix(key, shape, complex_: bool) -> jax.Array:
    """Standard normal real or complex (real and imaginary parts N(0, 1)) matrix."""
    kr, ki = jax.random.split(key)
    x = jax.random.normal(kr, shape)
    if complex_:
        x = x + 1j * jax.random.normal(ki, shape)
    return x


def _random_unitary(key, n: int, complex_: bool) -> jax.Array:
    """Haar-ish random orthogonal/unitary matrix (QR of a Gaussian matrix, phases fixed)."""
    q, r = jnp.linalg.qr(_random_matrix(key, (n, n), complex_))
    d = jnp.diagonal(r)
    return q * (d / jnp.abs(d))


def _hermitian_with_spectrum(key, spectrum, complex_: bool) -> jax.Array:
    """``Q diag(spectrum) Q†`` with a random orthogonal/unitary ``Q``."""
    spectrum = jnp.asarray(spectrum, dtype=float)
    q = _random_unitary(key, spectrum.shape[0], complex_)
    a = (q * spectrum) @ _mH(q)
    return 0.5 * (a + _mH(a))


def _matrix_with_singular_values(key, m: int, n: int, s, complex_: bool) -> jax.Array:
    """``U diag(s) V†`` (m x n) with random isometries ``U``, ``V`` and the given singular values."""
    s = jnp.asarray(s, dtype=float)
    ku, kv = jax.random.split(key)
    u = _random_unitary(ku, m, complex_)[:, : s.shape[0]]
    v = _random_unitary(kv, n, complex_)[:, : s.shape[0]]
    return (u * s) @ _mH(v)


def _fixed_matrix(m: int, n: int) -> jax.Array:
    """A fixed, deterministic, dense real ``m x n`` matrix (probe weights), entries in [-1, 1]."""
    i = jnp.arange(m, dtype=float)[:, None]
    j = jnp.arange(n, dtype=float)[None, :]
    return jnp.cos(1.3 * i + 0.7 * j + 0.4 * i * j)


def _hermitian_part(tangents: tuple) -> tuple:
    """Project tangents onto Hermitian matrices (admissible directions for eigh)."""
    return tuple(0.5 * (t + _mH(t)) for t in tangents)
