r"""Thin singular value decomposition with a derivative rule for degenerate and rank-deficient input.

Forward: ``u, s, vh = svd(a)`` with ``a = u diag(s) vh``, ``s`` descending, thin
(``r = min(m, n)`` columns), optionally truncated to the ``k`` largest singular values.

Derivative (``jax.custom_jvp``; reverse mode is its transpose; the rule calls the SVD itself, so it
is differentiable again). With :math:`P = U^\dagger dA\, V`, :math:`P_s = (P + P^\dagger)/2`,
:math:`P_a = (P - P^\dagger)/2`:

.. math::

    ds_i &= \operatorname{Re} P_{ii}, \\
    U^\dagger dU &= F^- \circ P_s + F^+ \circ P_a, \qquad
    V^\dagger dV = F^- \circ P_s - F^+ \circ P_a, \\
    F^-_{ij} &\simeq \frac{1}{s_j - s_i}\ (i\ne j),\ F^-_{ii} = 0, \qquad
    F^+_{ij} \simeq \frac{1}{s_j + s_i}, \\
    dU &\mathrel{+}= (1 - UU^\dagger)\, dA\, V S^{-1}, \qquad
    dV \mathrel{+}= (1 - VV^\dagger)\, dA^\dagger U S^{-1} .

This is the eigenvector rule of the Hermitian dilation :math:`\begin{pmatrix}0&A\\A^\dagger&0\end{pmatrix}`
(eigenvalues :math:`\pm s_i`, eigenvectors :math:`(u_i, \pm v_i)/\sqrt2`, and the null space of
:math:`A^\dagger` or :math:`A` for the projector terms). Its pieces:

* :math:`F^-` (gaps :math:`s_j - s_i`) is broadened like ``eigh``'s
  (:math:`x^3/(x^4+\epsilon^2)`, see :func:`qdiff.primitives.eigh`): degenerate singular values give
  exactly 0 instead of 0/0.
* :math:`F^+` (sums :math:`s_i + s_j`) and :math:`S^{-1}` are broadened the same way, so exactly
  zero singular values (rank-deficient input) give 0 instead of inf.
* The diagonal of :math:`F^+ \circ P_a`, :math:`i\,\operatorname{Im} P_{ii} / (2 s_i)`, is the complex
  gauge term: only :math:`\operatorname{Im}(U^\dagger dU - V^\dagger dV)_{ii} = \operatorname{Im}P_{ii}/s_i`
  is fixed by :math:`A`; the rule splits it evenly. In reverse mode this keeps the term
  :math:`\operatorname{Im}\operatorname{diag}(U^\dagger\bar U)/s` (and its :math:`V` partner),
  which matters for complex input; losses must be invariant under :math:`u_i, v_i \to e^{i\phi}u_i,
  e^{i\phi}v_i` (as every function of ``a`` is).
* The projector terms are needed because the thin :math:`U` (or :math:`V`) does not span the full
  space. Truncation to ``k`` slices the thin decomposition, so kept vectors keep their exact
  coupling :math:`1/(s_j^2 - s_i^2)` to discarded ones (the cut must fall between distinct values).
* Second derivatives: as in ``eigh``, the couplings are differentiated as solutions of the
  Sylvester equations they solve, with the full block :math:`d(U^\dagger A V)` inside each
  degenerate cluster and the couplings :math:`d[(1-UU^\dagger)AV]`, :math:`d[(1-VV^\dagger)A^\dagger U]`
  between zero singular vectors and the complements (zero-valued carriers whose derivatives are
  exactly the dilation's missing in-cluster elements), so grad-of-grad does not depend on the basis
  chosen inside a degenerate singular subspace, rank-deficient input included.

Limits: as for ``eigh``, at an exact degeneracy only losses that depend on each degenerate singular
subspace through its projectors and the singular-value sum are differentiable from
:math:`(\bar U, \bar s, \bar V)`; :math:`\operatorname{tr}(U g(S) V^\dagger B)` needs :math:`g' = 0`
on degenerate values (and :math:`g''=0` for second derivatives).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ._linalg_common import _broadened_inverse, _check_eps, _check_matrix, _mH
from ._linalg_examples import _fixed_matrix, _matrix_with_singular_values, _random_matrix
from .registry import Case, register

_sg = jax.lax.stop_gradient


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def _svd_thin(a, eps):
    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    return u, s, vh


def _herm(x):
    return 0.5 * (x + _mH(x))


def _anti(x):
    return 0.5 * (x - _mH(x))


@_svd_thin.defjvp
def _svd_jvp(eps, primals, tangents):
    (a,), (da,) = primals, tangents
    u, s, vh = _svd_thin(a, eps)
    v = _mH(vh)
    r = s.shape[-1]
    dtype = u.dtype
    s_fixed = _sg(s)
    p = _mH(u) @ da @ v
    p_s, p_a = _herm(p), _anti(p)
    diff = s_fixed[..., None, :] - s_fixed[..., :, None]  # [i, j] = s_j - s_i
    summ = s_fixed[..., None, :] + s_fixed[..., :, None]
    f_minus = jnp.where(jnp.eye(r, dtype=bool), 0.0, _broadened_inverse(diff, eps)).astype(dtype)
    f_plus = _broadened_inverse(summ, eps).astype(dtype)
    s_inv = _broadened_inverse(s_fixed, eps).astype(dtype)

    # Zero-valued carrier of d(U† A V): the full in-cluster block for second derivatives.
    m = _mH(u) @ a @ v
    dm = m - _sg(m)
    l_s, l_a = _herm(dm), _anti(dm)
    x1, x2 = f_minus * p_s, f_plus * p_a
    # Zero-valued carriers of the couplings to the complements of span(U) and span(V) (the null
    # spaces of A† and A): non-zero derivatives only next to zero singular values. A thin factor
    # that is square (U when m <= n, V when m >= n) is unitary, its complement is empty and every
    # one of these terms is identically zero (to all orders): skipped statically.
    m_inv = jnp.eye(r, dtype=dtype) * s_inv[..., None, :] - s_inv[..., :, None] * dm * s_inv[..., None, :]
    q1 = p_s + (l_s @ x1 - x1 @ l_s) - (l_a @ x2 + x2 @ l_a)
    q2 = p_a - (l_s @ x2 + x2 @ l_s) + (l_a @ x1 - x1 @ l_a)
    du_extra = dv_extra = None
    if u.shape[-2] > r:  # m > n: U has a complement
        y_u = (da @ v - u @ p) * s_inv[..., None, :]  # (1 - UU†) dA V S^-1
        g_u = a @ v - u @ m
        dg_u = g_u - _sg(g_u)
        q1 = q1 + _herm(_mH(dg_u) @ y_u)
        q2 = q2 - _anti(_mH(dg_u) @ y_u)
        # S^{-1} to first order in dm: (S + dM)^{-1} = S^{-1} - S^{-1} dM S^{-1}.
        du_extra = (da @ v - u @ p) @ m_inv, dg_u, -1.0
    if v.shape[-2] > r:  # n > m: V has a complement
        y_v = (_mH(da) @ u - v @ _mH(p)) * s_inv[..., None, :]  # (1 - VV†) dA† U S^-1
        g_v = _mH(a) @ u - v @ _mH(m)
        dg_v = g_v - _sg(g_v)
        q1 = q1 + _herm(_mH(dg_v) @ y_v)
        q2 = q2 + _anti(_mH(dg_v) @ y_v)
        dv_extra = (_mH(da) @ u - v @ _mH(p)) @ _mH(m_inv), dg_v, 1.0
    j_u = f_minus * q1 + f_plus * q2
    j_v = f_minus * q1 - f_plus * q2

    du = u @ j_u
    dv = v @ j_v
    if du_extra is not None:
        proj, dg, sign = du_extra
        du = du + proj + (dg @ (x1 + sign * x2)) * s_inv[..., None, :]
    if dv_extra is not None:
        proj, dg, sign = dv_extra
        dv = dv + proj + (dg @ (x1 + sign * x2)) * s_inv[..., None, :]
    ds = jnp.real(jnp.diagonal(p, axis1=-2, axis2=-1))
    return (u, s, vh), (du, ds, _mH(dv))


def _check_k(k, r: int):
    """``k`` is None or a static int in ``[1, r]``."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InputError(f"svd: argument 'k' must be a static int or None, got {k!r}")
    if not 1 <= k <= r:
        raise InputError(f"svd: argument 'k' must satisfy 1 <= k <= min(m, n) = {r}, got {k}")
    return int(k)


