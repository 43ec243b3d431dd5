"""What the knowledge-aware blocks share: sampled KG triples with corrupted tails, and sampled KG neighbourhoods.

The split's entities 0..n_items-1 are its items (data/knowledge.py), so an item's entity row is its item index.
"""

from __future__ import annotations

import numpy as np
import torch

from paper_autotrain.data.knowledge import KnowledgeSplit


def corrupted_triples(triples: torch.Tensor, count: int, n_entities: int) -> tuple[torch.Tensor, ...]:
    """`count` triples drawn uniformly from the KG [m, 3], each with a uniformly drawn tail as its corrupted one:
    (heads, relations, tails, corrupted tails)."""
    rows = triples[torch.randint(len(triples), (count,), device=triples.device)]
    corrupted = torch.randint(n_entities, (count,), device=triples.device)
    return rows[:, 0], rows[:, 1], rows[:, 2], corrupted


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
