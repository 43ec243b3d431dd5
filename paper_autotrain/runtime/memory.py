"""Collaborative Memory Network's memory module (Ebesu, Shen & Fang, SIGIR 2018): the neighbourhood N(i) of an item
(the users with a train interaction with it) read as memory slots, attended by the user-item query over one or more
hops, and the GMF pre-training (Eq. 8) its user and item memories start from.

Pairs (u, i) and their neighbourhoods are flattened: each pair p holds the entries of N(i_p), so a batch of pairs
with neighbourhoods of any sizes is one [T] list of (pair, neighbour) entries, with no padding."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from paper_autotrain.runtime.knowledge import softmax_by_head
from paper_autotrain.runtime.losses import bpr_loss
from paper_autotrain.runtime.sampling import UniformNegativeSampler
from paper_autotrain.runtime.similarity import train_pairs


def item_neighbourhoods(train: np.ndarray, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """N(i) of every item as CSR: (indptr [n_items + 1], users [nnz]); each (user, item) train pair once."""
    pairs = train_pairs(train)
    pairs = pairs[torch.argsort(pairs[:, 1] * (int(pairs[:, 0].max()) + 1 if len(pairs) else 1) + pairs[:, 0])]
    counts = torch.bincount(pairs[:, 1], minlength=n_items)
    indptr = torch.zeros(n_items + 1, dtype=torch.long)
    indptr[1:] = torch.cumsum(counts, 0)
    return indptr, pairs[:, 0].clone()


def neighbourhood_entries(indptr: torch.Tensor, neighbours: torch.Tensor, items: torch.Tensor,
                          users: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The flattened neighbourhoods of pairs whose items are `items` [P]: (pair index [T], neighbour [T]), the
    entries of each pair's N(i) in order. With `users` [P], the pair's own user leaves its N(i) (block word
    `neighbourhood: others`)."""
    starts, ends = indptr[items], indptr[items + 1]
    lengths = ends - starts
    pair = torch.repeat_interleave(torch.arange(len(items), device=items.device), lengths)
    offsets = torch.arange(len(pair), device=items.device) - torch.repeat_interleave(
        torch.cumsum(lengths, 0) - lengths, lengths)
    neighbour = neighbours[starts[pair] + offsets]
    if users is not None:
        keep = neighbour != users[pair]
        pair, neighbour = pair[keep], neighbour[keep]
    return pair, neighbour


# Scoring many pairs at once (sampled ranking's candidates): pairs in chunks of about this many neighbourhood entries,
# so each hop's [entries, d] intermediates stay small. On ML-100K (CMN, d 40, 95k candidate pairs, one thread) the
# validation took 9.4 CPU s in chunks of 2^15 pairs (about 2M entries), 5.0 s at 2^17 entries, 1.5 s at 2^15 or 2^13.
SCORING_ENTRIES = 1 << 15


def pair_chunks(indptr: torch.Tensor, items: torch.Tensor, entries: int = SCORING_ENTRIES) -> list[slice]:
    """Consecutive slices of the pairs whose items are `items` [P], each holding about `entries` neighbourhood
    entries in all (at least one pair: one item's N(i) may hold more)."""
    ends = torch.cumsum(indptr[items + 1] - indptr[items], 0)
    total = int(ends[-1]) if len(ends) else 0
    cuts = torch.searchsorted(ends, torch.arange(entries, max(total, entries), entries, device=ends.device),
                              right=True).tolist()
    bounds = [0, *sorted({cut for cut in cuts if 0 < cut < len(items)}), len(items)]
    return [slice(start, end) for start, end in zip(bounds, bounds[1:], strict=False)]


def neighbourhood_read(query: torch.Tensor, pair: torch.Tensor, neighbour: torch.Tensor, keys: torch.Tensor,
                       values: torch.Tensor) -> torch.Tensor:
    """One hop's read of the memory, [P, d]: q_uiv = z_ui . m_v over v in N(i) (Eq. 1 with z^0 = m_u + e_i, Eq. 6),
    p_uiv = softmax over N(i) (Eq. 2), o_ui = sum_v p_uiv c_v (Eq. 3). `query` [P, d] holds z_ui, `keys` the user
    memory M, `values` the external memory C (tables [n_users, d]); a pair with an empty N(i) reads o = 0."""
    logits = (query[pair] * F.embedding(neighbour, keys)).sum(-1)
    weights = softmax_by_head(logits, pair, len(query))
    return query.new_zeros(query.shape).index_add(0, pair, weights.unsqueeze(-1) * F.embedding(neighbour, values))


def memory_hops(user_vectors: torch.Tensor, item_vectors: torch.Tensor, pair: torch.Tensor, neighbour: torch.Tensor,
                keys: torch.Tensor, values: torch.Tensor, hop_layers: Sequence[nn.Linear]) -> torch.Tensor:
    """The last hop's neighbourhood state o^H [P, d] of pairs with memories m_u, e_i [P, d]: z^0 = m_u + e_i, and
    between hops z^h = ReLU(W^h z^{h-1} + o^h + b^h) (Eq. 5; one nn.Linear per hop holds W^h and b^h), so
    len(hop_layers) + 1 hops; the memories are shared by every hop (the paper's layer-wise weight tying)."""
    query = user_vectors + item_vectors
    state = neighbourhood_read(query, pair, neighbour, keys, values)
    for layer in hop_layers:
        query = torch.relu(layer(query) + state)
        state = neighbourhood_read(query, pair, neighbour, keys, values)
    return state