def _h(x):
    """:math:`h(s) = s^2/2 + (\\cos 2\\pi s - 1)/(4\\pi^2)`, even, :math:`h' = c`, :math:`h'' = c' = 0` at integers."""
    return 0.5 * x * x + (jnp.cos(2.0 * jnp.pi * x) - 1.0) / (4.0 * jnp.pi ** 2)


def _c(x):
    """:math:`c(s) = s - \\sin(2\\pi s)/(2\\pi)`: odd, :math:`c' = c'' = 0` at integers."""
    return x - jnp.sin(2.0 * jnp.pi * x) / (2.0 * jnp.pi)


@jax.jit
def _probe(outputs):
    r"""Gauge-invariant probe :math:`\sum_i h(s_i) + \operatorname{Re}\operatorname{tr}(U c(S) V^\dagger B)`.

    ``B`` is a fixed real matrix. :math:`c` is odd and :math:`h` even, so the probe is smooth in
    ``a`` also at zero singular values; degenerate clusters in the examples sit at integers (0
    included), where :math:`h'' = c' = c'' = 0` (the class of losses differentiable through a
    degenerate SVD, see the module docstring), while :math:`h' \ne 0` there except at 0.
    """
    u, s, vh = outputs
    m, n = u.shape[-2], vh.shape[-1]
    b = _fixed_matrix(n, m)
    g = (u * _c(s)[..., None, :]) @ vh  # (..., m, n)
    return jnp.sum(_h(s)) + jnp.sum(jnp.real(g * b.T))


