"""Test configuration: float64 on, XLA pinned to one thread per pytest worker.

The suite runs with two xdist workers on a 2-core machine; each worker pins
XLA's CPU pool to one thread so the two do not oversubscribe the cores.
"""

import os

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

# BLAS/LAPACK thread pools (OpenBLAS behind scipy and jaxlib's LAPACK calls) must be pinned too:
# their spinning worker threads otherwise make small eigh/qr calls 100x slower on a busy machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import jax  # noqa: E402

import qdiff  # noqa: E402,F401  (turns jax_enable_x64 on)

jax.config.update("jax_enable_x64", True)
