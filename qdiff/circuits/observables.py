"""Observables: real linear combinations of Pauli strings, and Hamiltonians on graphs.

An :class:`Observable` on ``n`` qubits is ``c_0·1 + Σ_k c_k P_k`` with real
``c_k`` and Pauli strings ``P_k``.  Its action on a state is evaluated by
grouping the terms by the set of qubits they flip (X or Y): all-Z strings form
one diagonal, each group of strings with the same flip mask costs one reversed
read of the state with a per-basis-state phase, computed from bit operations at
run time (no ``2**n`` constants in compiled programs).

Graph builders (``graph`` is a networkx graph, any object with ``nodes()`` and
``edges()``, or an integer ``n`` meaning the periodic chain of ``n`` sites;
edge attribute ``weight`` is honoured where stated):

* :func:`heisenberg`: ``H = J Σ_{(i,j)} (X_iX_j + Y_iY_j + Z_iZ_j)``;
* :func:`tfim`: ``H = −J Σ_{(i,j)} Z_iZ_j − h Σ_i X_i``;
* :func:`maxcut`: ``H = Σ_{(i,j)} w_ij (Z_iZ_j − 1)/2`` (its minimum is −(max-cut weight)).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from .kernels import flip, index, materialize, parity, pauli_phase


@dataclass(frozen=True)
class Observable:
    """``constant + Σ coef·P`` on ``n`` qubits; ``terms`` are ``(coef, ((qubit, "X"|"Y"|"Z"), …))``."""

    n: int
    terms: tuple
    constant: float = 0.0

    @property
    def nqubits(self) -> int:
        return self.n

    def __add__(self, other: "Observable") -> "Observable":
        if isinstance(other, (int, float)):
            return Observable(self.n, self.terms, self.constant + float(other))
        if not isinstance(other, Observable):
            return NotImplemented
        return Observable(max(self.n, other.n), self.terms + other.terms, self.constant + other.constant)

    __radd__ = __add__

    def __mul__(self, a: float) -> "Observable":
        a = float(a)
        return Observable(self.n, tuple((a * c, p) for c, p in self.terms), a * self.constant)

    __rmul__ = __mul__

    def __str__(self) -> str:
        parts = [f"{self.constant:+.6g}"] if self.constant else []
        for c, p in self.terms[:8]:
            parts.append(f"{c:+.6g}·" + "".join(f"{s}{q}" for q, s in p))
        more = f" … ({len(self.terms) - 8} more terms)" if len(self.terms) > 8 else ""
        return f"Observable({self.n} qubits: {' '.join(parts)}{more})"


def _check_string(p, n: int) -> tuple:
    if isinstance(p, str):
        if len(p) != n or any(c not in "IXYZ" for c in p.upper()):
            raise InputError(f"Pauli string {p!r} must have {n} letters of I, X, Y, Z")
        return tuple((q, c) for q, c in enumerate(p.upper()) if c != "I")
    items = dict(p).items() if not isinstance(p, tuple) else p
    out = []
    for q, c in sorted(items):
        if not 0 <= int(q) < n:
            raise InputError(f"Pauli term on qubit {q} out of range for {n} qubits")
        c = str(c).upper()
        if c not in "XYZI":
            raise InputError(f"Pauli letter must be I, X, Y or Z, got {c!r}")
        if c != "I":
            out.append((int(q), c))
    if len({q for q, _ in out}) != len(out):
        raise InputError(f"Pauli term {p!r} names a qubit twice")
    return tuple(out)


def pauli_sum(n: int, terms: Iterable, constant: float = 0.0) -> Observable:
    """Observable from ``[(coef, "XZI…"), …]`` or ``[(coef, {qubit: "X", …}), …]`` (real coefs)."""
    if not isinstance(n, int) or n < 1:
        raise InputError(f"pauli_sum: n must be a positive integer, got {n!r}")
    out = []
    for coef, p in terms:
        if np.iscomplexobj(coef) or not np.isfinite(float(coef)):
            raise InputError(f"pauli_sum: coefficients must be finite real numbers, got {coef!r}")
        out.append((float(coef), _check_string(p, n)))
    return Observable(n, tuple(out), float(constant))


def _graph(graph) -> tuple[int, list[tuple[int, int, float]]]:
    if isinstance(graph, int):
        if graph < 2:
            raise InputError(f"periodic chain needs at least 2 sites, got {graph}")
        n = graph
        edges = [(i, (i + 1) % n, 1.0) for i in range(n if n > 2 else 1)]
        return n, edges
    if not hasattr(graph, "nodes") or not hasattr(graph, "edges"):
        raise InputError(f"graph must be an int (periodic chain) or a graph with nodes() and edges(), got "
                         f"{type(graph).__name__}")
    nodes = list(graph.nodes() if callable(graph.nodes) else graph.nodes)
    try:
        order = sorted(nodes)
    except TypeError:
        order = nodes
    pos = {v: i for i, v in enumerate(order)}
    edges = []
    try:
        raw = list(graph.edges(data=True))
    except TypeError:
        raw = [(u, v, {}) for u, v in graph.edges()]
    for e in raw:
        u, v = e[0], e[1]
        w = float(e[2].get("weight", 1.0)) if len(e) > 2 and isinstance(e[2], dict) else 1.0
        if u == v:
            raise InputError(f"graph has a self-loop on node {u!r}")
        edges.append((pos[u], pos[v], w))
    if not edges:
        raise InputError("graph has no edges")
    return len(order), edges


def heisenberg(graph=10, J: float = 1.0) -> Observable:
    """Heisenberg model ``H = J Σ_{(i,j)∈E} (X_iX_j + Y_iY_j + Z_iZ_j)`` (Pauli operators, not spins)."""
    n, edges = _graph(graph)
    terms = []
    for i, j, _ in edges:
        for s in "XYZ":
            terms.append((float(J), ((min(i, j), s), (max(i, j), s))))
    return Observable(n, tuple(terms))


def tfim(graph=10, J: float = 1.0, h: float = 1.0) -> Observable:
    """Transverse-field Ising model ``H = −J Σ_{(i,j)∈E} Z_iZ_j − h Σ_i X_i``."""
    n, edges = _graph(graph)
    terms = [(-float(J), ((min(i, j), "Z"), (max(i, j), "Z"))) for i, j, _ in edges]
    terms += [(-float(h), ((i, "X"),)) for i in range(n)]
    return Observable(n, tuple(terms))


def maxcut(graph=10) -> Observable:
    """Max-cut cost ``H = Σ_{(i,j)∈E} w_ij (Z_iZ_j − 1)/2``; ``min H = −(weight of the maximum cut)``."""
    n, edges = _graph(graph)
    terms = [(0.5 * w, ((min(i, j), "Z"), (max(i, j), "Z"))) for i, j, w in edges]
    return Observable(n, tuple(terms), -0.5 * sum(w for *_, w in edges))


# ----------------------------------------------------------------------------- evaluation

def _groups(obs: Observable):
    """Terms grouped by flip mask: ``(diag_terms, {flip_qubits: [(coef, pauli, qubits)]})``."""
    diag, flips = [], {}
    for c, p in obs.terms:
        xq = tuple(q for q, s in p if s in "XY")
        if not xq:
            diag.append((c, tuple(q for q, _ in p)))
        else:
            flips.setdefault(xq, []).append((c, "".join(s for _, s in p), tuple(q for q, _ in p)))
    return diag, flips


def _apply(obs: Observable, psi, n: int):
    """``H ψ`` for ``psi`` of shape (k, 2**n)."""
    b = index(n)
    diag, flips = _groups(obs)
    d = jnp.full((), obs.constant, jnp.float64)
    for c, zq in diag:
        d = d + c * (1 - 2 * parity(b, n, zq)).astype(jnp.float64) if zq else d + c
    out = psi * d
    for xq, terms in flips.items():
        xm = 0
        for q in xq:
            xm |= 1 << (n - 1 - q)
        bs = b ^ xm
        f = None
        for c, pauli, qs in terms:
            v = c * pauli_phase(bs, n, pauli, qs)
            f = v if f is None else f + v
        out = out + f * flip(psi, n, xq)
    return out


def check_observable(obs: Observable, n: int) -> None:
    if not isinstance(obs, Observable):
        raise InputError(f"expected an Observable, got {type(obs).__name__}")
    if obs.n > n:
        raise InputError(f"observable acts on {obs.n} qubits but the circuit/state has only {n}")


@lru_cache(maxsize=64)
def _jitted(obs: Observable, n: int):
    @jax.jit
    def hpsi(state):
        return _apply(obs, state.reshape(-1, state.shape[-1]), n).reshape(state.shape)

    def energy(state, h):
        return jnp.real(jnp.sum(jnp.conj(state) * h, axis=-1))

    @jax.custom_jvp
    def expect(state):
        return energy(state, hpsi(state))

    @expect.defjvp
    def expect_jvp(primals, tangents):
        # H is Hermitian: d⟨ψ|H|ψ⟩ = 2 Re⟨dψ|Hψ⟩, so one application of H serves the value and
        # the derivative.  Plain AD applied H again in the transposed pass, and XLA fused each
        # application into every consumer (three kernels each reading 2n flipped copies of the
        # state for a Heisenberg ring); `materialize` keeps Hψ one computed array.  n=20, value and
        # gradient of the energy of a state: compile 1.2–1.4 → 0.44–0.5 s, run 0.29–0.38 → 0.1 s.
        (state,), (dstate,) = primals, tangents
        h = materialize(hpsi(state))
        return energy(state, h), 2.0 * jnp.real(jnp.sum(jnp.conj(dstate) * h, axis=-1))

    return hpsi, jax.jit(expect)


def _nstate(obs, state):
    state = jnp.asarray(state, jnp.complex128)
    size = state.shape[-1] if state.ndim else 0
    if state.ndim not in (1, 2) or size < 2 or size & (size - 1):
        raise InputError(f"state must have 2**n amplitudes (or be a batch (B, 2**n)), got shape {state.shape}")
    n = size.bit_length() - 1
    check_observable(obs, n)
    return state, n


def apply_observable(obs: Observable, state):
    """``H|ψ⟩`` for a state of shape ``(2**n,)`` or a batch ``(B, 2**n)`` (n ≥ obs.n)."""
    state, n = _nstate(obs, state)
    return _jitted(obs, n)[0](state)


def expectation(obs: Observable, state):
    """``⟨ψ|H|ψ⟩`` (real; not normalised by ⟨ψ|ψ⟩) for a state or a batch of states."""
    state, n = _nstate(obs, state)
    return _jitted(obs, n)[1](state)


def to_sparse(obs: Observable, n: int | None = None):
    """The observable as a scipy CSR matrix (``2**n × 2**n``, qubit 0 most significant)."""
    import scipy.sparse as sp

    n = obs.n if n is None else n
    check_observable(obs, n)
    if n > 24:
        raise InputError(f"to_sparse: {n} qubits is too large for a sparse matrix (max 24)")
    b = np.arange(1 << n, dtype=np.int64)
    total = sp.identity(1 << n, dtype=np.complex128, format="csr") * obs.constant
    for c, p in obs.terms:
        xm = 0
        phase = np.ones(1 << n, dtype=np.complex128)
        for q, s in p:
            bq = (b >> (n - 1 - q)) & 1
            if s in "XY":
                xm |= 1 << (n - 1 - q)
            if s == "Y":
                phase = phase * 1j * (1 - 2 * bq)
            elif s == "Z":
                phase = phase * (1 - 2 * bq)
        total = total + sp.csr_matrix((c * phase, (b ^ xm, b)), shape=(1 << n, 1 << n))
    return total.tocsr()


def to_dense(obs: Observable, n: int | None = None) -> np.ndarray:
    """The observable as a dense numpy matrix (n ≤ 14)."""
    n = obs.n if n is None else n
    if n > 14:
        raise InputError(f"to_dense: {n} qubits is too large for a dense matrix (max 14); use to_sparse")
    return to_sparse(obs, n).toarray()


def ground_energy(obs: Observable, n: int | None = None) -> float:
    """Lowest eigenvalue of the observable (scipy's Lanczos ``eigsh``; dense ``eigvalsh`` for n ≤ 6)."""
    n = obs.n if n is None else n
    m = to_sparse(obs, n)
    if n <= 6:
        return float(np.linalg.eigvalsh(m.toarray())[0])
    from scipy.sparse.linalg import eigsh

    m = m.real if np.allclose(m.imag.data if m.imag.nnz else 0.0, 0.0) else m
    w = eigsh(m, k=1, which="SA", tol=1e-12, return_eigenvectors=False)
    return float(w[0])
