"""Closure conversion with a structural cache, so eager solver calls do not recompile.

Solvers that take a user callable (``linear_solve``'s operator, ``fixed_point``'s
map) are typically called with a fresh closure each time (``lambda x: H(θ) @ x``).
Traced naively, every call builds new ``while_loop`` programs and XLA compiles
them again — seconds per call for GMRES.  :func:`hoist` traces the callable once
to a jaxpr, turns *every* array it closes over (concrete or traced) into an
explicit argument, and returns a pure function that is *the same Python object*
for every callable with the same jaxpr.  Solvers pass that function as a static
argument to ``jax.jit``, whose cache then hits on repeated calls.

Soundness: the cache key is the printed jaxpr, the input/output tree structures
and the identities of constants held inside sub-jaxprs (closures of nested
jitted functions, which tracing does not hoist); everything else the function
depends on is passed as an argument.  The cached function keeps its jaxpr (with
those constants and any callables whose addresses appear in the printed key)
alive, so a key cannot be matched by a different object at a recycled address.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import jax

_TREE = jax.tree_util
_MAX_ENTRIES = 128
_CACHE: "OrderedDict[tuple, Callable]" = OrderedDict()


def _make_pure(jaxpr, out_tree) -> Callable:
    def pure(args: tuple, consts: tuple) -> Any:
        out = jax.core.eval_jaxpr(jaxpr, list(consts), *_TREE.tree_leaves(args))
        return _TREE.tree_unflatten(out_tree, out)

    return pure


def _nested_const_ids(jaxpr, out: list) -> list:
    """Append ``id`` of every constant held inside sub-jaxprs (e.g. a jitted function's closure).

    Those constants are not hoisted by tracing and do not appear in the printed jaxpr, so they
    must be part of the cache key (the cached entry keeps them alive, so ids are not recycled).
    """
    for eqn in jaxpr.eqns:
        for value in eqn.params.values():
            for item in value if isinstance(value, (tuple, list)) else (value,):
                consts = getattr(item, "consts", None)
                inner = getattr(item, "jaxpr", None)
                if consts is not None and inner is not None:          # a ClosedJaxpr
                    out.extend(id(c) for c in consts)
                    _nested_const_ids(inner, out)
                elif hasattr(item, "eqns"):                           # an open Jaxpr
                    _nested_const_ids(item, out)
    return out


def hoist(fun: Callable, *example_args, return_shape: bool = False) -> tuple:
    """Closure-convert ``fun`` at ``example_args``.

    Returns:
      ``(pure, consts)`` with ``pure(args_tuple, consts) == fun(*args_tuple)``; ``pure`` is cached
      by the jaxpr's structure, and ``consts`` are the arrays ``fun`` closes over (possibly tracers
      of enclosing transformations, so derivatives reach them through the explicit argument).
      With ``return_shape=True``, ``(pure, consts, out_shape)``: ``out_shape`` is ``fun``'s output
      as a pytree of ``jax.ShapeDtypeStruct`` (from the same trace, so callers need not trace again).
    """
    closed, out_shape = jax.make_jaxpr(fun, return_shape=True)(*example_args)
    in_tree = _TREE.tree_structure(example_args)
    out_tree = _TREE.tree_structure(out_shape)
    key = (str(closed.jaxpr), in_tree, out_tree, tuple(_nested_const_ids(closed.jaxpr, [])))
    pure = _CACHE.get(key)
    if pure is None:
        pure = _make_pure(closed.jaxpr, out_tree)
        _CACHE[key] = pure
        while len(_CACHE) > _MAX_ENTRIES:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    if return_shape:
        return pure, tuple(closed.consts), out_shape
    return pure, tuple(closed.consts)


__all__ = ["hoist"]
