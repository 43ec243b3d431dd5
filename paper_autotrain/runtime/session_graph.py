"""Session graphs and the gated graph network over them (SR-GNN, Wu et al. 2019; GC-SAN builds on it).

A session (a history) is a directed graph whose nodes are its distinct items and whose edges are its consecutive
clicks v_i -> v_{i+1}. Each edge weighs its occurrences divided by the degree of its node (the paper's normalised
connection matrices): the incoming matrix by the in-degree of the receiving node, the outgoing one by the
out-degree of the sending node. Nodes are numbered per session; `alias` maps every position to its node.

RecBole's SRGNN and GCSAN (the authors' PyTorch code) differ in two places, each available here to show what it
changes: every edge weighs 1 however often it occurs (`edge_weights="unit"`), the candidate state is gated as
PyTorch's GRU gates it (`gate="gru"`), and the messages' bias sits inside the propagation, A (v W + b) (RecBole's
GCSAN, the authors' TensorFlow code: `message_bias="inside"`) or on both sides of it (RecBole's SRGNN: `"both"`)
where the paper's Eq. 1 adds it after, A v W + b (`"outside"`).
"""

from __future__ import annotations

import torch
from torch import nn

EDGE_WEIGHTS = ("occurrences", "unit")  # the paper's; RecBole's (an edge weighs 1)
GATES = ("paper", "gru")  # the paper's U_o (r * v); PyTorch's GRU's r * (U_o v + b), RecBole's
MESSAGE_BIASES = ("outside", "inside", "both")  # the paper's A v W + b; A (v W + b); A (v W + b) + b' (RecBole's SRGNN)


