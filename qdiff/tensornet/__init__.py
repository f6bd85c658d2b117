"""qdiff.tensornet: tensor-network contraction, TRG for classical models, iPEPS.

Public API (this part):
  * :func:`contract`, :func:`contraction_cost`, :class:`ContractionCost` — labelled
    networks, opt_einsum/cotengra paths, cost before contracting, memory limit;
  * :func:`network_from_graph`, :class:`Network` — networks laid out on a networkx graph;
  * :func:`trg_lnz`, :func:`trg_observables`, :func:`ising_tensor` — Levin–Nave TRG for the
    2D Ising model, derivatives by AD through truncated SVDs;
  * :func:`onsager_lnz`, :func:`onsager_energy`, :func:`onsager_specific_heat`,
    :func:`critical_beta`, :data:`BETA_C` — exact 2D Ising solution.
"""

from .contraction import ContractionCost, contract, contraction_cost
from .network import Network, network_from_graph
from .onsager import BETA_C, critical_beta, onsager_energy, onsager_lnz, onsager_specific_heat
from .trg import ising_tensor, trg_lnz, trg_observables

__all__ = [
    "contract", "contraction_cost", "ContractionCost", "Network", "network_from_graph",
    "trg_lnz", "trg_observables", "ising_tensor",
    "BETA_C", "critical_beta", "onsager_lnz", "onsager_energy", "onsager_specific_heat",
]
