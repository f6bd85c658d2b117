"""Exception types shared by every qdiff subpackage.

Bad input raises :class:`InputError` (a ``ValueError``) before any computation;
iterative solvers that run out of iterations raise :class:`ConvergenceError`,
which carries the last state so no work is lost.  The CLI turns both into one
line on stderr and a non-zero exit.
"""

from __future__ import annotations

from typing import Any


class QdiffError(Exception):
    """Base class of qdiff's own exceptions."""


class InputError(QdiffError, ValueError):
    """An argument has the wrong shape, dtype, range or value."""


class ConvergenceError(QdiffError, RuntimeError):
    """An iteration did not converge; ``state`` holds the last iterate."""

    def __init__(self, message: str, state: Any = None):
        super().__init__(message)
        self.state = state


class CheckpointError(QdiffError, ValueError):
    """A checkpoint file is missing fields, corrupt, or belongs to another run."""
