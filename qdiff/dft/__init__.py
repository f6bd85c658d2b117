"""qdiff.dft: plane-wave Kohn–Sham DFT.

Numerical engines (this part):
  * :class:`Smearing`, :func:`fermi_level`, :func:`occupations`, :class:`Occupations` —
    occupations, Fermi level and the smearing entropy term;
  * :func:`lobpcg`, :class:`LobpcgInfo`, :func:`dense_eigh` — the iterative eigensolver for the
    lowest bands and its dense fallback;
  * :class:`SimpleMixing`, :class:`KerkerMixing`, :func:`precondition` — density-mixing
    preconditioners for the SCF (:func:`precondition_fourier` on Fourier coefficients).
"""

from .eigensolver import LobpcgInfo, dense_eigh, lobpcg
from .mixing import KerkerMixing, SimpleMixing, precondition, precondition_fourier
from .occupation import Occupations, fermi_level, occupations
from .smearing import Smearing

__all__ = [
    "Smearing", "Occupations", "fermi_level", "occupations",
    "lobpcg", "LobpcgInfo", "dense_eigh",
    "SimpleMixing", "KerkerMixing", "precondition", "precondition_fourier",
]
