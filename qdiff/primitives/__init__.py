"""qdiff's registry of differentiable primitives and their gradient-check harness.

Public API:
  * :func:`registry`, :func:`get`, :func:`names`, :func:`register`, :class:`Primitive`,
    :class:`Case` — the registry;
  * :func:`check`, :func:`check_all` — the finite-difference harness;
  * :func:`linear_solve` — differentiable CG / GMRES / dense solves with matrix-free operators;
  * :func:`fixed_point`, :func:`fixed_point_info` — implicitly differentiated fixed points (GMRES or
    iterated adjoint, caller's stopping measure), :func:`relative_change` — their default measure;
  * :func:`anderson_init`, :func:`anderson_step` — Anderson (Pulay) acceleration on flat vectors.
  * :func:`eigh` — Hermitian eigendecomposition with a degeneracy-safe derivative rule;
  * :func:`svd` — thin (optionally truncated) SVD with degeneracy/rank-deficiency-safe rule;
  * :func:`qr` — reduced QR (tall, square, wide) with real non-negative ``diag(r)``.
"""

from .check import CaseReport, CheckReport, check, check_all
from .registry import Case, Primitive, get, names, register, registry
from .anderson import AndersonState, anderson_init, anderson_step
from .linear_solve import linear_solve
from .fixed_point import FixedPointInfo, fixed_point, fixed_point_info, relative_change
from .eigh import eigh
from .svd import svd
from .qr import qr

__all__ = [
    "Case", "Primitive", "register", "registry", "get", "names",
    "check", "check_all", "CheckReport", "CaseReport",
    "linear_solve", "fixed_point", "fixed_point_info", "FixedPointInfo", "relative_change",
    "AndersonState", "anderson_init", "anderson_step",
    "eigh", "svd", "qr",
]
