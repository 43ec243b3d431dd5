"""What the knowledge-aware blocks share: sampled KG triples with corrupted tails, and sampled KG neighbourhoods.

The split's entities 0..n_items-1 are its items (data/knowledge.py), so an item's entity row is its item index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from paper_autotrain.data.knowledge import KnowledgeSplit
from paper_autotrain.runtime.lookup import lookup


def corrupted_triples(triples: torch.Tensor, count: int, n_entities: int, first: int = 0) -> tuple[torch.Tensor, ...]:
    """`count` triples drawn uniformly from the KG [m, 3], each with a tail drawn uniformly among the n_entities
    nodes from `first` on as its corrupted one: (heads, relations, tails, corrupted tails)."""
    return with_corrupted_tails(triples[torch.randint(len(triples), (count,), device=triples.device)], n_entities,
                                first)


def with_corrupted_tails(rows: torch.Tensor, n_entities: int, first: int = 0) -> tuple[torch.Tensor, ...]:
    """The triples [m, 3] split into (heads, relations, tails) and a corrupted tail each, uniform among the
    n_entities nodes from `first` on."""
    corrupted = first + torch.randint(n_entities, (len(rows),), device=rows.device)
    return rows[:, 0], rows[:, 1], rows[:, 2], corrupted


def entity_lookup(item_table: torch.Tensor, other_table: torch.Tensor, entities: torch.Tensor) -> torch.Tensor:
    """[*entities.shape, d]: rows of the entity table [item_table; other_table] (entity i < n_items is item i), as
    ``lookup(torch.cat([item_table, other_table]), entities)`` without the joined copy, whose backward fills a zero
    gradient of every entity at each call; here each table's gradient is filled once."""
    n_items = item_table.shape[0]
    item_rows = lookup(item_table, entities.clamp(max=n_items - 1))
    other_rows = lookup(other_table, (entities - n_items).clamp(min=0))
    return torch.where((entities < n_items).unsqueeze(-1), item_rows, other_rows)


