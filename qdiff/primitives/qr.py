r"""Reduced QR decomposition with a unique (positive-diagonal) gauge, for tall, square and wide input.

Forward: ``q, r = qr(a)`` with ``a = q r``, ``q`` of orthonormal columns ``(m, k)``, ``r`` upper
triangular ``(k, n)``, ``k = min(m, n)``, and ``diag(r)`` real and :math:`\ge 0` (LAPACK's phases
are moved from ``r`` into ``q``), which makes the decomposition unique for full-rank input.

Derivative (``jax.custom_jvp``; reverse mode by transposition; the rule calls :func:`qr` itself,
so it is differentiable to any order). For :math:`m \ge n` with :math:`C = Q^\dagger dA\, R^{-1}`:

.. math::

    \Omega = \operatorname{tril}(C, -1) - \operatorname{tril}(C, -1)^\dagger
             + i\,\operatorname{Im}\operatorname{diag}(C), \\
    dQ = Q\,\Omega + (1 - QQ^\dagger)\, dA\, R^{-1}, \qquad dR = (C - \Omega)\, R .

:math:`\Omega = Q^\dagger dQ` is anti-Hermitian and makes :math:`dR\,R^{-1} = C - \Omega` upper
triangular with a real diagonal, which is what keeps ``diag(r)`` real. For :math:`m < n` the input
is split as :math:`A = [X \mid Y]` with square :math:`X` (m x m): :math:`X = Q R_X` by the rule
above, and :math:`R = [R_X \mid Q^\dagger Y]`, so
:math:`dR_Y = dQ^\dagger Y + Q^\dagger dY`. The rule needs the leading ``k x k`` block of ``r``
invertible (full-rank leading columns); rank-deficient input has no unique QR.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._linalg_common import _check_matrix, _mH
from ._linalg_examples import _fixed_matrix, _random_matrix
from .registry import Case, register


def _positive_diagonal(q, r):
    """Move the phases of ``diag(r)`` into ``q`` so that ``diag(r)`` is real and >= 0."""
    d = jnp.diagonal(r, axis1=-2, axis2=-1)
    mag = jnp.abs(d)
    phase = jnp.where(mag == 0, 1.0, d / jnp.where(mag == 0, 1.0, mag)).astype(r.dtype)
    return q * phase[..., None, :], r * phase.conj()[..., :, None]


def _lapack_qr(a):
    return _positive_diagonal(*jnp.linalg.qr(a, mode="reduced"))


@jax.custom_jvp
def _qr_tall(a):
    return _lapack_qr(a)


@_qr_tall.defjvp
def _qr_tall_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    q, r = _qr_tall(a)
    n = r.shape[-1]
    # C = Q† dA R^{-1}, i.e. solve C R = Q† dA (R upper triangular).
    qt_da = _mH(q) @ da
    c = _mH(jax.scipy.linalg.solve_triangular(_mH(r), _mH(qt_da), lower=True))
    low = jnp.tril(c, -1)
    diag = jnp.diagonal(c, axis1=-2, axis2=-1)
    omega = low - _mH(low)
    if jnp.iscomplexobj(c):
        omega = omega + jnp.eye(n, dtype=c.dtype) * (1j * jnp.imag(diag))[..., None, :]
    da_rinv = _mH(jax.scipy.linalg.solve_triangular(_mH(r), _mH(da), lower=True))
    dq = q @ omega + da_rinv - q @ c
    dr = (c - omega) @ r
    return (q, r), (dq, dr)


@jax.jit
def _qr_value(a):
    m, n = a.shape[-2], a.shape[-1]
    if m >= n:
        return _qr_tall(a)
    q, r_x = _qr_tall(a[..., :, :m])
    r_y = _mH(q) @ a[..., :, m:]
    return q, jnp.concatenate([r_x, r_y], axis=-1)


@jax.jit
def _reference(a):
    """Plain-JAX QR (``jnp.linalg.qr`` and its own derivative) in the same gauge and split."""
    m, n = a.shape[-2], a.shape[-1]
    if m >= n:
        return _lapack_qr(a)
    q, r_x = _lapack_qr(a[..., :, :m])
    return q, jnp.concatenate([r_x, _mH(q) @ a[..., :, m:]], axis=-1)


@jax.jit
def _probe(outputs):
    r""":math:`\sum \operatorname{Re}(Q \circ B_1)^2 + \sum \sin\operatorname{Re}(R \circ B_2)` for fixed
    complex :math:`B_1, B_2` (the positive-diagonal gauge makes ``q, r`` functions of ``a``)."""
    q, r = outputs
    (m, k), n = q.shape[-2:], r.shape[-1]
    b1 = _fixed_matrix(m, k) + 1j * _fixed_matrix(k, m).T
    b2 = _fixed_matrix(n, k).T - 0.5j * _fixed_matrix(k, n)
    return jnp.sum(jnp.real(q * b1) ** 2) + jnp.sum(jnp.sin(jnp.real(r * b2)))


def _examples(key):
    """Tall, square and wide, real and complex inputs."""
    k = jax.random.split(key, 5)
    cases = [
        ("tall real 6x4", _random_matrix(k[0], (6, 4), False)),
        ("tall complex 6x4", _random_matrix(k[1], (6, 4), True)),
        ("square complex 4x4", _random_matrix(k[3], (4, 4), True)),
        ("wide complex 4x6", _random_matrix(k[4], (4, 6), True)),
    ]
    return [Case(label, (a,)) for label, a in cases]


@register("qr", examples=_examples, probe=_probe, reference=_reference, order=2, modes=("fwd", "rev"))
def qr(a):
    r"""Reduced QR decomposition :math:`A = QR` with real, non-negative ``diag(r)``, batched.

    Args:
      a: float or complex array of shape ``(..., m, n)``; any of tall, square or wide.

    Returns:
      ``(q, r)`` of shapes ``(..., m, k)`` and ``(..., k, n)``, ``k = min(m, n)``; ``q`` has
      orthonormal columns and ``r`` is upper triangular with ``diag(r) >= 0``.

    Raises:
      InputError: ``a`` is not a (batch of) float/complex matrices, or has NaN/inf entries
        (checked when concrete).
    """
    a = _check_matrix(a, "a", "qr")
    return _qr_value(a)