def _examples(key):
    """Random, degenerate, nearly degenerate, rank-deficient, wide and truncated inputs."""
    k = jax.random.split(key, 8)
    # Grouped by (dtype, shape, k): each group costs one set of compilations in the harness.
    cases = [
        ("random real 6x4", _random_matrix(k[0], (6, 4), False), None),
        ("degenerate real 6x4, s=(3,3,2,1)", _matrix_with_singular_values(k[2], 6, 4, [3, 3, 2, 1], False), None),
        ("rank-deficient real 6x4, s=(2,1,0,0)", _matrix_with_singular_values(k[5], 6, 4, [2, 1, 0, 0], False), None),
        ("random complex 6x4", _random_matrix(k[1], (6, 4), True), None),
        ("nearly degenerate complex 6x4, s=(3,3+1e-9,2,1)",
         _matrix_with_singular_values(k[4], 6, 4, [3 + 1e-9, 3, 2, 1], True), None),
        ("rank-deficient complex 6x4, s=(3,3,1,0)", _matrix_with_singular_values(k[6], 6, 4, [3, 3, 1, 0], True), None),
        ("degenerate complex wide 4x6 truncated k=3, s=(3,3,2,0.5)",
         _matrix_with_singular_values(k[3], 4, 6, [3, 3, 2, 0.5], True), 3),
        ("rank-deficient complex wide 4x6 truncated k=3, s=(2,2,1,0)",
         _matrix_with_singular_values(k[7], 4, 6, [2, 2, 1, 0], True), 3),
    ]
    return [Case(label, (a,), kwargs={} if kk is None else {"k": kk}) for label, a, kk in cases]


@register("svd", examples=_examples, probe=_probe, order=2, modes=("fwd", "rev"))
def svd(a, *, k: int | None = None, eps: float = 1e-12):
    r"""Thin singular value decomposition :math:`A = U \operatorname{diag}(s) V^\dagger`, batched.

    Args:
      a: float or complex array of shape ``(..., m, n)``.
      k: keep only the ``k`` largest singular values (static int, ``1 <= k <= min(m, n)``);
        ``None`` keeps all ``min(m, n)``. Derivatives need a gap between the k-th and (k+1)-th value.
      eps: broadening of :math:`1/(s_j \mp s_i)` and :math:`1/s` in the derivative rule, in units of
        :math:`s^2` (static; default ``1e-12``; see :func:`qdiff.primitives.eigh`). Values unchanged.

    Returns:
      ``(u, s, vh)`` of shapes ``(..., m, k)``, ``(..., k)`` (real, descending) and ``(..., k, n)``.

    Raises:
      InputError: ``a`` is not a (batch of) float/complex matrices, has NaN/inf entries (checked
        when concrete), ``k`` is out of range or not an int, or ``eps`` is negative.
    """
    a = _check_matrix(a, "a", "svd")
    eps = _check_eps(eps, "svd")
    k = _check_k(k, min(a.shape[-2], a.shape[-1]))
    return _svd_value(a, k, eps)


@partial(jax.jit, static_argnums=(1, 2))
def _svd_value(a, k, eps):
    u, s, vh = _svd_thin(a, eps)
    if k is not None:
        u, s, vh = u[..., :, :k], s[..., :k], vh[..., :k, :]
    return u, s, vh
