"""Contraction of tensor networks given as einsum-style labelled operands.

A network is a list of arrays, each with one *label* per axis.  Labels are any
hashable Python objects (strings, ints, tuples of site coordinates, …); a label
shared by several axes is a bond and is summed over unless it is also an output
label.  There is no limit on the number of distinct labels: they are mapped to
``opt_einsum`` symbols internally.

The pairwise contraction order (the *path*) is found by ``opt_einsum`` (or by
``cotengra`` when asked for) from the shapes alone, so it is computed once per
network structure at trace time and cached; the contraction itself is a chain of
pairwise ``jnp.einsum`` calls, hence differentiable (any order) and jit-able.

Public API: :func:`contract`, :func:`contraction_cost`, :class:`ContractionCost`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import jax.numpy as jnp
import opt_einsum

from ..errors import InputError

logger = logging.getLogger(__name__)

_OPTIMIZERS = ("greedy", "optimal", "branch-2", "branch-1", "branch-all", "dp", "auto", "auto-hq",
               "random-greedy", "random-greedy-128", "cotengra")
_PATH_CACHE_SIZE = 1024


@dataclass(frozen=True)
class ContractionCost:
    """Cost of contracting a network along a path.

    Attributes:
      flops: floating-point operations along the path (opt_einsum's count: a
        multiply-add over a summed index counts as 2).
      largest_intermediate: number of elements of the largest tensor formed
        (intermediates and the result; inputs not counted).
      path: the contraction path in opt_einsum's linear format: each entry lists
        the positions, in the current operand list, of the operands contracted
        next; their result is appended at the end of the list.
      naive_flops: flops of a single-step contraction of all operands at once,
        for comparison.
    """

    flops: int
    largest_intermediate: int
    path: tuple[tuple[int, ...], ...]
    naive_flops: int

    def largest_intermediate_bytes(self, dtype=jnp.float64) -> int:
        """Bytes of the largest intermediate for elements of ``dtype``."""
        return int(self.largest_intermediate) * jnp.dtype(dtype).itemsize


@dataclass(frozen=True)
class _Parsed:
    operands: tuple
    in_syms: tuple[str, ...]
    out_sym: str
    shapes: tuple[tuple[int, ...], ...]


def _split(operands_and_labels: Sequence[Any]) -> tuple[list, list]:
    if len(operands_and_labels) == 0:
        raise InputError("contract: no operands given; pass array, labels, array, labels, ...")
    if len(operands_and_labels) % 2:
        raise InputError("contract: operands and labels must alternate (array, labels, array, labels, ...); "
                         f"got an odd number ({len(operands_and_labels)}) of positional arguments")
    arrays = list(operands_and_labels[0::2])
    labels = []
    for i, lab in enumerate(operands_and_labels[1::2]):
        if isinstance(lab, str):
            lab = tuple(lab)
        elif isinstance(lab, (list, tuple)):
            lab = tuple(lab)
        else:
            raise InputError(f"contract: labels of operand {i} must be a tuple/list of hashable labels "
                             f"(or a str of one-character labels), got {type(lab).__name__}")
        for x in lab:
            try:
                hash(x)
            except TypeError:
                raise InputError(f"contract: label {x!r} of operand {i} is not hashable") from None
        labels.append(lab)
    return arrays, labels


def _shape_of(x: Any, i: int) -> tuple[int, ...]:
    shape = getattr(x, "shape", None)
    if shape is None:
        raise InputError(f"contract: operand {i} has no shape (got {type(x).__name__}); pass an array")
    return tuple(int(d) for d in shape)


def _parse(operands_and_labels: Sequence[Any], output: Sequence[Hashable] | None) -> _Parsed:
    arrays, labels = _split(operands_and_labels)
    shapes = tuple(_shape_of(a, i) for i, a in enumerate(arrays))
    symbols: dict[Hashable, str] = {}
    dims: dict[Hashable, tuple[int, int]] = {}
    counts: dict[Hashable, int] = {}
    for i, (shape, lab) in enumerate(zip(shapes, labels)):
        if len(lab) != len(shape):
            raise InputError(f"contract: operand {i} has {len(shape)} axes (shape {shape}) but "
                             f"{len(lab)} labels {lab!r}")
        for axis, (x, d) in enumerate(zip(lab, shape)):
            if x in dims and dims[x][0] != d:
                j = dims[x][1]
                raise InputError(f"contract: label {x!r} has dimension {dims[x][0]} on operand {j} but "
                                 f"{d} on operand {i} (axis {axis})")
            if x not in symbols:
                symbols[x] = opt_einsum.get_symbol(len(symbols))
                dims[x] = (d, i)
            counts[x] = counts.get(x, 0) + 1
    if output is None:
        out = tuple(x for x in symbols if counts[x] == 1)
    else:
        if isinstance(output, str):
            output = tuple(output)
        out = tuple(output)
        for x in out:
            if x not in symbols:
                raise InputError(f"contract: output label {x!r} does not label any operand axis")
        if len(set(out)) != len(out):
            raise InputError(f"contract: output labels {out!r} contain a repeated label")
    in_syms = tuple("".join(symbols[x] for x in lab) for lab in labels)
    out_sym = "".join(symbols[x] for x in out)
    return _Parsed(tuple(arrays), in_syms, out_sym, shapes)


def _optimize_key(optimize: Any) -> Any:
    if isinstance(optimize, str):
        if optimize not in _OPTIMIZERS:
            raise InputError(f"contract: unknown optimize={optimize!r}; choose one of {', '.join(_OPTIMIZERS)} "
                             "or pass an explicit path (a sequence of tuples of operand positions)")
        return optimize
    try:
        path = tuple(tuple(int(i) for i in step) for step in optimize)
    except TypeError:
        raise InputError(f"contract: optimize must be a strategy name or a path (sequence of tuples of "
                         f"operand positions), got {optimize!r}") from None
    return ("path", path)


def _cotengra_optimizer():
    try:
        import cotengra
    except ImportError:
        raise InputError("contract: optimize='cotengra' needs the optional package cotengra "
                         "(pip install cotengra)") from None
    return cotengra.HyperOptimizer(max_repeats=64, parallel=False, progbar=False)


@functools.lru_cache(maxsize=_PATH_CACHE_SIZE)
def _path_cached(equation: str, shapes: tuple[tuple[int, ...], ...], optimize_key: Any) -> ContractionCost:
    if isinstance(optimize_key, tuple):
        strategy: Any = [tuple(step) for step in optimize_key[1]]
    elif optimize_key == "cotengra":
        strategy = _cotengra_optimizer()
    else:
        strategy = optimize_key
    n = len(shapes)
    if n == 1:
        # opt_einsum's path for one operand is trivially [(0,)]
        strategy = [(0,)]
    try:
        path, info = opt_einsum.contract_path(equation, *shapes, shapes=True, optimize=strategy)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InputError(f"contract: could not build a contraction path ({exc})") from None
    path = tuple(tuple(int(i) for i in step) for step in path)
    logger.debug("path for %s (%s): %d flops, largest intermediate %d", equation, optimize_key,
                 int(info.opt_cost), int(info.largest_intermediate))
    return ContractionCost(flops=int(info.opt_cost), largest_intermediate=int(info.largest_intermediate),
                           path=path, naive_flops=int(info.naive_cost))


def _cost(parsed: _Parsed, optimize: Any) -> ContractionCost:
    equation = ",".join(parsed.in_syms) + "->" + parsed.out_sym
    return _path_cached(equation, parsed.shapes, _optimize_key(optimize))


def _check_memory(cost: ContractionCost, memory_limit: int | None) -> None:
    if memory_limit is None:
        return
    if int(memory_limit) <= 0:
        raise InputError(f"contract: memory_limit must be a positive number of elements, got {memory_limit}")
    if cost.largest_intermediate > memory_limit:
        raise InputError(f"contract: the largest intermediate has {cost.largest_intermediate} elements, above "
                         f"memory_limit={int(memory_limit)} elements ({cost.flops:.3e} flops along the path); "
                         "raise the limit, slice the network, or try optimize='optimal'/'cotengra'")


def contraction_cost(*operands_and_labels: Any, output: Sequence[Hashable] | None = None,
                     optimize: Any = "greedy") -> ContractionCost:
    """Cost of :func:`contract` on the same arguments, computed from shapes only.

    Operands may be arrays or anything with a ``shape`` (e.g. ``jax.ShapeDtypeStruct``),
    so the cost of a network can be known before its tensors are allocated.

    Returns:
      :class:`ContractionCost` with the flop count, the largest intermediate (elements)
      and the path that :func:`contract` would follow.

    Raises:
      InputError: label/rank or dimension mismatch, unknown labels in ``output``, unknown
        ``optimize``.
    """
    return _cost(_parse(operands_and_labels, output), optimize)


def _execute(operands: Sequence[Any], in_syms: Sequence[str], out_sym: str,
             path: Sequence[tuple[int, ...]]):
    ops = list(operands)
    syms = list(in_syms)
    for step_no, step in enumerate(path):
        picked = sorted(step, reverse=True)
        these_ops = [ops.pop(i) for i in picked]
        these_syms = [syms.pop(i) for i in picked]
        if step_no == len(path) - 1:
            result = out_sym
        else:
            keep = set("".join(syms)) | set(out_sym)
            seen: list[str] = []
            for s in "".join(these_syms):
                if s in keep and s not in seen:
                    seen.append(s)
            result = "".join(seen)
        eq = ",".join(these_syms) + "->" + result
        ops.append(jnp.einsum(eq, *these_ops, optimize=False))
        syms.append(result)
    return ops[0]


def contract(*operands_and_labels: Any, output: Sequence[Hashable] | None = None, optimize: Any = "greedy",
             memory_limit: int | None = None):
    """Contract a tensor network given as ``array, labels, array, labels, ...``.

    Each array comes with one label per axis (any hashable objects; a ``str`` is read
    as one label per character, einsum style).  Axes sharing a label are contracted
    (summed) unless the label is listed in ``output``; a label repeated on one operand
    is a trace; a label on three or more axes is a hyperedge (summed once).  The
    result's axes follow ``output``; by default ``output`` is every label that occurs
    exactly once, in order of first appearance.

    The pairwise order is chosen by ``opt_einsum`` from the shapes only (static under
    ``jax.jit``) and cached per (labels pattern, shapes, ``optimize``), so networks of
    the same structure reuse one path.  Differentiable in every operand, any order.

    Args:
      *operands_and_labels: ``A, labels_A, B, labels_B, ...``.
      output: labels of the result's axes, in order.
      optimize: ``"greedy"`` (default), ``"optimal"``, ``"branch-2"``, any other
        opt_einsum strategy name, ``"cotengra"`` (hyper-optimised path; needs the
        optional package cotengra), or an explicit path in opt_einsum's linear format.
      memory_limit: largest intermediate allowed, in *elements* (multiply by the item
        size for bytes: 8 for float64, 16 for complex128).  Checked before any
        contraction; see :func:`contraction_cost` to query the cost yourself.

    Returns:
      The contracted array (a 0-d array when ``output`` is empty).

    Raises:
      InputError: odd argument count, a label count that differs from an operand's
        rank (the message names the operand), inconsistent dimensions of a label,
        output labels not present, unknown ``optimize``, cotengra requested but not
        installed, or the largest intermediate above ``memory_limit``.

    Example:
      >>> contract(a, ("i", "j"), b, ("j", "k"), output=("i", "k"))   # a @ b
    """
    parsed = _parse(operands_and_labels, output)
    cost = _cost(parsed, optimize)
    _check_memory(cost, memory_limit)
    return _execute(parsed.operands, parsed.in_syms, parsed.out_sym, cost.path)
