"""qdiff: differentiable scientific computing in quantum physics, on JAX.

Importing qdiff turns on JAX's 64-bit mode (``jax_enable_x64``): everything in
qdiff computes in float64 / complex128 (see :mod:`qdiff.precision`).
Subpackages: :mod:`qdiff.primitives` (hand-written derivative rules and their
gradient-check harness), :mod:`qdiff.circuits`, :mod:`qdiff.tensornet`,
:mod:`qdiff.dft`.
"""

from . import precision as _precision

_precision.enable_x64()

from ._version import __version__  # noqa: E402
from .errors import CheckpointError, ConvergenceError, InputError, QdiffError  # noqa: E402

__all__ = ["__version__", "InputError", "ConvergenceError", "CheckpointError", "QdiffError"]
