"""Compile a block tree into a flat, hashable *program* of fused steps.

The block tree is walked once, in Python, at build time (O(#gates in the tree,
counting a :class:`~qdiff.circuits.blocks.Repeat` body once)).  The result is a
:class:`Program`: a tuple of steps, each one kernel at run time:

* :class:`DiagStep` — any number of diagonal gates (Rz, phase, Z, S, T, CZ,
  ZZ-rotations, controlled versions) fused into one elementwise phase multiply;
* :class:`PermStep` — consecutive permutation gates (X, CNOT, Toffoli, SWAP,
  permutation matrices, controlled or not) fused into one gather whose index
  array is computed at run time from bit operations (never a baked constant);
* :class:`GateStep` — one other gate (Rx, Ry, Pauli-string rotation, H, Y,
  general matrix gate);
* :class:`RepeatStep` — a body executed ``count`` times by ``lax.scan``.

Runs of structurally identical consecutive blocks in a chain (``chain(layer_1, …, layer_d)``
written without ``repeat``; parameter values live outside the blocks) become a repeat body too
(see :mod:`qdiff.circuits.fold`), so program size does not grow with depth however the circuit
was written.

Gates acting on disjoint qubits commute, and diagonal gates commute with each
other; the scheduler moves a gate earlier past steps it commutes with so that
it joins a diagonal or permutation group (e.g. the ``Rz`` gates of a rotor layer
on all qubits become one step).  Parameter indices always refer to the
original order (the order gates act in the block tree).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import InputError
from .blocks import Chain, Control, Dagger, Kron, Put, Repeat
from .fold import StructureKeys, gate_count, runs
from .gates import Gate, dagger_gate, is_diagonal, permutation_of

_LOOKBACK = 64  # how many steps back the scheduler looks for a commuting merge partner


@dataclass(frozen=True)
class Op:
    """One elementary gate with global qubits.

    Attributes:
      gate: the gate (after taking daggers into account).
      targets: global target qubits.
      ctrls, cvals: control qubits and their required values.
      sign: +1, or −1 for a parametrised gate under an odd number of daggers (θ acts as −θ).
      pidx: index of its parameter in the enclosing segment's parameter vector (−1: none).
    """

    gate: Gate
    targets: tuple[int, ...]
    ctrls: tuple[int, ...] = ()
    cvals: tuple[int, ...] = ()
    sign: int = 1
    pidx: int = -1

    @property
    def support(self) -> frozenset:
        return frozenset(self.targets) | frozenset(self.ctrls)

    @property
    def diagonal(self) -> bool:
        return is_diagonal(self.gate)

    @property
    def permutation(self):
        return permutation_of(self.gate)

    @property
    def label(self) -> str:
        k = len(self.ctrls)
        name = self.gate.name
        return ("CNOT" if (k == 1 and name == "X") else "C" * k + name) if k else name


@dataclass(frozen=True)
class DiagStep:
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class PermStep:
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class GateStep:
    op: Op


@dataclass(frozen=True)
class RotorStep:
    """Uncontrolled one-qubit gates on distinct qubits; ``chains[i] = (qubit, ops in order)``.

    Each chain is multiplied into one 2×2 unitary per qubit at run time, so a rotor layer
    ``Rz·Rx·Rz`` on every qubit costs one pass over the state per qubit (one ``lax.scan``
    over qubits when the layer covers at least half of them, see :func:`rotor_scans`).
    """

    chains: tuple

    @property
    def ops(self) -> tuple:
        return tuple(op for _, ops in self.chains for op in ops)

    def with_op(self, op: Op) -> "RotorStep":
        q = op.targets[0]
        chains = list(self.chains)
        for i, (qq, ops) in enumerate(chains):
            if qq == q:
                chains[i] = (q, ops + (op,))
                return RotorStep(tuple(chains))
        return RotorStep(tuple(chains) + ((q, (op,)),))


@dataclass(frozen=True)
class RepeatStep:
    """``body`` run ``count`` times; its parameters are ``params[offset: offset + count*nparams]``."""

    body: tuple
    count: int
    nparams: int
    offset: int


@dataclass(frozen=True)
class Program:
    """A compiled circuit: ``n`` qubits, ``nparams`` parameters, and its steps."""

    n: int
    nparams: int
    steps: tuple


@dataclass
class _RepeatItem:
    body: list
    count: int
    nparams: int
    offset: int


def _flatten(block, qmap, ctrls, cvals, dag, out, counter, keys):
    """Append ops (and _RepeatItems) of ``block`` in application order; counter[0] = next param index."""
    if isinstance(block, Gate):
        gate, sign = dagger_gate(block) if dag else (block, 1)
        pidx = -1
        if gate.nparams:
            pidx = counter[0]
            counter[0] += 1
        out.append(Op(gate, tuple(qmap), tuple(ctrls), tuple(cvals), sign, pidx))
    elif isinstance(block, Put):
        _flatten(block.block, [qmap[q] for q in block.locs], ctrls, cvals, dag, out, counter, keys)
    elif isinstance(block, Control):
        _flatten(block.block, [qmap[q] for q in block.locs], list(ctrls) + [qmap[c] for c in block.ctrls],
                 list(cvals) + list(block.values), dag, out, counter, keys)
    elif isinstance(block, (Chain, Kron)):
        kids = block.children()
        kids = kids[::-1] if dag else kids
        if len(kids) < 2:
            for b in kids:
                _flatten(b, qmap, ctrls, cvals, dag, out, counter, keys)
            return
        for start, period, count in runs([keys.key(b) for b in kids], lambda i: gate_count(kids[i])):
            if count == 1:
                _flatten(kids[start], qmap, ctrls, cvals, dag, out, counter, keys)
                continue
            # structurally identical consecutive blocks: one repeat body (see fold.py)
            body, sub = [], [0]
            for b in kids[start: start + period]:
                _flatten(b, qmap, ctrls, cvals, dag, body, sub, keys)
            out.append(_RepeatItem(body, count, sub[0], counter[0]))
            counter[0] += count * sub[0]
    elif isinstance(block, Dagger):
        _flatten(block.block, qmap, ctrls, cvals, not dag, out, counter, keys)
    elif isinstance(block, Repeat):
        body, sub = [], [0]
        _flatten(block.block, qmap, ctrls, cvals, dag, body, sub, keys)
        out.append(_RepeatItem(body, block.count, sub[0], counter[0]))
        counter[0] += block.count * sub[0]
    else:
        raise InputError(f"cannot compile object of type {type(block).__name__} as a circuit block")


def _is_single(op: Op) -> bool:
    return not op.ctrls and len(op.targets) == 1


def _commutes(op: Op, step) -> bool:
    if isinstance(step, DiagStep) and op.diagonal:
        return True
    ops = step.ops if isinstance(step, (DiagStep, PermStep, RotorStep)) else (step.op,)
    support = op.support
    return all(not (support & o.support) for o in ops)


def _schedule(items) -> tuple:
    steps: list = []
    for it in items:
        if isinstance(it, _RepeatItem):
            steps.append(RepeatStep(_schedule(it.body), it.count, it.nparams, it.offset))
            continue
        op = it
        single = _is_single(op)
        if op.diagonal:
            group = DiagStep
        elif single:
            group = RotorStep
        elif op.permutation is not None:
            group = PermStep
        else:
            group = None
        target, insert_at, blocker = None, len(steps), None
        for j in range(len(steps) - 1, max(-1, len(steps) - 1 - _LOOKBACK), -1):
            s = steps[j]
            if isinstance(s, RepeatStep) or not _commutes(op, s):
                blocker = j
                break
            if group is not None and isinstance(s, group):
                target = j
            insert_at = j
        if target is None and blocker is not None and single and isinstance(steps[blocker], RotorStep):
            steps[blocker] = steps[blocker].with_op(op)  # continue this qubit's chain
        elif target is None and blocker is not None and group is PermStep and isinstance(steps[blocker], PermStep):
            steps[blocker] = PermStep(steps[blocker].ops + (op,))
        elif target is not None:
            s = steps[target]
            steps[target] = s.with_op(op) if isinstance(s, RotorStep) else group(s.ops + (op,))
        else:
            if group is RotorStep:
                new = RotorStep(((op.targets[0], (op,)),))
            elif group is not None:
                new = group((op,))
            else:
                new = GateStep(op)
            steps.insert(insert_at, new)
    return tuple(steps)


def rotor_scans(nchains: int, n: int) -> bool:
    """Whether a rotor step with ``nchains`` qubit chains on ``n`` qubits runs as one scan over qubits."""
    return nchains >= max(3, (n + 1) // 2)


def _merge_phase_layers(steps: tuple, n: int) -> tuple:
    """Fold a DiagStep of uncontrolled one-qubit gates into an adjacent scanned RotorStep.

    A scanned rotor layer applies a general 2×2 unitary per qubit anyway, so the one-qubit
    diagonal gates next to it (e.g. the ``Rz`` before ``Rx·Rz`` in Yao's layer) join their
    qubit's chain at no cost, saving a pass over the state (forward and backward).  The gates
    are on single qubits and commute with the other qubits' chains, so the order per qubit is
    the only one that matters, and it is kept.
    """
    out: list = []
    for s in steps:
        if isinstance(s, RepeatStep):
            out.append(RepeatStep(_merge_phase_layers(s.body, n), s.count, s.nparams, s.offset))
            continue
        prev = out[-1] if out else None
        pair = None
        if isinstance(s, RotorStep) and isinstance(prev, DiagStep):
            pair = (prev, s, True)
        elif isinstance(s, DiagStep) and isinstance(prev, RotorStep):
            pair = (s, prev, False)
        if pair is not None:
            diag, rotor, before = pair
            if all(_is_single(op) for op in diag.ops):
                qubits = {q for q, _ in rotor.chains} | {op.targets[0] for op in diag.ops}
                if rotor_scans(len(qubits), n) and rotor_scans(len(rotor.chains), n):
                    out[-1] = _fold(diag, rotor, before)
                    continue
        out.append(s)
    return tuple(out)


def _fold(diag: DiagStep, rotor: RotorStep, before: bool) -> RotorStep:
    chains = {q: ops for q, ops in rotor.chains}
    order = [q for q, _ in rotor.chains]
    for op in diag.ops:
        q = op.targets[0]
        if q not in chains:
            chains[q], order = (), order + [q]
    for q in order:
        mine = tuple(op for op in diag.ops if op.targets[0] == q)
        chains[q] = mine + chains[q] if before else chains[q] + mine
    return RotorStep(tuple((q, chains[q]) for q in order))


@lru_cache(maxsize=256)
def compile_circuit(circuit) -> Program:
    """Compile a block tree into a :class:`Program` (cached per circuit object)."""
    if not hasattr(circuit, "nqubits"):
        raise InputError(f"expected a circuit block, got {type(circuit).__name__}")
    n = circuit.nqubits
    if n > 30:
        raise InputError(f"state-vector simulation supports at most 30 qubits, circuit has {n}")
    items, counter = [], [0]
    _flatten(circuit, list(range(n)), [], [], False, items, counter, StructureKeys())
    return Program(n, counter[0], _merge_phase_layers(_schedule(items), n))


def parameter_table(circuit) -> np.ndarray:
    """Describe every parameter of ``circuit`` in the order of the flat parameter array.

    Returns:
      numpy structured array with fields ``gate`` (name, e.g. "Rz", "CRx"), ``qubit`` (first
      target qubit) and ``sign`` (−1 where a dagger flips the angle).  Repeats are expanded with
      numpy (no Python loop over repetitions).
    """
    prog = compile_circuit(circuit)
    dtype = [("gate", "U24"), ("qubit", np.int32), ("sign", np.int8)]

    def table(steps, m):
        t = np.zeros(m, dtype=dtype)
        for s in steps:
            if isinstance(s, RepeatStep):
                sub = table(s.body, s.nparams)
                t[s.offset: s.offset + s.count * s.nparams] = np.tile(sub, s.count)
                continue
            for op in (s.ops if isinstance(s, (DiagStep, PermStep, RotorStep)) else (s.op,)):
                if op.pidx >= 0:
                    t[op.pidx] = (op.label, op.targets[0], op.sign)
        return t

    return table(prog.steps, prog.nparams)
