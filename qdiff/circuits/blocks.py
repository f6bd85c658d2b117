"""Immutable circuit blocks: put, control, chain, kron, repeat, dagger.

A circuit is a tree of frozen dataclasses whose leaves are
:class:`~qdiff.circuits.gates.Gate` objects.  Blocks never hold parameter
values: a circuit with ``nparams`` parameters is evaluated with a flat float64
array of that length, consumed **in the order the gates act** (for ``dagger``,
the order in which the inverted gates act).  Every block reports ``nqubits``,
``nparams`` and ``counts()`` (gates by kind, with controlled gates named
``CNOT``, ``CZ``, ``CCX``, ``CRx``, …); counts and parameter numbers of
:class:`Repeat` are computed analytically, so a 10,000-layer circuit is a
handful of objects.

Qubits are numbered from 0; qubit 0 is the most significant bit of a basis
index (see :mod:`qdiff.circuits.gates`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Iterable, Mapping, Union

from ..errors import InputError
from .gates import Gate

_MAX_SHOWN = 12


def _check_n(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise InputError(f"{what}: number of qubits must be an integer, got {n!r}")
    n = int(n)
    if n < 1:
        raise InputError(f"{what}: number of qubits must be ≥ 1, got {n}")
    return n


def _locs(loc, n: int, what: str) -> tuple[int, ...]:
    locs = (loc,) if isinstance(loc, int) or hasattr(loc, "__index__") and not isinstance(loc, (tuple, list)) else tuple(loc)
    out = []
    for q in locs:
        if isinstance(q, bool) or not hasattr(q, "__index__"):
            raise InputError(f"{what}: qubit index must be an integer, got {q!r}")
        q = int(q)
        if not 0 <= q < n:
            raise InputError(f"{what}: qubit {q} out of range for {n} qubits (valid 0..{n - 1})")
        out.append(q)
    if not out:
        raise InputError(f"{what}: no qubits given")
    if len(set(out)) != len(out):
        raise InputError(f"{what}: qubit indices repeated in {tuple(out)}")
    return tuple(out)


class _Block:
    """Shared behaviour of composite blocks.

    Defaults: a composite acts on ``self.n`` qubits and its parameters are those of its one child
    ``self.block``; composites with another register size or several children override these.
    """

    @property
    def nqubits(self) -> int:
        return self.n

    @cached_property
    def _nparams(self) -> int:
        return _nparams(self.block)

    @property
    def nparams(self) -> int:
        return self._nparams

    def counts(self) -> dict[str, int]:
        """Number of elementary gates by kind (analytic for :class:`Repeat`)."""
        return dict(self._counts)

    @property
    def ngates(self) -> int:
        """Total number of elementary gates."""
        return sum(self._counts.values())

    def __str__(self) -> str:
        return "\n".join(_lines(self, ""))


Block = Union[Gate, "Put", "Control", "Chain", "Kron", "Repeat", "Dagger"]


def _nparams(b) -> int:
    return b.nparams


def _counts(b) -> Counter:
    if isinstance(b, Gate):
        return Counter({b.name: 1})
    return b._counts


def _kept_hash(*names: str):
    """A ``__hash__`` hashing the fields ``names`` once per block object and keeping the result
    (blocks are immutable) in the block's ``_hash`` field.

    The generated dataclass ``__hash__`` would rehash the whole tree below a block on every call:
    every lookup of a deep circuit in a cache (compiled programs, jitted functions) would cost
    O(number of gates) of Python work per call.  One Python frame per tree level, as before.
    """
    get = attrgetter(*names)

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(get(self))
            object.__setattr__(self, "_hash", h)
        return h

    return __hash__


@dataclass(frozen=True)
class Put(_Block):
    """``block`` (on ``len(locs)`` qubits) placed on qubits ``locs`` of an ``n``-qubit register."""

    n: int
    locs: tuple[int, ...]
    block: object
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    __hash__ = _kept_hash("n", "locs", "block")

    @cached_property
    def _counts(self) -> Counter:
        return _counts(self.block)

    def header(self) -> str:
        return f"put({self.n}, {_fmt_locs(self.locs)})"


@dataclass(frozen=True)
class Control(_Block):
    """``block`` on ``locs``, applied where qubits ``ctrls`` hold ``values`` (1 = usual control, 0 = negative)."""

    n: int
    ctrls: tuple[int, ...]
    values: tuple[int, ...]
    locs: tuple[int, ...]
    block: object
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    __hash__ = _kept_hash("n", "ctrls", "values", "locs", "block")

    @cached_property
    def _counts(self) -> Counter:
        k = len(self.ctrls)
        inner = _counts(self.block)
        out = Counter()
        for name, c in inner.items():
            out["CNOT" if (k == 1 and name == "X") else "C" * k + name] += c
        return out

    def header(self) -> str:
        cs = ", ".join(f"{c}" if v else f"¬{c}" for c, v in zip(self.ctrls, self.values))
        return f"control({self.n}, ({cs}) → {_fmt_locs(self.locs)})"


@dataclass(frozen=True)
class Chain(_Block):
    """Blocks applied one after the other (the first acts first)."""

    n: int
    blocks: tuple
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    __hash__ = _kept_hash("n", "blocks")

    @cached_property
    def _nparams(self) -> int:
        return sum(_nparams(b) for b in self.blocks)

    @cached_property
    def _counts(self) -> Counter:
        out = Counter()
        for b in self.blocks:
            out.update(_counts(b))
        return out

    def header(self) -> str:
        return f"chain({self.n})"

    def children(self):
        return self.blocks


@dataclass(frozen=True)
class Kron(_Block):
    """Blocks on disjoint qubit sets applied together (a tensor product); items are ``(locs, block)``."""

    n: int
    items: tuple
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    __hash__ = _kept_hash("n", "items")

    @cached_property
    def _nparams(self) -> int:
        return sum(_nparams(b) for _, b in self.items)

    @cached_property
    def _counts(self) -> Counter:
        out = Counter()
        for _, b in self.items:
            out.update(_counts(b))
        return out

    def header(self) -> str:
        return f"kron({self.n})"

    def children(self):
        return tuple(Put(self.n, locs, b) for locs, b in self.items)


@dataclass(frozen=True)
class Repeat(_Block):
    """``block`` applied ``count`` times in sequence, each time with its own parameters.

    Compiled to a loop (``lax.scan``) that the compiler sees once, whatever ``count``.
    """

    block: object
    count: int
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    __hash__ = _kept_hash("block", "count")

    @property
    def nqubits(self) -> int:
        return self.block.nqubits

    @cached_property
    def _nparams(self) -> int:
        return self.count * _nparams(self.block)

    @cached_property
    def _counts(self) -> Counter:
        return Counter({k: v * self.count for k, v in _counts(self.block).items()})

    def header(self) -> str:
        return f"repeat ×{self.count}"

    def children(self):
        return (self.block,)


@dataclass(frozen=True)
class Dagger(_Block):
    """The inverse (conjugate transpose) of ``block``; a rotation's parameter θ acts as −θ."""

    block: object
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    __hash__ = _kept_hash("block")

    @property
    def nqubits(self) -> int:
        return self.block.nqubits

    @cached_property
    def _counts(self) -> Counter:
        return Counter(_counts(self.block))

    def header(self) -> str:
        return "dagger"

    def children(self):
        return (self.block,)


