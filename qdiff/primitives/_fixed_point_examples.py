"""Example inputs, probe and unrolled reference of the ``fixed_point`` registry entry.

Private: used by :mod:`qdiff.primitives.fixed_point` when it registers itself.  The cases cover
both forward methods and both adjoint methods, pytrees, complex non-holomorphic maps, arrays the
map closes over, a caller's residual and an auxiliary output.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .registry import Case

_TREE = jax.tree_util


def unrolled(f, params, x0, *, has_aux: bool = False, steps: int = 160, **_ignored):
    """Reference: ``steps`` plain iterations, differentiated by ordinary JAX autodiff (unrolled)."""
    step = (lambda x: f(x, params)[0]) if has_aux else (lambda x: f(x, params))
    return lax.fori_loop(0, steps, lambda _, x: step(x), x0)


def _vector_map(x, p):
    a, b = p
    return jnp.tanh(a @ x + b)


def _tree_map(x, p):
    u, v = x["u"], x["v"]
    u_new = 0.5 * jnp.tanh(p["w"] @ v.ravel() + p["c"])
    v_new = 0.3 * jnp.cos(jnp.outer(u[:2], u[1:]) + p["d"])
    return {"u": u_new, "v": v_new}


def _complex_map(z, p):
    """Non-holomorphic contraction (uses conj and |z|²), complex params."""
    m, c = p
    return 0.4 * (m @ z) + 0.2 * jnp.conj(z) * jnp.exp(-jnp.abs(z) ** 2) + c


def _aux_residual(x, fx, aux):
    """A caller's stopping test read from the map's auxiliary output (its ∞-norm change)."""
    return aux["max_change"]


def examples(key):
    k = jax.random.split(key, 10)
    n = 5
    a = jax.random.normal(k[0], (n, n))
    a = 0.5 * a / jnp.linalg.norm(a, 2)
    b = jax.random.normal(k[1], (n,))
    tree_params = {"w": 0.4 * jax.random.normal(k[2], (3, 4)) / 2, "c": jax.random.normal(k[3], (3,)),
                   "d": jax.random.normal(k[4], (2, 2))}
    tree_x0 = {"u": jnp.zeros(3), "v": jnp.zeros((2, 2))}
    mc = jax.random.normal(k[5], (n, n)) + 1j * jax.random.normal(k[6], (n, n))
    mc = mc / jnp.linalg.norm(mc, 2)
    cc = 0.5 * (jax.random.normal(k[7], (n,)) + 1j * jax.random.normal(k[8], (n,)))
    q = 0.3 * jax.random.normal(k[9], (n,))
    x0 = jnp.zeros(n)

    def closing_over(fn, p, s):
        def f(x, pp):
            fx = _vector_map(x, pp) * jnp.cos(s)
            # auxiliary output (not differentiated): a diagnostic, and the ∞-norm change the residual reads
            return fx, {"sum": jnp.sum(fx), "max_change": jnp.max(jnp.abs(fx - x))}

        return fn(f, p, x0, has_aux=True, residual=_aux_residual, tol=1e-12)

    return [
        Case("vector x, tanh contraction, Anderson, GMRES adjoint", ((a, b),),
             call=lambda fn, p: fn(_vector_map, p, x0, method="anderson")),
        Case("vector x, tanh contraction, plain iteration, iterated adjoint", ((a, b),),
             call=lambda fn, p: fn(_vector_map, p, x0, method="iterate", adjoint_method="iterate")),
        Case("pytree x (dict of two arrays), dict params, Anderson, iterated adjoint", (tree_params,),
             call=lambda fn, p: fn(_tree_map, p, tree_x0, adjoint_method="iterate")),
        Case("complex x, non-holomorphic map (conj, |z|^2), Anderson, GMRES adjoint", ((mc, cc),),
             call=lambda fn, p: fn(_complex_map, p, jnp.zeros(n, complex))),
        Case("f closes over a differentiated array, has_aux, caller's residual read from aux (max-norm)", ((a, b), q),
             call=closing_over),
    ]


def probe(x):
    total = 0.0
    for i, leaf in enumerate(_TREE.tree_leaves(x)):
        w = jnp.arange(1, leaf.size + 1, dtype=jnp.result_type(float)).reshape(leaf.shape)
        total = total + jnp.sum(jnp.abs(leaf) ** 2) + jnp.sum(w * jnp.real(leaf)) / (i + 1)
    return total
