"""The fast paths the generated models train through compute exactly what the plain versions compute."""

import pytest
import torch
import torch.nn.functional as F

from paper_autotrain.runtime.knowledge import entity_lookup
from paper_autotrain.runtime.lookup import lookup
from paper_autotrain.runtime.losses import make_optimizer


def test_lookup_gives_embedding_rows_and_their_gradient_with_repeated_indices():
    torch.manual_seed(0)
    table = torch.randn(30, 5, requires_grad=True)
    index = torch.tensor([[1, 1, 4], [29, 0, 1]])  # row 1 three times: its gradient must be summed
    upstream = torch.randn(2, 3, 5)
    rows = lookup(table, index)
    assert torch.equal(rows, F.embedding(index, table))
    (rows * upstream).sum().backward()
    ours = table.grad.clone()
    table.grad = None
    (F.embedding(index, table) * upstream).sum().backward()
    assert torch.allclose(ours, table.grad, atol=1e-6)
    assert ours[1].abs().sum() > 0 and ours[2].abs().sum() == 0


def test_lookup_without_gradients_is_plain_embedding():
    table = torch.randn(4, 2)
    with torch.no_grad():
        assert torch.equal(lookup(table, torch.tensor([3, 0])), table[[3, 0]])


@pytest.mark.parametrize("name", ["adam", "sgd", "adagrad"])
def test_fused_optimisers_take_the_same_steps_as_the_plain_ones(name):
    torch.manual_seed(0)
    start = torch.randn(50, 8)
    weights = [torch.nn.Parameter(start.clone()) for _ in range(2)]
    fused = make_optimizer(name, [weights[0]], lr=0.01, weight_decay=1e-4)
    plain = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad}[name](
        [weights[1]], lr=0.01, weight_decay=1e-4)
    assert fused.defaults.get("fused") is True
    for step in range(5):
        target = torch.randn(50, 8, generator=torch.Generator().manual_seed(step))
        for weight, optimizer in zip(weights, (fused, plain), strict=True):
            optimizer.zero_grad()
            ((weight - target) ** 2).sum().backward()
            optimizer.step()
    assert not torch.equal(weights[0].detach(), start)
    assert torch.allclose(weights[0], weights[1], atol=1e-5)


def test_ddp_ranks_take_disjoint_equal_shares_of_the_same_epoch():
    import numpy as np

    from paper_autotrain.runtime.data import RankShard, TrainBatches

    train = np.array([[u, i] for u in range(30) for i in range(u % 7, u % 7 + 5)])
    def epoch_of(rank, world):
        batches = TrainBatches(train, n_items=20, batch_size=16, seed=4)  # 150 rows: 10 batches
        return list(RankShard(batches, rank=lambda: (rank, world)))
    whole = epoch_of(0, 1)
    assert len(whole) == 10
    shares = [epoch_of(rank, 3) for rank in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]  # equal steps on every rank; the 10th batch is left out
    for rank, share in enumerate(shares):
        for step, batch in enumerate(share):
            assert torch.equal(batch["users"], whole[rank + 3 * step]["users"])
    assert len(RankShard(TrainBatches(train, 20, 16), rank=lambda: (1, 3))) == 3


def test_entity_lookup_gives_the_joined_tables_rows_and_gradients():
    """CFKG's entity rows looked up in the item and other-entity tables apart: the values and both tables' gradients
    of indexing their concatenation, repeated entities and both sides of the boundary included."""
    torch.manual_seed(0)
    items, others = torch.randn(5, 3, requires_grad=True), torch.randn(7, 3, requires_grad=True)
    entities = torch.tensor([[0, 4, 5, 11], [4, 4, 6, 0]])
    upstream = torch.randn(2, 4, 3)
    rows = entity_lookup(items, others, entities)
    grads = torch.autograd.grad((rows * upstream).sum(), [items, others])
    joined = torch.cat([items, others])[entities]
    expected = torch.autograd.grad((joined * upstream).sum(), [items, others])
    assert torch.equal(rows, joined)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert grads[0][4].abs().sum() > 0 and grads[1][6].abs().sum() > 0 and grads[1][2].abs().sum() == 0
