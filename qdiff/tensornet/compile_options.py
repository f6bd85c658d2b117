"""XLA compiler options for the tensor-network programs (compile time on CPU).

XLA's CPU backend (jaxlib 0.10) emits every fused elementwise kernel through its newer
MLIR "fusion emitters" by default.  For the CTMRG programs — a few hundred small kernels
around LAPACK ``syevd`` calls and matrix products — those emitters take about half of
the whole compilation, while the classic emitters produce code that runs at the same
speed (measured on the energy + gradient program of a C4v iPEPS: D=2 χ=16 and D=3 χ=27,
one thread; see docs/benchmarks.md).  The options below select the classic emitters for
the programs compiled here, and LLVM optimisation level 1 instead of 2 (another ~10 % of
compile time; the run time is set by LAPACK and the matrix-product library calls, not by
the generated elementwise code, and was unchanged in the same measurement).  Both are
fields of XLA's ``DebugOptions``; the ``xla_cpu_*`` one is ignored by other backends.

Pass :func:`compiler_options` to ``jax.jit(..., compiler_options=...)`` on the *outermost*
``jit`` of your program (JAX refuses them on a ``jit`` nested inside another traced
function).  The library functions (:func:`~qdiff.tensornet.ctmrg`, the observables, …)
never set them, so they can be called anywhere; qdiff's own top-level entry points
(:func:`~qdiff.tensornet.optimize_ipeps`, the CLI, the benchmarks) pass them.  The same
effect for any program: ``XLA_FLAGS="--xla_cpu_use_fusion_emitters=false
--xla_backend_optimization_level=1"``.

Example::

    energy_and_grad = jax.jit(jax.value_and_grad(energy), compiler_options=compiler_options())
"""

from __future__ import annotations


def compiler_options() -> dict:
    """A fresh dict of XLA compiler options for ``jax.jit(..., compiler_options=...)``."""
    return {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1}


__all__ = ["compiler_options"]