def _fmt_locs(locs) -> str:
    return str(locs[0]) if len(locs) == 1 else "(" + ", ".join(map(str, locs)) + ")"


def _lines(b, indent: str) -> list[str]:
    if isinstance(b, Gate):
        return [indent + b.name]
    if isinstance(b, (Put, Control)):
        inner = b.block
        if isinstance(inner, Gate):
            return [f"{indent}{b.header()} {inner.name}"]
        return [indent + b.header()] + _lines(inner, indent + "  ")
    out = [f"{indent}{b.header()}  [{b.nparams} params, {b.ngates} gates]"]
    kids = b.children()
    for k in kids[:_MAX_SHOWN]:
        out += _lines(k, indent + "  ")
    if len(kids) > _MAX_SHOWN:
        out.append(f"{indent}  … {len(kids) - _MAX_SHOWN} more")
    return out


def _block_n(block, what: str) -> int:
    if not hasattr(block, "nqubits"):
        raise InputError(f"{what}: expected a gate or block, got {type(block).__name__}")
    return block.nqubits


# ----------------------------------------------------------------------------- constructors


def put(n: int, loc, gate) -> Put:
    """Place ``gate`` (a gate or block on ``k`` qubits) on qubit(s) ``loc`` of an ``n``-qubit register.

    Raises:
      InputError: a qubit out of range or repeated, or ``len(loc) != gate.nqubits``.
    """
    n = _check_n(n, "put")
    locs = _locs(loc, n, "put")
    k = _block_n(gate, "put")
    if k != len(locs):
        raise InputError(f"put: gate {getattr(gate, 'name', type(gate).__name__)} acts on {k} qubit(s) "
                         f"but {len(locs)} location(s) {locs} were given")
    return Put(n, locs, gate)


