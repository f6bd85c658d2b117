r"""Hermitian eigendecomposition with a derivative rule that survives degenerate spectra.

Forward: ``w, v = eigh(a)`` with ``a = v diag(w) v†``, ``w`` ascending and real.

Derivative (written as a JVP, ``jax.custom_jvp``; reverse mode is its transpose, and the rule
calls :func:`eigh` itself so it is differentiable to any order). With :math:`C = V^\dagger\, dA\, V`
(Hermitian for Hermitian :math:`dA`):

.. math::

    d\lambda_i = \operatorname{Re} C_{ii}, \qquad
    dV = V\,(F \circ C), \qquad
    F_{ij} = \frac{\lambda_j - \lambda_i}{(\lambda_j - \lambda_i)^2 + \epsilon}\ (i \ne j),
    \quad F_{ii} = 0 .

The reverse-mode (VJP) form, obtained by transposing, is
:math:`\bar A = V\,[\operatorname{diag}(\bar\lambda) + \tfrac12(F\circ N + (F\circ N)^\dagger)]\,V^\dagger`
with :math:`N = V^\dagger \bar V`.

Stability choices:

* :math:`F_{ij}` is the Lorentzian-broadened :math:`1/(\lambda_j-\lambda_i)`. For a loss invariant
  under unitary rotations inside each degenerate eigenspace the numerator
  :math:`(F\circ N)_{ij}` multiplies vanishes inside that eigenspace, so setting the degenerate
  :math:`F_{ij}` to 0 (instead of dividing 0 by 0, which gives NaN in ``jnp.linalg.eigh``) is
  exact. The default ``eps = 1e-12`` (broadening width :math:`\sqrt\epsilon = 10^{-6}` in units of
  :math:`\lambda`) changes :math:`1/\delta` by the relative amount :math:`\epsilon/\delta^2`, below
  :math:`10^{-6}` for gaps :math:`\delta \ge 10^{-3}`, while capping :math:`|F|` at :math:`5\times10^5`
  so non-invariant losses give large but finite gradients. Choose ``eps`` well below the square of
  the smallest gap you want resolved and well above the square of the eigenvalue error
  (:math:`\sim 10^{-16}\|A\|`).
* Complex gauge: each eigenvector is fixed only up to a phase :math:`v_i \to e^{i\phi_i} v_i`. The rule
  picks :math:`\operatorname{Im}(V^\dagger dV)_{ii} = 0` (``F_ii = 0``), so in reverse mode the
  component :math:`\operatorname{Im}\operatorname{diag}(V^\dagger\bar V)` is dropped. That is exact
  for gauge-invariant losses (for them this component is zero); a loss that depends on the phase
  of an eigenvector is not a function of ``a`` and has no meaningful gradient.
* Limits: at an exact degeneracy the eigendecomposition is not differentiable; the rule gives the
  gradient of the loss whenever the loss depends on each degenerate eigenspace only through its
  projector and the eigenvalue sum (e.g. :math:`\sum_i f(\lambda_i)`, :math:`\operatorname{tr} P B`
  for the projector :math:`P` onto a complete degenerate eigenspace, and
  :math:`\operatorname{tr} f(A) B` where :math:`f' = 0` on the degenerate eigenvalues). For
  :math:`\operatorname{tr} f(A) B` with :math:`f' \ne 0` on a degenerate eigenvalue the gradient
  needs :math:`f'` off the diagonal of the eigenspace, which no rule built from
  :math:`(\bar\lambda, \bar V)` can know: differentiate the matrix function itself (e.g.
  ``jax.scipy.linalg.expm``) there.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from ._linalg_common import _broadened_inverse, _check_eps, _check_matrix, _mH
from ._linalg_examples import _fixed_matrix, _hermitian_part, _hermitian_with_spectrum, _random_matrix
from .registry import Case, register


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def _eigh_hermitian(a, eps):
    return jnp.linalg.eigh(a, symmetrize_input=False)


@_eigh_hermitian.defjvp
def _eigh_jvp(eps, primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _eigh_hermitian(a, eps)
    c = _mH(v) @ da @ v
    dw = jnp.real(jnp.diagonal(c, axis1=-2, axis2=-1))
    dv = v @ _coupling(w, _mH(v) @ a @ v, c, eps)
    return (w, v), (dw, dv)


def _coupling(w, lam, c, eps):
    r"""Solve :math:`\Lambda X - X \Lambda = -c` off the diagonal (broadened): ``X = F ∘ c``.

    ``lam`` is :math:`V^\dagger A V` (numerically ``diag(w)``). Its derivative carries the full
    block of :math:`V^\dagger\,dA\,V` inside each (near-)degenerate eigenspace, while the derivative
    of ``w`` only has the diagonal in an arbitrary basis. Differentiating the Sylvester equation,
    :math:`dX = F \circ (dc + [d\Lambda, X])`, with the full :math:`d\Lambda` makes second
    derivatives independent of the basis chosen inside degenerate eigenspaces. ``F`` itself is held
    fixed (``stop_gradient``) so its steep slope :math:`1/\epsilon` at zero gap never multiplies
    rounding noise; the commutator term supplies the exact derivative of :math:`1/(\lambda_j-\lambda_i)`.
    """
    n = w.shape[-1]
    gap = jax.lax.stop_gradient(w[..., None, :] - w[..., :, None])  # gap[i, j] = w_j - w_i
    f = jnp.where(jnp.eye(n, dtype=bool), 0.0, _broadened_inverse(gap, eps)).astype(c.dtype)
    x0 = f * c
    dlam = lam - jax.lax.stop_gradient(lam)  # value 0, tangent dΛ
    return f * (c + dlam @ x0 - x0 @ dlam)


def _eigh_value(a, eps):
    a = 0.5 * (a + _mH(a))
    return _eigh_hermitian(a, eps)


def _examples(key):
    """Random real/complex, exactly degenerate, nearly degenerate (gap 1e-9) and batched inputs.

    Degenerate clusters sit at integer eigenvalues, where the probe's spectral functions are flat
    to second order (see :func:`_probe`).
    """
    k = jax.random.split(key, 8)
    degenerate = [1.0, 1.0, 2.0, 3.0, 3.0, 3.0]
    near = [1.0, 1.0 + 1e-9, 2.0, 3.0 - 1e-9, 3.0, 3.0 + 2e-9]
    sym = _random_matrix(k[0], (6, 6), False)
    her = _random_matrix(k[1], (5, 5), True)
    batch = _random_matrix(k[6], (2, 4, 4), True)
    cases = [
        ("random real symmetric 6x6", 0.5 * (sym + sym.T)),
        ("random complex Hermitian 5x5", 0.5 * (her + _mH(her))),
        ("degenerate real 6x6, spectrum (1,1,2,3,3,3)", _hermitian_with_spectrum(k[2], degenerate, False)),
        ("degenerate complex 6x6, spectrum (1,1,2,3,3,3)", _hermitian_with_spectrum(k[3], degenerate, True)),
        ("nearly degenerate real 6x6, gaps 1e-9", _hermitian_with_spectrum(k[4], near, False)),
        ("nearly degenerate complex 6x6, gaps 1e-9", _hermitian_with_spectrum(k[5], near, True)),
        ("batched complex Hermitian 2x4x4", 0.5 * (batch + _mH(batch))),
    ]
    return [Case(label, (a,), project=_hermitian_part) for label, a in cases]


def _flat_at_integers(x):
    """:math:`c(x) = x - \\sin(2\\pi x)/(2\\pi)`: smooth, with :math:`c' = c'' = 0` at integers."""
    return x - jnp.sin(2.0 * jnp.pi * x) / (2.0 * jnp.pi)


def _probe(outputs):
    r"""Gauge-invariant probe :math:`\sum_i \sin(\pi\lambda_i) + \operatorname{Re}\operatorname{tr}(V c(\Lambda) V^\dagger B)`.

    A smooth function of ``a`` (``tr sin(πA) + Re tr(c(A) B)``, fixed real ``B``). It exercises
    eigenvalue and eigenvector derivatives everywhere; on degenerate clusters (placed at integers)
    :math:`\sin''(\pi\lambda)` and :math:`c', c''` vanish, which is the class of losses for which
    derivatives through a degenerate eigendecomposition are defined (module docstring).
    """
    w, v = outputs
    n = w.shape[-1]
    b = _fixed_matrix(n, n)
    b = b + b.T
    weighted = (v * _flat_at_integers(w)[..., None, :]) @ _mH(v)
    return jnp.sum(jnp.sin(jnp.pi * w)) + jnp.sum(jnp.real(weighted * b.T))


@register("eigh", examples=_examples, probe=_probe, order=2, modes=("fwd", "rev"))
def eigh(a, *, eps: float = 1e-12):
    r"""Eigenvalues and eigenvectors of a Hermitian (or real symmetric) matrix, batched.

    Computes ``w, v`` with :math:`A v_i = \lambda_i v_i`, :math:`\lambda` ascending, from the
    Hermitian part :math:`(A + A^\dagger)/2` of ``a`` (so derivatives along non-Hermitian directions
    are those of that Hermitian part). See the module docstring for the derivative rule.

    Args:
      a: float or complex array of shape ``(..., n, n)``.
      eps: Lorentzian broadening of :math:`1/(\lambda_j-\lambda_i)` in the derivative rule, in units
        of :math:`\lambda^2` (static; default ``1e-12``). Does not change the values.

    Returns:
      ``(w, v)``: eigenvalues ``(..., n)`` (real, ascending) and eigenvectors ``(..., n, n)`` as columns.

    Raises:
      InputError: ``a`` is not a (batch of) square float/complex matrices, or has NaN/inf entries
        (checked when ``a`` is concrete), or ``eps`` is negative.
    """
    a = _check_matrix(a, "a", "eigh", square=True)
    eps = _check_eps(eps, "eigh")
    return _eigh_value(a, eps)