def sampled_neighbourhoods(split: KnowledgeSplit, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """KGCN's fixed-size receptive field: for every entity, `size` neighbours in the undirected KG and the relations
    to them ([n_entities, size] each), drawn uniformly (with replacement only when it has fewer than `size`). An
    entity without neighbours is its own neighbour through relation 0 (RecBole's convention)."""
    entities, neighbours, relations = split.neighbours()
    order = np.argsort(entities, kind="stable")
    entities, neighbours, relations = entities[order], neighbours[order], relations[order]
    starts = np.searchsorted(entities, np.arange(split.n_entities))
    counts = np.searchsorted(entities, np.arange(split.n_entities), side="right") - starts
    rng = np.random.default_rng(seed)
    adjacent = np.repeat(np.arange(split.n_entities)[:, None], size, axis=1)
    via = np.zeros((split.n_entities, size), dtype=np.int64)
    for entity in np.flatnonzero(counts):
        picked = starts[entity] + rng.choice(counts[entity], size=size, replace=bool(counts[entity] < size))
        adjacent[entity], via[entity] = neighbours[picked], relations[picked]
    return torch.as_tensor(adjacent, dtype=torch.long), torch.as_tensor(via, dtype=torch.long)


def collaborative_knowledge_graph(split: KnowledgeSplit, inverse_kg: bool = True,
                                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """KGAT's collaborative knowledge graph over the nodes users 0..n_users-1 then entities (n_users + e; entity i
    < n_items is item i): every train interaction as (u, interact, i), every KG triple (h, r, t), each with its
    inverse (i, interact^-1, u), (t, r^-1, h) so that a node's ego-network holds every triple it is part of.
    Relations: the KG's 0..R-1, their inverses R..2R-1, interact 2R and its inverse 2R+1. inverse_kg=False gives
    RecBole's CKG (its default kg_reverse_r: False): each KG triple in its file's direction only, each interaction
    both ways under one relation, interact = R. Returns (heads, relations, tails) [m] sorted by relation (the
    attention projects one relation at a time) and the number of relations."""
    n_users, n_relations = int(split.n_users), int(split.n_relations)
    pairs = np.unique(np.asarray(split.train, dtype=np.int64).reshape(-1, 2), axis=0)
    users, items = pairs[:, 0], pairs[:, 1] + n_users
    heads, relations, tails = (np.asarray(column, dtype=np.int64) for column in split.triples.T)
    heads, tails = heads + n_users, tails + n_users
    if inverse_kg:
        interact = np.full(len(users), 2 * n_relations, dtype=np.int64)
        all_heads = np.concatenate([users, items, heads, tails])
        all_relations = np.concatenate([interact, interact + 1, relations, relations + n_relations])
        all_tails = np.concatenate([items, users, tails, heads])
        count = 2 * n_relations + 2
    else:
        interact = np.full(2 * len(users), n_relations, dtype=np.int64)
        all_heads = np.concatenate([users, items, heads])
        all_relations = np.concatenate([interact, relations])
        all_tails = np.concatenate([items, users, tails])
        count = n_relations + 1
    order = np.argsort(all_relations, kind="stable")
    return (torch.as_tensor(all_heads[order]), torch.as_tensor(all_relations[order]),
            torch.as_tensor(all_tails[order]), count)


def relation_normalised_weights(heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
    """1 / the number of triples sharing a triple's (head, relation): each relation's adjacency row-normalised (the
    starting attention of RecBole's KGAT, summed over the relations)."""
    keys = heads * (int(relations.max()) + 1 if len(relations) else 1) + relations
    _, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse].to(torch.float32)


class HeadTailPairs(torch.nn.Module):
    """The distinct (head, tail) pairs of a graph's triples as the pattern of a sparse [n_heads, n_tails] matrix,
    compressed by rows (CSR) and, for the transpose, by columns, both built once; and each triple's pair. Two
    products over the pattern, each differentiable by a backward of the other, with no [m, d] gather or scatter
    and no dense [n, n] gradient: `product` (A @ table: the attention-weighted neighbourhood sum_(h,r,t) pi e_t,
    a pair linked by several relations carrying the sum of their weights) and `dots` (left[h] . right[t] of every
    pair: the attention's scores, a sampled dense-dense product)."""

    def __init__(self, heads: torch.Tensor, tails: torch.Tensor, n_heads: int, n_tails: int | None = None) -> None:
        super().__init__()
        n_tails = n_heads if n_tails is None else n_tails
        keys, pair_of_triple = torch.unique(heads * n_tails + tails, return_inverse=True)
        rows, columns = keys // n_tails, keys % n_tails  # sorted by head, then tail: CSR's order
        by_tail = torch.argsort(columns * n_heads + rows)  # the transpose's CSR order
        self.register_buffer("pair_of_triple", pair_of_triple, persistent=False)
        self.register_buffer("index", torch.stack([rows, columns]), persistent=False)
        self.register_buffer("crow", _compressed(rows, n_heads), persistent=False)
        self.register_buffer("by_tail", by_tail, persistent=False)
        self.register_buffer("crow_by_tail", _compressed(columns[by_tail], n_tails), persistent=False)
        self.register_buffer("heads_by_tail", rows[by_tail], persistent=False)
        self.shape = (n_heads, n_tails)

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """The sparse [n_heads, n_tails] matrix with `values` [pairs] on the pattern (CSR)."""
        return torch.sparse_csr_tensor(self.crow, self.index[1], values, self.shape, check_invariants=False)

    def transposed(self, values: torch.Tensor) -> torch.Tensor:
        """matrix(values)^T, [n_tails, n_heads] (CSR)."""
        return torch.sparse_csr_tensor(self.crow_by_tail, self.heads_by_tail, values[self.by_tail],
                                       self.shape[::-1], check_invariants=False)

    def pair_weights(self, weights: torch.Tensor) -> torch.Tensor:
        """The triples' weights [m] summed per pair, [pairs]."""
        values = torch.zeros(self.index.shape[1], dtype=weights.dtype, device=weights.device)
        return values.index_add(0, self.pair_of_triple, weights)

    def product(self, values: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """matrix(values) @ table, [n_heads, d]; differentiable in both."""
        return _PairProduct.apply(values, table, self)

    def dots(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """left[head] . right[tail] of every pair, [pairs]; differentiable in both."""
        return _PairDots.apply(left, right, self)

    def neighbourhood(self, weights: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """sum over each head's triples of weight * table[tail], [n_heads, d]; differentiable in both."""
        return self.product(self.pair_weights(weights), table)


def _compressed(rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """CSR's row pointers of sorted row indices."""
    counts = torch.bincount(rows, minlength=n_rows)
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def _sampled_dots(pairs: HeadTailPairs, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """left[head] . right[tail] per pair without gathering [pairs, d] rows (torch's sampled dense-dense product)."""
    pattern = pairs.matrix(left.new_zeros(pairs.index.shape[1]))
    return torch.sparse.sampled_addmm(pattern, left, right.t(), beta=0.0).values()


class _PairProduct(torch.autograd.Function):
    """A @ table for the sparse A of `pairs` with `values`. torch.sparse.mm's gradient for A's values forms the
    dense [n, n] product g table^T and masks it; here it is g[head] . table[tail] per pair, and A^T g for the
    table."""

    @staticmethod
    def forward(ctx: Any, values: torch.Tensor, table: torch.Tensor, pairs: HeadTailPairs) -> torch.Tensor:
        ctx.save_for_backward(values, table)
        ctx.pairs = pairs
        return torch.sparse.mm(pairs.matrix(values), table)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        values, table = ctx.saved_tensors
        grad_values = grad_table = None
        if ctx.needs_input_grad[0]:
            grad_values = _sampled_dots(ctx.pairs, grad.contiguous(), table)
        if ctx.needs_input_grad[1]:
            grad_table = torch.sparse.mm(ctx.pairs.transposed(values), grad)
        return grad_values, grad_table, None


class _PairDots(torch.autograd.Function):
    """left[head] . right[tail] per pair; its gradients are products with the sparse matrix of the pairs'
    gradients: G @ right for left, G^T @ left for right."""

    @staticmethod
    def forward(ctx: Any, left: torch.Tensor, right: torch.Tensor, pairs: HeadTailPairs) -> torch.Tensor:
        ctx.save_for_backward(left, right)
        ctx.pairs = pairs
        return _sampled_dots(pairs, left, right)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        left, right = ctx.saved_tensors
        grad_left = grad_right = None
        if ctx.needs_input_grad[0]:
            grad_left = torch.sparse.mm(ctx.pairs.matrix(grad), right)
        if ctx.needs_input_grad[1]:
            grad_right = torch.sparse.mm(ctx.pairs.transposed(grad), left)
        return grad_left, grad_right, None


class DistinctPerSlice(torch.nn.Module):
    """A node column of triples sorted into slices (one per relation): each slice's distinct nodes, in slots one
    after the other, and each triple's slot, so that W_r e over a slice's triples is W_r e over its distinct nodes
    (the same rows from a fraction of the products: a relation's heads repeat, e.g. a user in each of its
    interactions), all relations' rows gathered from the table at once."""

    def __init__(self, nodes: torch.Tensor, slices: list[tuple[int, int, int]]) -> None:
        super().__init__()
        distinct, slots, relations, self.segments, offset = [], [], [], [], 0
        for relation, start, end in slices:
            unique, place = torch.unique(nodes[start:end], return_inverse=True)
            distinct.append(unique)
            slots.append(place + offset)
            relations.append(torch.full_like(unique, relation))
            self.segments.append((relation, offset, offset + len(unique)))  # the relation's slots
            offset += len(unique)
        self.register_buffer("distinct", torch.cat(distinct) if distinct else nodes[:0], persistent=False)
        self.register_buffer("slot", torch.cat(slots) if slots else nodes[:0], persistent=False)  # per triple
        self.register_buffer("slot_relation", torch.cat(relations) if relations else nodes[:0], persistent=False)

    def per_relation(self, rows: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
        """Each slot's row [slots, a] times its relation's matrix of matrices [R, a, b], [slots, b]."""
        return segment_matmul(rows, matrices, self.segments)

    def projected(self, table: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
        """Each slot's table[node] @ projections[its relation], [slots, k]."""
        return self.per_relation(table[self.distinct], projections)


def segment_matmul(rows: torch.Tensor, matrices: torch.Tensor, segments: list[tuple[int, int, int]]) -> torch.Tensor:
    """rows[start:end] @ matrices[index] for each (index, start, end) of segments covering rows [S, a] in order,
    [S, b]; differentiable in rows and matrices [R, a, b]."""
    return _SegmentMatmul.apply(rows, matrices, segments)


class _SegmentMatmul(torch.autograd.Function):
    """Each segment's product written into its rows of one output, and its gradients likewise: no parts to
    concatenate, nor their gradients to split, nor one [a, b] gradient a segment to stack into [R, a, b]."""

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, matrices: torch.Tensor, segments: list[tuple[int, int, int]],
                ) -> torch.Tensor:
        ctx.save_for_backward(rows, matrices)
        ctx.segments = segments
        out = rows.new_empty(rows.shape[0], matrices.shape[2])
        for index, start, end in segments:
            torch.mm(rows[start:end], matrices[index], out=out[start:end])
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        rows, matrices = ctx.saved_tensors
        grad_rows = grad_matrices = None
        if ctx.needs_input_grad[0]:
            grad_rows = rows.new_empty(rows.shape)
            for index, start, end in ctx.segments:
                torch.mm(grad[start:end], matrices[index].t(), out=grad_rows[start:end])
        if ctx.needs_input_grad[1]:
            grad_matrices = matrices.new_zeros(matrices.shape)
            for index, start, end in ctx.segments:
                grad_matrices[index].addmm_(rows[start:end].t(), grad[start:end])  # summed if an index repeats
        return grad_rows, grad_matrices, None


def softmax_by_head(scores: torch.Tensor, heads: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """The softmax of the triples' scores [m] over each head's triples (KGAT's normalised attention)."""
    largest = torch.full((n_nodes,), float("-inf"), dtype=scores.dtype, device=scores.device)
    largest = largest.scatter_reduce(0, heads, scores.detach(), reduce="amax", include_self=True)
    weights = torch.exp(scores - largest[heads])
    totals = torch.zeros(n_nodes, dtype=scores.dtype, device=scores.device).index_add(0, heads, weights)
    return weights / totals[heads]


def ripple_sets(split: KnowledgeSplit, n_hop: int, n_memory: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """RippleNet's ripple sets: for each user, hop 1's triples are the KG triples whose head is an item of the
    user's train history, hop h's those whose head is a tail of hop h-1's; each hop keeps n_memory of them drawn
    uniformly (with replacement only when it has fewer). A hop with no triple repeats the previous hop; a user
    whose history reaches none gets the padding triple (0, 0, 0) n_memory times (RecBole's convention).
    Returns heads, relations, tails [n_users, n_hop, n_memory]."""
    triples = np.asarray(split.triples, dtype=np.int64).reshape(-1, 3)
    order = np.argsort(triples[:, 0], kind="stable")
    triples = triples[order]
    starts = np.searchsorted(triples[:, 0], np.arange(split.n_entities))
    ends = np.searchsorted(triples[:, 0], np.arange(split.n_entities), side="right")
    history: list[list[int]] = [[] for _ in range(split.n_users)]
    for user, item in np.asarray(split.train, dtype=np.int64).reshape(-1, 2):
        history[user].append(int(item))
    rng = np.random.default_rng(seed)
    sets = np.zeros((split.n_users, n_hop, n_memory, 3), dtype=np.int64)
    for user in range(split.n_users):
        seeds = np.unique(np.asarray(history[user], dtype=np.int64))
        for hop in range(n_hop):
            rows = np.concatenate([np.arange(starts[e], ends[e]) for e in seeds]) if len(seeds) else np.zeros(0, int)
            if len(rows) == 0:
                if hop > 0:
                    sets[user, hop] = sets[user, hop - 1]
                continue
            picked = triples[rows[rng.choice(len(rows), size=n_memory, replace=bool(len(rows) < n_memory))]]
            sets[user, hop] = picked
            seeds = np.unique(picked[:, 2])
    tensor = torch.as_tensor(sets)
    return tensor[..., 0], tensor[..., 1], tensor[..., 2]
