"""The gradient-check harness shared by every primitive.

For each example :class:`~qdiff.primitives.registry.Case` of a primitive, with
``L(x) = probe(fn(x))`` a real scalar, the harness draws a random tangent ``t``
(projected to the admissible set, normalised to unit norm) and compares

* the reverse-mode directional derivative ``Re Σ ∇L·t`` (JAX's complex-gradient
  convention ``∂L/∂x − i ∂L/∂y``) and, where the primitive supports it, the
  forward-mode ``jvp``, against the fourth-order central finite difference
  ``[8(L(x+ht) − L(x−ht)) − (L(x+2ht) − L(x−2ht))] / 12h``;
* for ``order=2``, the second directional derivative from reverse-over-reverse
  AD against the same finite difference of the first derivative;
* the value and gradient against the plain-JAX ``reference`` when there is one;
* ``jit(L)`` and ``jit(grad L)`` against the eager results, and ``vmap(L)`` over
  two points against a Python loop.

Errors are relative: ``|a − b| / max(|a|, |b|, floor)`` with
``floor = 1e-7·(1 + |L(x)|)`` so that vanishing derivatives are compared
absolutely.  Everything runs in float64 (the harness refuses to run otherwise).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from ..precision import require_x64
from ._real_view import tree_norm as _norm
from .registry import Case, Primitive, get, registry

_TREE = jax.tree_util


@dataclass(frozen=True)
class CaseReport:
    """Outcome of one example case: named errors (relative) and whether all pass."""

    label: str
    value: float
    errors: dict[str, float]
    max_error: float
    passed: bool
    message: str = ""


@dataclass(frozen=True)
class CheckReport:
    """Outcome of checking one primitive over all its example cases."""

    name: str
    cases: tuple[CaseReport, ...]
    max_error: float
    passed: bool
    tolerance: float
    seconds: float
    modes: tuple[str, ...] = field(default_factory=tuple)
    order: int = 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cases"] = [asdict(c) for c in self.cases]
        return d


def _rel(a, b, floor: float) -> float:
    a, b = float(a), float(b)
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), floor)


def _random_like(key, tree):
    leaves, treedef = _TREE.tree_flatten(tree)
    keys = jax.random.split(key, max(len(leaves), 1))
    out = []
    for k, leaf in zip(keys, leaves):
        leaf = jnp.asarray(leaf)
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            raise TypeError(f"example args must be float or complex arrays, got dtype {leaf.dtype}")
        if jnp.issubdtype(leaf.dtype, jnp.complexfloating):
            kr, ki = jax.random.split(k)
            real = leaf.real.dtype
            t = (jax.random.normal(kr, leaf.shape, real) + 1j * jax.random.normal(ki, leaf.shape, real))
            out.append(t.astype(leaf.dtype))
        else:
            out.append(jax.random.normal(k, leaf.shape, leaf.dtype))
    return _TREE.tree_unflatten(treedef, out)


def _axpy(a, t, x):
    return _TREE.tree_map(lambda xi, ti: xi + jnp.asarray(a, dtype=xi.real.dtype) * ti, x, t)


def _pair(g, t) -> jax.Array:
    """Directional derivative ``Re Σ g·t`` for JAX gradients ``g`` (see module docstring)."""
    return sum(jnp.sum(jnp.real(gi * ti)) for gi, ti in zip(_TREE.tree_leaves(g), _TREE.tree_leaves(t)))


def _central_difference(f, x, t, h):
    fp, fm = f(_axpy(h, t, x)), f(_axpy(-h, t, x))
    fp2, fm2 = f(_axpy(2 * h, t, x)), f(_axpy(-2 * h, t, x))
    return (8.0 * (fp - fm) - (fp2 - fm2)) / (12.0 * h)


def _check_case(prim: Primitive, case: Case, key) -> CaseReport:
    args = case.args

    def loss(*a):
        value = prim.probe(case.evaluate(prim.fn, *a))
        return jnp.real(value) if jnp.iscomplexobj(value) else value

    errors: dict[str, float] = {}
    value = float(loss(*args))
    if not math.isfinite(value):
        return CaseReport(case.label, value, {"value": math.inf}, math.inf, False, "non-finite value")
    floor = 1e-7 * (1.0 + abs(value))

    t = _random_like(key, args)
    if case.project is not None:
        t = tuple(case.project(t))
    t = _TREE.tree_map(lambda x: x / _norm(t), t)
    argnums = tuple(range(len(args)))
    h = case.fd_step

    fd = _central_difference(lambda a: loss(*a), args, t, h)
    grad_fn = jax.grad(loss, argnums=argnums)
    g = grad_fn(*args)
    if "rev" in prim.modes:
        errors["rev"] = _rel(_pair(g, t), fd, floor)
    if "fwd" in prim.modes:
        _, d_fwd = jax.jvp(loss, args, t)
        errors["fwd"] = _rel(d_fwd, fd, floor)

    if prim.order >= 2:
        def first(a):
            return _pair(grad_fn(*a), t)

        fd2 = _central_difference(first, args, t, h)
        d2 = _pair(jax.grad(first)(args), t)
        errors["second"] = _rel(d2, fd2, 1e-7 * (1.0 + abs(float(first(args)))))

    if prim.reference is not None:
        def ref_loss(*a):
            v = prim.probe(case.evaluate(prim.reference, *a))
            return jnp.real(v) if jnp.iscomplexobj(v) else v

        errors["reference_value"] = _rel(ref_loss(*args), value, floor)
        g_ref = jax.grad(ref_loss, argnums=argnums)(*args)
        errors["reference_grad"] = _rel(_pair(g_ref, t), _pair(g, t), floor)

    errors["jit"] = _rel(jax.jit(loss)(*args), value, floor)
    g_jit = jax.jit(grad_fn)(*args)
    errors["jit_grad"] = _rel(_pair(g_jit, t), _pair(g, t), floor)

    if case.check_vmap:
        second_point = _axpy(10 * h, t, args)
        batched = _TREE.tree_map(lambda a, b: jnp.stack([a, b]), args, second_point)
        vals = jax.vmap(loss)(*batched)
        loop = [value, float(loss(*second_point))]
        errors["vmap"] = max(_rel(vals[i], loop[i], floor) for i in range(2))

    max_err = max(errors.values()) if errors else 0.0
    passed = bool(max_err <= prim.rtol)
    return CaseReport(case.label, value, {k: float(v) for k, v in errors.items()}, float(max_err), passed)


def check(primitive: str | Primitive, key: jax.Array | int | None = None) -> CheckReport:
    """Check one primitive's derivatives on all its example cases.

    Args:
      primitive: a registered name or a :class:`Primitive`.
      key: PRNG key (or integer seed) for the examples and tangents; default 0.

    Returns:
      A :class:`CheckReport` with the maximum relative error per case and overall.
    """
    require_x64("qdiff.primitives.check")
    prim = get(primitive) if isinstance(primitive, str) else primitive
    if key is None or isinstance(key, int):
        key = jax.random.PRNGKey(0 if key is None else key)
    start = time.perf_counter()
    k_examples, k_tangents = jax.random.split(key)
    cases = list(prim.examples(k_examples))
    if not cases:
        raise ValueError(f"primitive {prim.name!r} has no example cases")
    reports = []
    for i, case in enumerate(cases):
        try:
            reports.append(_check_case(prim, case, jax.random.fold_in(k_tangents, i)))
        except Exception as exc:  # a crash is a failed check, reported with its reason
            reports.append(CaseReport(case.label, math.nan, {}, math.inf, False, f"{type(exc).__name__}: {exc}"))
    max_err = max(r.max_error for r in reports)
    return CheckReport(prim.name, tuple(reports), float(max_err), all(r.passed for r in reports),
                       prim.rtol, time.perf_counter() - start, prim.modes, prim.order)


def check_all(names: list[str] | None = None, key=None, callback=None) -> list[CheckReport]:
    """Check every registered primitive (or those in ``names``), in name order."""
    entries = registry()
    selected = list(entries) if names is None else list(names)
    reports = []
    for n in selected:
        report = check(n, key)
        reports.append(report)
        if callback is not None:
            callback({"name": n, "max_error": report.max_error})
    return reports


__all__ = ["check", "check_all", "CheckReport", "CaseReport"]