def control(n: int, ctrl, target, gate, values: Iterable[int] | None = None) -> Control:
    """``gate`` on qubit(s) ``target``, controlled by qubit(s) ``ctrl``.

    Args:
      n: number of qubits of the register.
      ctrl: control qubit(s).
      target: target qubit(s), ``len(target) == gate.nqubits``.
      gate: gate or block.
      values: required value of each control qubit (1 = ordinary control, 0 = negative control);
        default all 1.

    Raises:
      InputError: qubit out of range, repeated, shared by controls and targets, or bad values.
    """
    n = _check_n(n, "control")
    ctrls = _locs(ctrl, n, "control (ctrl)")
    locs = _locs(target, n, "control (target)")
    if set(ctrls) & set(locs):
        raise InputError(f"control: qubit(s) {sorted(set(ctrls) & set(locs))} are both control and target")
    vals = (1,) * len(ctrls) if values is None else tuple(int(v) for v in values)
    if len(vals) != len(ctrls) or any(v not in (0, 1) for v in vals):
        raise InputError(f"control: values must be {len(ctrls)} entries of 0/1, got {values!r}")
    k = _block_n(gate, "control")
    if k != len(locs):
        raise InputError(f"control: gate acts on {k} qubit(s) but {len(locs)} target(s) {locs} were given")
    return Control(n, ctrls, vals, locs, gate)


def chain(*blocks, n: int | None = None) -> Chain:
    """Blocks applied in sequence (first argument first); all on the same number of qubits.

    ``chain(b1, b2, …)``, ``chain([b1, b2, …])`` or ``chain(n=4)`` (empty chain).
    """
    if len(blocks) == 1 and isinstance(blocks[0], (list, tuple)):
        blocks = tuple(blocks[0])
    if not blocks:
        if n is None:
            raise InputError("chain: give at least one block, or n= for an empty chain")
        return Chain(_check_n(n, "chain"), ())
    sizes = {_block_n(b, "chain") for b in blocks}
    if n is not None:
        sizes.add(_check_n(n, "chain"))
    if len(sizes) != 1:
        raise InputError(f"chain: blocks act on different numbers of qubits {sorted(sizes)}")
    return Chain(sizes.pop(), tuple(blocks))


def kron(*args) -> Kron:
    """Tensor product of blocks.

    ``kron(g0, g1, …)``: ``g0`` on the first qubits, ``g1`` on the next ones, …;
    ``kron(n, {loc: gate, …})`` or ``kron(n, (loc, gate), …)``: gates on the given (disjoint) qubits.
    """
    if args and isinstance(args[0], int) and not hasattr(args[0], "nqubits"):
        n = _check_n(args[0], "kron")
        rest = args[1:]
        if len(rest) == 1 and isinstance(rest[0], Mapping):
            pairs = list(rest[0].items())
        else:
            pairs = list(rest)
        items, used = [], set()
        for loc, g in pairs:
            locs = _locs(loc, n, "kron")
            if set(locs) & used:
                raise InputError(f"kron: qubit(s) {sorted(set(locs) & used)} used twice")
            used |= set(locs)
            if _block_n(g, "kron") != len(locs):
                raise InputError(f"kron: gate on {g.nqubits} qubit(s) placed on {locs}")
            items.append((locs, g))
        return Kron(n, tuple(items))
    if not args:
        raise InputError("kron: no blocks given")
    items, q = [], 0
    for g in args:
        k = _block_n(g, "kron")
        items.append((tuple(range(q, q + k)), g))
        q += k
    return Kron(q, tuple(items))


def repeat(*args) -> Union[Repeat, Kron]:
    """Repeat a block.

    ``repeat(block, count)``: ``block`` applied ``count`` times in sequence, each repetition with its
    own parameters (a loop compiled once).  ``repeat(n, gate, locs)`` (Yao's form): a copy of the
    one-qubit ``gate`` on each qubit of ``locs``, each copy with its own parameter.
    """
    if len(args) == 2:
        block, count = args
        _block_n(block, "repeat")
        if isinstance(count, bool) or not hasattr(count, "__index__") or int(count) < 1:
            raise InputError(f"repeat: count must be a positive integer, got {count!r}")
        return Repeat(block, int(count))
    if len(args) == 3:
        n, gate, locs = args
        n = _check_n(n, "repeat")
        locs = _locs(locs, n, "repeat")
        return kron(n, *[((q,), gate) for q in locs])
    raise InputError("repeat: use repeat(block, count) or repeat(n, gate, locs)")


def dagger(block) -> Union[Dagger, Gate]:
    """The inverse of ``block`` (dagger of a dagger gives the block back)."""
    _block_n(block, "dagger")
    if isinstance(block, Dagger):
        return block.block
    return Dagger(block)


def nqubits(block) -> int:
    """Number of qubits a block acts on."""
    return _block_n(block, "nqubits")


def nparams(block) -> int:
    """Number of real parameters of a block (analytic; cheap for deep repeats)."""
    return block.nparams


def gate_counts(block) -> dict[str, int]:
    """Elementary gates of a block by kind, e.g. ``{"Rz": 200000, "Rx": 100010, "CNOT": 100000}``."""
    return dict(_counts(block))