def pretrain_gmf(train: np.ndarray, users: nn.Embedding, items: nn.Embedding, *, epochs: int, learning_rate: float,
                 batch_size: int, negative_samples: int, seed: int = 0) -> list[float]:
    """Fit Eq. 8, r_ui = v^T ReLU(m_u * e_i) (GMF), with the BPR loss (Eq. 7) on the train pairs, in place: the
    user and item memories M and E start from it (the paper's initialisation; v is thrown away). Adam at the
    model's learning rate, `negative_samples` uniform negatives per positive, batches of `batch_size` triples.
    Returns the mean loss of each epoch."""
    device = users.weight.device
    pairs = np.asarray(train, dtype=np.int64).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    sampler = UniformNegativeSampler(pairs, items.num_embeddings, rng)
    weight = nn.Linear(users.embedding_dim, 1, bias=False).to(device)  # v
    optimizer = torch.optim.Adam([*users.parameters(), *items.parameters(), *weight.parameters()], lr=learning_rate)
    per_batch = max(batch_size // max(negative_samples, 1), 1)
    losses = []
    with torch.inference_mode(False), torch.enable_grad():  # also when the first forward pass is an evaluation
        for _ in range(int(epochs)):
            order = rng.permutation(len(pairs))
            negatives = torch.from_numpy(sampler.sample(pairs[order, 0], negative_samples)).to(device)
            batch_users = torch.from_numpy(pairs[order, 0]).to(device)
            positives = torch.from_numpy(pairs[order, 1]).to(device)
            total = 0.0
            for start in range(0, len(order), per_batch):
                u = users(batch_users[start:start + per_batch]).unsqueeze(1)
                both = torch.cat([positives[start:start + per_batch].unsqueeze(1),
                                  negatives[start:start + per_batch]], 1)
                scores = weight(torch.relu(u * items(both))).squeeze(-1)
                loss = bpr_loss(scores[:, 0], scores[:, 1:])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(u)
            losses.append(total / max(len(pairs), 1))
    return losses


def segment_softmax_rows(logits: torch.Tensor, segments: torch.Tensor, n_segments: int) -> torch.Tensor:
    """The softmax of each row of `logits` [U, T] over each segment of its entries (`segments` [T])."""
    index = segments.expand_as(logits)
    largest = logits.new_full((len(logits), n_segments), float("-inf"))
    largest = largest.scatter_reduce(1, index, logits, reduce="amax", include_self=True)
    weights = torch.exp(logits - largest[:, segments])
    totals = logits.new_zeros(len(logits), n_segments).index_add(1, segments, weights)
    return weights / totals[:, segments]


# Below this many (item, user) cells, a later hop's q_uiv = z_ui . m_v comes from the dense product z_u M^T and is
# gathered at the slots: on ML-100K (1,682 x 943) 20x faster on one thread than gathering z_ui per slot.
DENSE_CELLS = 1 << 24


def slot_logits(query: torch.Tensor, keys: torch.Tensor, key_rows: torch.Tensor, entry_items: torch.Tensor,
                neighbours: torch.Tensor, dense: bool) -> torch.Tensor:
    """q_uiv = z_ui . m_v at every slot (i, v), [U, nnz], of queries `query` [U, n_items, d]."""
    if dense:
        products = torch.matmul(query, keys.T)  # [U, n_items, n_users]
        return products.flatten(1)[:, entry_items * len(keys) + neighbours]
    return (query[:, entry_items] * key_rows).sum(-1)


def every_item_hops(user_vectors: torch.Tensor, item_table: torch.Tensor, indptr: torch.Tensor,
                    neighbours: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    hop_layers: Sequence[nn.Linear], dense: bool | None = None) -> torch.Tensor:
    """memory_hops for every (user, item) pair of U users at once, [U, n_items, d] (full ranking; the same values).

    Each item's N(i) is read once for all U users: the first hop's q_uiv = m_u . m_v + e_i . m_v is one product of
    the users with the slots' keys plus a term shared by the users, and o = sum_v p_uiv c_v one sparse product of the
    [U n_items, n_users] attention matrix with C, so no [pairs, N(i), d] tensor is built for that hop. A later hop's
    q_uiv comes from the dense product z_u M^T where `dense` (default: at most DENSE_CELLS cells)."""
    if dense is None:
        dense = len(item_table) * len(keys) <= DENSE_CELLS
    n_items, n_users = len(item_table), len(keys)
    lengths = indptr[1:] - indptr[:-1]
    entry_items = torch.repeat_interleave(torch.arange(n_items, device=indptr.device), lengths)  # i of each slot
    key_rows = keys[neighbours]  # m_v of each slot, [nnz, d]
    nnz, n_rows = len(neighbours), len(user_vectors)
    rows = (indptr[:-1].unsqueeze(0) + nnz * torch.arange(n_rows, device=indptr.device).unsqueeze(1)).reshape(-1)
    crow = torch.cat([rows, rows.new_tensor([nnz * n_rows])])
    columns = neighbours.repeat(n_rows)

    def read(logits: torch.Tensor) -> torch.Tensor:
        weights = segment_softmax_rows(logits, entry_items, n_items)
        with warnings.catch_warnings():  # "sparse CSR support is in beta" is not news to act on
            warnings.simplefilter("ignore", UserWarning)
            attention = torch.sparse_csr_tensor(crow, columns, weights.reshape(-1),
                                                size=(n_rows * n_items, n_users), check_invariants=False)
        return (attention @ values).view(n_rows, n_items, -1)

    state = read(user_vectors @ key_rows.T + (item_table[entry_items] * key_rows).sum(-1))
    query = user_vectors.unsqueeze(1) + item_table.unsqueeze(0)
    for layer in hop_layers:
        query = torch.relu(layer(query) + state)
        state = read(slot_logits(query, keys, key_rows, entry_items, neighbours, dense))
    return state
