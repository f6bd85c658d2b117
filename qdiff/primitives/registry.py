"""The registry of qdiff's differentiable primitives.

A *primitive* is a function whose derivative qdiff writes by hand (with
``jax.custom_vjp`` / ``jax.custom_jvp``) because generic AD would be wrong,
unstable, slow or memory-hungry.  Each is registered once, under a dotted name,
together with example inputs (including the hard cases), a gauge-invariant
*probe* that maps its outputs to a real scalar, and optionally a *reference*
implementation (plain JAX, or an unrolled iteration).  The harness in
:mod:`qdiff.primitives.check` checks every entry the same way.

The registry is a write-once mapping filled when the defining modules are
imported; :func:`registry` imports qdiff's own subpackages first so that it
always lists every built-in entry.
"""

from __future__ import annotations

import importlib
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

# Subpackages that register primitives when imported.
_BUILTIN_MODULES = ("qdiff.primitives", "qdiff.circuits", "qdiff.tensornet", "qdiff.dft")


@dataclass(frozen=True)
class Case:
    """One example input of a primitive, as checked by the harness.

    Attributes:
      label: short description ("degenerate complex 6x6", …).
      args: the differentiable inputs, a tuple of pytrees of float/complex arrays.
      kwargs: inputs held fixed (options, callables), passed by keyword.
      call: optional ``call(fn, *args) -> outputs`` adapting the calling convention
        (for instance ``lambda fn, p: fn(f, p, x0)``); default ``fn(*args, **kwargs)``.
      project: optional linear map applied to random tangents so they stay in the
        admissible set (e.g. Hermitian part for ``eigh``).
      fd_step: finite-difference step along a unit-norm tangent.
      check_vmap: whether the harness checks ``vmap`` on this case.
    """

    label: str
    args: tuple
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    call: Callable[..., Any] | None = None
    project: Callable[[tuple], tuple] | None = None
    fd_step: float = 1e-3
    check_vmap: bool = True

    def evaluate(self, fn: Callable, *args):
        """Apply ``fn`` to ``args`` (default: this case's args) with this case's convention."""
        args = self.args if not args else args
        if self.call is not None:
            return self.call(fn, *args)
        return fn(*args, **self.kwargs)


@dataclass(frozen=True)
class Primitive:
    """A registered differentiable primitive.

    Attributes:
      name: registry key, e.g. ``"eigh"`` or ``"circuits.expect"``.
      fn: the function, with its hand-written derivative rule.
      examples: ``examples(key) -> Sequence[Case]``, small inputs including hard cases.
      probe: ``probe(outputs) -> real scalar``, invariant under the output's gauge freedom.
      reference: optional function with ``fn``'s signature computed by plain JAX (or by an
        unrolled iteration); values and gradients must agree with ``fn``.
      modes: derivative modes ``fn`` supports: ``("rev",)`` for custom_vjp, ``("fwd", "rev")``.
      order: highest derivative order the harness checks (2 = grad of grad).
      rtol: tolerance on the relative error of directional derivatives.
      tags: free-form labels, e.g. ``{"slow"}``.
    """

    name: str
    fn: Callable
    examples: Callable[[Any], Sequence[Case]]
    probe: Callable[[Any], Any]
    reference: Callable | None = None
    modes: tuple[str, ...] = ("rev",)
    order: int = 1
    rtol: float = 1e-6
    tags: frozenset[str] = frozenset()

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


_REGISTRY: dict[str, Primitive] = {}


def register(name: str, *, examples: Callable[[Any], Sequence[Case]], probe: Callable[[Any], Any],
             reference: Callable | None = None, modes: Sequence[str] = ("rev",), order: int = 1,
             rtol: float = 1e-6, tags: Sequence[str] = ()) -> Callable[[Callable], Callable]:
    """Decorator registering ``fn`` as primitive ``name``; returns ``fn`` unchanged.

    Raises:
      ValueError: ``name`` is already registered, or ``modes``/``order`` are invalid.
    """
    modes = tuple(modes)
    if not modes or any(m not in ("fwd", "rev") for m in modes):
        raise ValueError(f"primitive {name!r}: modes must be a non-empty subset of ('fwd', 'rev'), got {modes}")
    if order not in (1, 2):
        raise ValueError(f"primitive {name!r}: order must be 1 or 2, got {order}")

    def decorate(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"primitive {name!r} registered twice")
        if not callable(fn):
            raise TypeError(f"primitive {name!r}: fn must be callable")
        _REGISTRY[name] = Primitive(name=name, fn=fn, examples=examples, probe=probe,
                                    reference=reference, modes=modes, order=order, rtol=rtol,
                                    tags=frozenset(tags))
        return fn

    return decorate


def _load_builtin() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def registry() -> Mapping[str, Primitive]:
    """Return a read-only mapping ``name -> Primitive`` of every registered primitive."""
    _load_builtin()
    return types.MappingProxyType(dict(sorted(_REGISTRY.items())))


def get(name: str) -> Primitive:
    """Return the primitive registered as ``name``.

    Raises:
      KeyError: no such primitive (the message lists the registered names).
    """
    entries = registry()
    if name not in entries:
        raise KeyError(f"no primitive named {name!r}; registered: {', '.join(entries) or 'none'}")
    return entries[name]


def names(tag: str | None = None) -> list[str]:
    """Registered names, optionally only those carrying ``tag``."""
    return [n for n, p in registry().items() if tag is None or tag in p.tags]
