"""qdiff's registry of differentiable primitives and their gradient-check harness.

Public API:
  * :func:`registry`, :func:`get`, :func:`names`, :func:`register`, :class:`Primitive`,
    :class:`Case` — the registry;
  * :func:`check`, :func:`check_all` — the finite-difference harness;
  * :func:`eigh` — Hermitian eigendecomposition with a degeneracy-safe derivative rule;
  * :func:`svd` — thin (optionally truncated) SVD with degeneracy/rank-deficiency-safe rule.
"""

from .check import CaseReport, CheckReport, check, check_all
from .registry import Case, Primitive, get, names, register, registry
from .eigh import eigh
from .svd import svd

__all__ = [
    "Case", "Primitive", "register", "registry", "get", "names",
    "check", "check_all", "CheckReport", "CaseReport",
    "eigh", "svd",
]
