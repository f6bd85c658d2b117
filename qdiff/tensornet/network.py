"""Tensor networks laid out on a networkx graph: nodes are tensors, edges are bonds.

:func:`network_from_graph` turns a graph plus one array per node into a
:class:`Network` (arrays with labels) that :func:`qdiff.tensornet.contract`
contracts.  Each edge is one bond, labelled by the edge's ``"label"`` attribute
if it has one, else by the edge tuple ``(u, v)`` as networkx reports it
(``(u, v, key)`` for multigraphs, so parallel bonds stay distinct); a self-loop
is a trace over two axes of the same tensor.  Open (physical) legs are extra
labels that are not edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Sequence

import jax

from ..errors import InputError
from .contraction import ContractionCost, contract, contraction_cost


@dataclass(frozen=True)
class Network:
    """Arrays with one label per axis, ready for :func:`qdiff.tensornet.contract`.

    A pytree: ``operands`` are its leaves; ``labels`` and ``output`` are static.

    Attributes:
      operands: the tensors, in the graph's node order.
      labels: for each operand, the label of each axis.
      output: labels of the result's axes (the open legs by default).
      nodes: the graph node of each operand.
    """

    operands: tuple
    labels: tuple[tuple[Hashable, ...], ...]
    output: tuple[Hashable, ...]
    nodes: tuple[Hashable, ...]

    def arguments(self) -> list:
        """``[array, labels, array, labels, ...]`` as :func:`contract` takes them."""
        out: list = []
        for a, lab in zip(self.operands, self.labels):
            out += [a, lab]
        return out

    def cost(self, optimize: Any = "greedy") -> ContractionCost:
        """Cost of :meth:`contract` (flops, largest intermediate, path), from shapes only."""
        return contraction_cost(*self.arguments(), output=self.output, optimize=optimize)

    def contract(self, optimize: Any = "greedy", memory_limit: int | None = None):
        """Contract the network; see :func:`qdiff.tensornet.contract` for the options."""
        return contract(*self.arguments(), output=self.output, optimize=optimize, memory_limit=memory_limit)


jax.tree_util.register_dataclass(Network, data_fields=["operands"], meta_fields=["labels", "output", "nodes"])


def _edge_labels(graph) -> tuple[dict, dict]:
    """Return ``{edge label: (u, v)}`` and ``{alias: edge label}`` (aliases: the reversed tuple)."""
    multi = graph.is_multigraph()
    edges = graph.edges(keys=True, data=True) if multi else graph.edges(data=True)
    label_of: dict[Hashable, tuple] = {}
    alias: dict[Hashable, Hashable] = {}
    for e in edges:
        u, v = e[0], e[1]
        data = e[-1]
        default = (u, v, e[2]) if multi else (u, v)
        lab = data.get("label", default)
        if lab in label_of:
            raise InputError(f"network_from_graph: two edges share the label {lab!r}")
        label_of[lab] = (u, v)
        alias[lab] = lab
        if "label" not in data:
            alias[(v, u, e[2]) if multi else (v, u)] = lab
    return label_of, alias


def _default_legs(graph, node, label_of: dict) -> list:
    legs = []
    for lab, (u, v) in label_of.items():
        if u == node and v == node:
            legs += [lab, lab]
        elif node in (u, v):
            legs.append(lab)
    legs += list(graph.nodes[node].get("open", ()))
    return legs


def network_from_graph(graph, tensors: Mapping[Hashable, Any], *,
                       legs: Mapping[Hashable, Sequence[Hashable]] | None = None,
                       output: Sequence[Hashable] | None = None) -> Network:
    """Build the tensor network of ``graph``: one tensor per node, one bond per edge.

    The axes of ``tensors[node]`` are, by default, the node's incident edges in the
    order ``graph.edges`` lists them (a self-loop gives two consecutive axes), then the
    node's open legs from the node attribute ``"open"`` (a sequence of labels).  Give
    ``legs[node]`` to fix the order yourself: a sequence of edge labels (an edge
    without a ``"label"`` attribute may be written ``(u, v)`` or ``(v, u)``;
    ``(u, v, key)`` in multigraphs) and open-leg labels (anything that is not an edge
    label).

    Args:
      graph: a ``networkx`` Graph or MultiGraph.
      tensors: node -> array, for every node of ``graph``.
      legs: optional node -> axis labels, for nodes whose axis order differs from the
        default.
      output: labels of the result's axes; default: every open leg, in node order.

    Returns:
      :class:`Network`; call ``.contract()`` (or ``.cost()``) on it.

    Raises:
      InputError: a node without a tensor (or a tensor without a node), a tensor whose
        rank differs from its number of legs, an edge that is not used by exactly its
        two end nodes (twice by the node of a self-loop), or two edges with one label.
    """
    missing = [n for n in graph.nodes if n not in tensors]
    if missing:
        raise InputError(f"network_from_graph: no tensor for node(s) {missing[:5]!r}")
    extra = [n for n in tensors if n not in graph]
    if extra:
        raise InputError(f"network_from_graph: tensors given for node(s) {extra[:5]!r} that are not in the graph")
    label_of, alias = _edge_labels(graph)
    legs = dict(legs or {})
    unknown = [n for n in legs if n not in graph]
    if unknown:
        raise InputError(f"network_from_graph: legs given for node(s) {unknown[:5]!r} that are not in the graph")

    nodes = tuple(graph.nodes)
    all_labels = []
    uses: dict[Hashable, list] = {lab: [] for lab in label_of}
    for node in nodes:
        node_legs = legs.get(node)
        node_legs = _default_legs(graph, node, label_of) if node_legs is None else list(node_legs)
        resolved = []
        for x in node_legs:
            try:
                lab = alias.get(x, x)
            except TypeError:
                raise InputError(f"network_from_graph: leg {x!r} of node {node!r} is not hashable") from None
            if lab in label_of:
                uses[lab].append(node)
            resolved.append(lab)
        shape = getattr(tensors[node], "shape", None)
        if shape is None or len(shape) != len(resolved):
            rank = "no shape" if shape is None else f"{len(shape)} axes"
            raise InputError(f"network_from_graph: tensor of node {node!r} has {rank} but the node has "
                             f"{len(resolved)} legs {tuple(resolved)!r}")
        all_labels.append(tuple(resolved))
    for lab, (u, v) in label_of.items():
        if sorted(map(repr, uses[lab])) != sorted(map(repr, [u, v])):
            raise InputError(f"network_from_graph: bond {lab!r} between {u!r} and {v!r} is used by "
                             f"node(s) {uses[lab]!r}; each bond must be a leg of exactly its two end nodes")
    if output is None:
        output = tuple(lab for labs in all_labels for lab in labs if lab not in label_of)
    return Network(operands=tuple(tensors[n] for n in nodes), labels=tuple(all_labels), output=tuple(output),
                   nodes=nodes)
