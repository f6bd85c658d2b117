"""qdiff.tensornet: tensor networks — contraction, TRG for classical models, C4v iPEPS by AD through CTMRG.

Public API:
  * contraction: :func:`contract`, :func:`contraction_cost`, :class:`ContractionCost` (labelled
    networks, opt_einsum/cotengra paths, cost before contracting, memory limit);
    :func:`network_from_graph`, :class:`Network` (networks laid out on a networkx graph);
  * TRG: :func:`trg_lnz`, :func:`trg_observables`, :func:`ising_tensor` — Levin–Nave TRG for the 2D
    Ising model, derivatives by AD through truncated SVDs; exact solution :func:`onsager_lnz`,
    :func:`onsager_energy`, :func:`onsager_specific_heat`, :func:`critical_beta`, :data:`BETA_C`;
  * iPEPS models: :class:`Model`, :func:`heisenberg`, :func:`transverse_ising`, :func:`j1j2`,
    :func:`two_site_model`, :func:`get_model`, :func:`model_names`;
  * tensors: :func:`symmetrize`, :func:`double_layer`, :func:`random_tensor`, :func:`pad_tensor`,
    :class:`CTMEnv`;
  * CTMRG: :func:`ctmrg`, :func:`ctmrg_info`, :func:`ctm_step`, :func:`corner_spectrum` (registry
    entry ``tensornet.ctmrg``); :func:`compiler_options` (XLA options for your own outermost ``jit``);
  * observables: :func:`energy_per_site`, :func:`rdm_nn`, :func:`rdm_diagonal`, :func:`magnetization`,
    :func:`correlation_length`, :func:`transfer_spectrum`, :func:`log_kappa`;
  * optimisation: :func:`ipeps_energy`, :func:`evaluate_ipeps`, :func:`optimize_ipeps`, :class:`IPEPSResult`;
  * exactly solvable inputs: :func:`ising_weight_tensor`, :func:`ising_peps_tensor`.
"""

from .compile_options import compiler_options
from .contraction import ContractionCost, contract, contraction_cost
from .ctmrg import CTMInfo, corner_spectrum, ctm_step, ctmrg, ctmrg_info
from .ipeps import CTMEnv, double_layer, pad_tensor, random_tensor, symmetrize
from .ipeps_optimize import IPEPSResult, evaluate_ipeps, ipeps_energy, optimize_ipeps
from .ising_tensors import ising_peps_tensor, ising_weight_tensor
from .models import Model, get_model, heisenberg, j1j2, model_names, transverse_ising, two_site_model
from .network import Network, network_from_graph
from .observables import (correlation_length, energy_per_site, log_kappa, magnetization, rdm_diagonal, rdm_nn,
                          transfer_spectrum)
from .onsager import BETA_C, critical_beta, onsager_energy, onsager_lnz, onsager_specific_heat
from .trg import ising_tensor, trg_lnz, trg_observables

__all__ = [
    "contract", "contraction_cost", "ContractionCost", "Network", "network_from_graph",
    "trg_lnz", "trg_observables", "ising_tensor",
    "BETA_C", "critical_beta", "onsager_lnz", "onsager_energy", "onsager_specific_heat",
    "Model", "heisenberg", "transverse_ising", "j1j2", "two_site_model", "get_model", "model_names",
    "CTMEnv", "symmetrize", "double_layer", "random_tensor", "pad_tensor",
    "ctmrg", "ctmrg_info", "ctm_step", "corner_spectrum", "CTMInfo", "compiler_options",
    "energy_per_site", "rdm_nn", "rdm_diagonal", "magnetization", "correlation_length", "transfer_spectrum",
    "log_kappa",
    "ipeps_energy", "evaluate_ipeps", "optimize_ipeps", "IPEPSResult",
    "ising_weight_tensor", "ising_peps_tensor",
]