def session_graph(histories: torch.Tensor, lengths: torch.Tensor, edge_weights: str = "occurrences"
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-aligned histories [B, L] -> (alias [B, L]: each position's node, node_items [B, L]: each node's item
    (0 where a session has fewer nodes), incoming [B, L, L], outgoing [B, L, L]): incoming[b, v, u] is the weight
    of edge u -> v over v's in-degree, outgoing[b, u, v] the same edge's over u's out-degree. An edge's weight is
    its occurrences (`edge_weights="occurrences"`) or 1 (`"unit"`), the degrees sums of those weights."""
    if edge_weights not in EDGE_WEIGHTS:
        raise ValueError(f"edge_weights={edge_weights!r}: one of {', '.join(EDGE_WEIGHTS)}")
    batch, length = histories.shape
    ordered, order = histories.sort(dim=1)
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    node_of_ordered = first.long().cumsum(dim=1) - 1
    alias = torch.empty_like(histories).scatter_(1, order, node_of_ordered)
    node_items = torch.zeros_like(histories).scatter_(1, node_of_ordered, ordered)
    counts = torch.zeros(batch, length * length, device=histories.device)
    positions = torch.arange(1, length, device=histories.device)
    clicked = (positions[None, :] < lengths[:, None]).float()  # position i + 1 is a real click after i
    counts.scatter_add_(1, alias[:, :-1] * length + alias[:, 1:], clicked)
    counts = counts.view(batch, length, length)  # counts[b, u, v]: occurrences of u -> v
    if edge_weights == "unit":
        counts = (counts > 0).float()
    outgoing = counts / counts.sum(dim=2, keepdim=True).clamp(min=1)
    incoming = counts.transpose(1, 2) / counts.sum(dim=1).unsqueeze(2).clamp(min=1)
    return alias, node_items, incoming, outgoing


class GatedGraphCell(nn.Module):
    """One step of the gated graph network (the paper's Eq. 1-5) on the node vectors v [B, n, d]:
    a = [A_in v W_in + b_in, A_out v W_out + b_out], z = sigma(W_z a + U_z v), r = sigma(W_r a + U_r v),
    v~ = tanh(W_o a + U_o (r * v)), v' = (1 - z) * v + z * v~.

    `gate="gru"`: PyTorch's GRU's gates (RecBole's): U_z, U_r, U_o each with a bias and v~ = tanh(W_o a +
    r * (U_o v + b_o)). `message_bias="inside"`: a = [A_in (v W_in + b_in), ...] (a node with no edge that way gets
    0, not b); `"both"`: that plus a second bias after the propagation (RecBole's SRGNN's b_iah, b_ioh)."""

    def __init__(self, dim: int, gate: str = "paper", message_bias: str = "outside") -> None:
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"gate={gate!r}: one of {', '.join(GATES)}")
        if message_bias not in MESSAGE_BIASES:
            raise ValueError(f"message_bias={message_bias!r}: one of {', '.join(MESSAGE_BIASES)}")
        self.gate, self.message_bias = gate, message_bias
        self.edge_in = nn.Linear(dim, dim)
        self.edge_out = nn.Linear(dim, dim)
        self.from_messages = nn.Linear(2 * dim, 3 * dim)  # W_z, W_r, W_o (with their biases)
        if gate == "paper":
            self.from_state = nn.Linear(dim, 2 * dim, bias=False)  # U_z, U_r
            self.candidate_state = nn.Linear(dim, dim, bias=False)  # U_o, applied to r * v
        else:
            self.from_state = nn.Linear(dim, 3 * dim)  # U_z, U_r, U_o with PyTorch's GRU's hidden biases
        self.propagation_bias = nn.Parameter(torch.zeros(2 * dim)) if message_bias == "both" else None

    def forward(self, nodes: torch.Tensor, incoming: torch.Tensor, outgoing: torch.Tensor) -> torch.Tensor:
        messages = torch.cat([self.propagate(incoming, self.edge_in, nodes),
                              self.propagate(outgoing, self.edge_out, nodes)], dim=-1)
        if self.propagation_bias is not None:
            messages = messages + self.propagation_bias
        update_in, reset_in, candidate_in = self.from_messages(messages).chunk(3, dim=-1)
        if self.gate == "paper":
            update_state, reset_state = self.from_state(nodes).chunk(2, dim=-1)
            reset = torch.sigmoid(reset_in + reset_state)
            candidate = torch.tanh(candidate_in + self.candidate_state(reset * nodes))
        else:
            update_state, reset_state, candidate_state = self.from_state(nodes).chunk(3, dim=-1)
            reset = torch.sigmoid(reset_in + reset_state)
            candidate = torch.tanh(candidate_in + reset * candidate_state)
        update = torch.sigmoid(update_in + update_state)
        return (1 - update) * nodes + update * candidate

    def propagate(self, adjacency: torch.Tensor, edge: nn.Linear, nodes: torch.Tensor) -> torch.Tensor:
        """A v W + b (the paper's), or A (v W + b): the same where A's row sums to 1, 0 for a node with no edge."""
        if self.message_bias == "outside":
            return adjacency @ (nodes @ edge.weight.T) + edge.bias
        return adjacency @ edge(nodes)


def node_states_at_positions(nodes: torch.Tensor, alias: torch.Tensor) -> torch.Tensor:
    """[B, n, d] node vectors -> [B, L, d]: each position's node vector."""
    return nodes.gather(1, alias.unsqueeze(-1).expand(-1, -1, nodes.shape[-1]))


def normal_init(*modules: nn.Module, std: float = 0.02) -> None:
    """RecBole's GCSAN initialisation (its `_init_weights`) on `modules` and their sub-modules: every linear layer's,
    attention projection's and embedding's weight from N(0, std), their biases zero."""
    for module in modules:
        for part in module.modules():
            if isinstance(part, nn.Linear | nn.Embedding):
                nn.init.normal_(part.weight, 0.0, std)
            if isinstance(part, nn.MultiheadAttention) and part.in_proj_weight is not None:
                nn.init.normal_(part.in_proj_weight, 0.0, std)
            for name in ("bias", "in_proj_bias"):
                if isinstance(part, nn.Linear | nn.MultiheadAttention) and getattr(part, name, None) is not None:
                    nn.init.zeros_(getattr(part, name))
