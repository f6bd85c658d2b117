"""Find repeated structure in a chain written without ``repeat``.

A user may build a deep circuit as ``chain(layer_1, layer_2, …, layer_d)``, each layer a fresh
block with the same gates on the same qubits.  Parameter *values* live outside the blocks, so
such layers are structurally identical and can run as one ``repeat`` body (one ``lax.scan`` the
compiler sees once) instead of ``d`` unrolled copies: compile time and program size stay
independent of depth however the circuit was written.

:class:`StructureKeys` gives every block a small integer, equal for two blocks exactly when they
are structurally equal (same gate kinds, qubits, controls, nesting); keying the children of a
chain costs O(number of block objects below it).
:func:`runs` splits a sequence of keys into single items and periodic runs.
"""

from __future__ import annotations

from .gates import Gate

FOLD_MIN_GATES = 64
"""A run is executed as a loop only if it holds at least this many elementary gates (counting every
repetition): short runs stay unrolled, where the scheduler can fuse their gates with their
neighbours'."""

_CANDIDATES = 8
"""How many candidate periods (distances to the next occurrences of the first item) are tried."""


class StructureKeys:
    """Structural keys of blocks: ``key(b)`` is an int, equal for structurally equal blocks.

    Blocks are frozen dataclasses holding no parameter values, so structural equality is their
    ``==``; keys come from one dict interning them.  A block's hash is computed once per object
    and kept (see ``blocks._kept_hash``); ``==`` between two distinct equal blocks walks both trees,
    O(size of the block), once per interned occurrence.
    """

    def __init__(self):
        self._intern: dict = {}

    def key(self, block) -> int:
        return self._intern.setdefault(block, len(self._intern))


def gate_count(block) -> int:
    """Number of elementary gates in ``block`` (a repeat counted ``count`` times)."""
    return 1 if isinstance(block, Gate) else block.ngates


def runs(keys: list, gates, min_gates: int | None = None) -> list[tuple[int, int, int]]:
    """Split ``keys`` into segments ``(start, period, count)``, in order, covering every item once.

    ``count == 1`` (then ``period == 1``) is a single item; ``count >= 2`` is a run of ``count``
    consecutive copies of ``keys[start: start + period]`` holding at least ``min_gates`` gates
    (default :data:`FOLD_MIN_GATES`; ``gates(i)``: gates of item ``i``, asked only for candidate
    patterns).  Greedy from the left: at each item the candidate periods
    are the distances to the next few occurrences of the same key, and the one covering the most
    items is taken (the shortest on a tie).
    """
    min_gates = FOLD_MIN_GATES if min_gates is None else min_gates
    m = len(keys)
    nxt = [m] * m
    last: dict = {}
    for i in range(m - 1, -1, -1):
        nxt[i] = last.get(keys[i], m)
        last[keys[i]] = i
    out, i = [], 0
    while i < m:
        best = None  # (covered, period, count)
        j = nxt[i]
        for _ in range(_CANDIDATES):
            p = j - i
            if j >= m or i + 2 * p > m:
                break
            if best is None or p % best[1]:
                pattern = keys[i:j]
                r = 2 if keys[j:j + p] == pattern else 1
                while r >= 2 and keys[i + r * p: i + (r + 1) * p] == pattern:
                    r += 1
                if r >= 2 and r * sum(gates(k) for k in range(i, j)) >= min_gates and (best is None or r * p > best[0]):
                    best = (r * p, p, r)
            j = nxt[j]
        if best is None:
            out.append((i, 1, 1))
            i += 1
        else:
            out.append((i, best[1], best[2]))
            i += best[0]
    return out
