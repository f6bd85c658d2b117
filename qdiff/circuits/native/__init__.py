"""Native CPU kernels for rotor layers, compiled on first use and called through XLA's FFI.

A rotor layer (one-qubit unitaries on distinct qubits, e.g. the ``Rz·Rx·Rz`` layer of
:func:`qdiff.circuits.variational_circuit`) is the bulk of a variational circuit.  XLA CPU runs its
complex elementwise kernels without vectorising them and cannot fuse the three parts of the
reversible-adjoint step (undo ψ, undo λ, transition sums) into one pass.  ``rotor_kernels.cc``
does both (and a basis permutation, such as a CNOT ring, in one pass): the forward layer applies every qubit's 2×2 unitary, blocks of ``2**12`` amplitudes at a
time while they sit in the cache; the backward step undoes ψ and λ and accumulates each qubit's
reduced transition matrix ``M'`` (:func:`qdiff.circuits.rotor.qubit_transitions`) in the same
pass.  Gradients are unchanged in value (tests compare both paths and finite differences).

The source is compiled once per machine with the C++ compiler (``$CXX``, else ``c++``/``g++``)
against the FFI headers shipped with jaxlib (``jax.ffi.include_dir()``), into
``$QDIFF_CACHE_DIR`` (default ``~/.cache/qdiff``; the file name carries a hash of the source, the
flags, jax's version and the CPU's feature flags, since it is built with ``-march=native``), and
written atomically, so concurrent processes never load a partial file.  The first use in a fresh
cache takes a few seconds.

``QDIFF_NATIVE`` selects the kernels: ``auto`` (default: use them when they compile, otherwise log
one warning and use the XLA kernels), ``off`` (always the XLA kernels), ``on`` (raise if they
cannot be built).  It is read when a circuit function is first traced; the choice is part of the
cache key of the compiled simulators, so switching it between calls takes effect.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

import jax
import jax.numpy as jnp

from ...errors import InputError

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("rotor_kernels.cc")
_FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno",
          "-fno-trapping-math", "-fno-signed-zeros", "-fassociative-math", "-ffp-contract=fast", "-w")
"""Compiler flags.  ``-fassociative-math`` (with the two flags it needs) lets the compiler vectorise
the transition sums; ``-ffast-math`` itself is avoided because linking a shared object with it can
switch the whole process to flush-to-zero arithmetic."""
_TARGETS = ("qdiff_rotor_apply", "qdiff_rotor_back", "qdiff_permute")
_MODES = ("auto", "on", "off")


def mode() -> str:
    """The ``QDIFF_NATIVE`` setting (``auto``, ``on`` or ``off``); raises InputError for other values."""
    value = os.environ.get("QDIFF_NATIVE", "auto").strip().lower() or "auto"
    if value not in _MODES:
        raise InputError(f"QDIFF_NATIVE must be one of {_MODES}, got {value!r}")
    return value


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _cache_dir() -> Path:
    root = os.environ.get("QDIFF_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qdiff"


def _build(cxx: str) -> Path:
    """Compile the kernels into the cache (atomically) unless an identical build is there."""
    src = _SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([src, " ".join(_FLAGS).encode(), jax.__version__.encode(),
                                     cxx.encode(), platform.machine().encode(),
                                     _cpu_flags().encode()])).hexdigest()[:16]
    name = f"rotor_kernels-{key}.so"
    user = os.getuid() if hasattr(os, "getuid") else "user"
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / f"qdiff-{user}"):
        if (folder / name).exists():
            return folder / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
            break
        except OSError:  # not writable: the next folder
            continue
    else:
        raise RuntimeError(f"no writable folder for the compiled kernels ({_cache_dir()}, {tempfile.gettempdir()})")
    target = folder / name
    os.close(fd)
    try:
        cmd = [cxx, *_FLAGS, "-I", jax.ffi.include_dir(), str(_SOURCE), "-o", tmp]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr.strip()[-2000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@lru_cache(maxsize=1)
def _load() -> str | None:
    """Build, load and register the kernels once per process; None when that worked, else the reason."""
    cxx = _compiler()
    if cxx is None:
        return "no C++ compiler found ($CXX, c++, g++, clang++)"
    try:
        lib = ctypes.cdll.LoadLibrary(str(_build(cxx)))
        for name in _TARGETS:
            jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, name)), platform="cpu")
    except (OSError, RuntimeError, AttributeError) as err:
        return str(err)
    return None


def enabled() -> bool:
    """Whether the simulators use the native kernels now (``QDIFF_NATIVE`` and whether they built).

    Raises:
      RuntimeError: ``QDIFF_NATIVE=on`` and the kernels cannot be built (the reason is given).
    """
    m = mode()
    if m == "off":
        return False
    why = _load()
    if why is None:
        return True
    if m == "on":
        raise RuntimeError(f"QDIFF_NATIVE=on but the native kernels are unavailable: {why}")
    _warn_once(why)
    return False


@lru_cache(maxsize=1)
def _warn_once(why: str) -> None:
    log.warning("native rotor kernels unavailable, using XLA kernels (QDIFF_NATIVE=off silences "
                "this): %s", why)


BLOCK_BITS = 12
"""Gates on the low ``BLOCK_BITS`` index bits run block by block (2**12 amplitudes = 64 KiB of a
state, in L1/L2 while all of them are applied); the others in tiles of at most ``TILE_GATES`` gates,
one pass over the state per tile group.  Measured (natsimd, one thread, A/B in one process): block
bits 10, 11, 13 and 14 were equal or slower; tiles of 4 gates against 8 at n=18–22: backward step
0.88–0.95×, forward layer 0.92–0.98× of the time (n=20, depth 100, energy+gradient 3.55–3.76 against
3.97–4.01 s)."""
TILE_GATES = 4


def _bits(psi, qubits, n: int) -> np.ndarray:
    """Index bits of ``qubits`` (qubit 0 the most significant of ``n``), after checking the call."""
    if psi.ndim < 2 or psi.shape[-1] != 1 << n:
        raise InputError(f"native kernel: expected states of shape (k, {1 << n}) for {n} qubits, "
                         f"got shape {tuple(psi.shape)}")
    qs = [int(q) for q in qubits]
    if any(q < 0 or q >= n for q in qs) or len(set(qs)) != len(qs):
        raise InputError(f"native kernel: qubits must be distinct and in 0..{n - 1}, got {qs}")
    return np.asarray([n - 1 - q for q in qs], np.int64)


def _layout(block_bits, tile_gates) -> dict:
    return {"block_bits": np.int64(BLOCK_BITS if block_bits is None else block_bits),
            "tile_gates": np.int64(TILE_GATES if tile_gates is None else tile_gates)}


def rotor_apply(psi, us, qubits, n: int, block_bits: int | None = None, tile_gates: int | None = None):
    """``ψ ← (⊗_q U_q) ψ`` for the (m, 2, 2) unitaries ``us`` on ``qubits`` (qubit 0 most significant);
    ``psi`` of shape (k, 2**n), updated in place where XLA allows (``block_bits``, ``tile_gates``:
    the loop layout, default ``BLOCK_BITS``, ``TILE_GATES``; the result does not depend on them).

    Under ``jax.vmap`` the batch runs in one call, each state with its own unitaries, one state
    after the other (so each stays in the cache while its gates are applied).

    Raises:
      InputError: states not of shape (k, 2**n), or qubits repeated or outside 0..n−1.
    """
    call = jax.ffi.ffi_call("qdiff_rotor_apply", jax.ShapeDtypeStruct(psi.shape, jnp.complex128),
                            vmap_method="broadcast_all", input_output_aliases={0: 0})
    bits = _bits(psi, qubits, n)
    return call(jnp.asarray(psi, jnp.complex128), jnp.asarray(us, jnp.complex128), bits=bits,
                **_layout(block_bits, tile_gates))


def rotor_back(psi, lam, vs, qubits, n: int, block_bits: int | None = None, tile_gates: int | None = None):
    """One reversible-adjoint step of a rotor layer: ``(M', ψ_in, λ_in)``.

    ``vs`` are the (m, 2, 2) inverse unitaries ``U_q†`` on ``qubits``; ψ, λ (shape (k, 2**n)) are
    taken after the layer.  ``M'`` (shape (k, m, 2, 2)) holds each qubit's reduced transition
    matrix ``[[i Im M₀₀, M₀₁ − conj(M₁₀)], [0, i Im M₁₁]]`` with ``M[a, b] = Σ_rest conj(λ[…a…]) ψ[…b…]``,
    which gives the same ``Re Σ K̃ M`` as ``M`` for every anti-Hermitian generator ``K̃``
    (``block_bits``, ``tile_gates``, ``jax.vmap``: as for :func:`rotor_apply`).

    Raises:
      InputError: as :func:`rotor_apply`, or ``lam`` not of ψ's shape.
    """
    bits = _bits(psi, qubits, n)
    if lam.shape != psi.shape:
        raise InputError(f"native kernel: psi and lam differ in shape: {tuple(psi.shape)}, {tuple(lam.shape)}")
    k, m = psi.shape[0], len(qubits)
    shapes = (jax.ShapeDtypeStruct(psi.shape, jnp.complex128), jax.ShapeDtypeStruct(lam.shape, jnp.complex128),
              jax.ShapeDtypeStruct((k, m, 4), jnp.float64))
    call = jax.ffi.ffi_call("qdiff_rotor_back", shapes, vmap_method="broadcast_all",
                            input_output_aliases={0: 0, 1: 1})
    psi, lam, t = call(jnp.asarray(psi, jnp.complex128), jnp.asarray(lam, jnp.complex128),
                       jnp.asarray(vs, jnp.complex128), bits=bits, **_layout(block_bits, tile_gates))
    return reduced_matrix(t[..., 0], t[..., 1], t[..., 2] + 1j * t[..., 3]), psi, lam


def reduced_matrix(d0, d1, off):
    """The reduced transition matrices ``M' = [[i d0, off], [0, i d1]]`` from ``d0 = Im M₀₀``,
    ``d1 = Im M₁₁`` and ``off = M₀₁ − conj(M₁₀)`` (any leading shape; the XLA path of
    :func:`qdiff.circuits.rotor.qubit_transitions` builds its ``M'`` with it too)."""
    return jnp.stack([jnp.stack([1j * d0, off], -1), jnp.stack([jnp.zeros_like(off), 1j * d1], -1)], -2)


def permute(psi, idx):
    """``ψ[:, idx]`` for a permutation ``idx`` of the basis (int32, shape (2**n,)); ``psi`` of shape
    (k, 2**n).  XLA CPU's gather costs ≈ 7 ns per amplitude at 10 qubits, the loop here ≈ 1."""
    call = jax.ffi.ffi_call("qdiff_permute", jax.ShapeDtypeStruct(psi.shape, jnp.complex128),
                            vmap_method="expand_dims")
    return call(jnp.asarray(psi, jnp.complex128), jnp.asarray(idx, jnp.int32))
