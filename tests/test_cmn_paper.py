"""Collaborative Memory Network (Ebesu, Shen & Fang 2018; the set-B paper has no RecBole class), read from a fixture
paper that describes it in prose: the users who interacted with the item as memory slots, attended by the user and
the item over several hops, an output module over the user-item product and the neighbourhood state, BPR, memories
pre-trained as GMF. The block is checked against the paper's equations computed by hand on tiny tensors, the
full-ranking form against the per-pair form (values and gradients), and the rendered model trains. The fixture paper
is not a real paper."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
import yaml

from paper_autotrain.data.candidates import draw_candidates
from paper_autotrain.data.evaluator import full_sort_evaluate
from paper_autotrain.data.split import load_split
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.losses import OPTIMIZER_ARGS, OPTIMIZERS, make_optimizer
from paper_autotrain.runtime.memory import (
    every_item_hops,
    item_neighbourhoods,
    memory_hops,
    neighbourhood_entries,
    pair_chunks,
    pretrain_gmf,
)
from paper_autotrain.schemas import OPTIMIZER_SETTINGS
from paper_autotrain.stages import render
from paper_autotrain.stages.extract.hparams import (
    OPTIMIZER_SETTING_KEYS,
    find_hyperparameters,
    find_optimizer,
    optimizer_settings,
)
from paper_autotrain.stages.extract.text import Sentence
from paper_autotrain.stages.render import TRAINED_OPTIMIZERS
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import (
    passes_the_gates_and_trains,
    rendered,
    spec_of,
    with_block_params,
    with_values,
)
from tests.model_fixtures import adam_losses

MEMORY_PAPER = [
    ["Neighbourhood Memories for Implicit Feedback",
     "Abstract. Latent factor models capture the global structure of the ratings while neighbourhood methods capture "
     "a few strong local relations. We propose the Neighbourhood Memory Recommender (NMR), which joins the two with "
     "a memory network and neural attention.",
     "1 INTRODUCTION",
     "NAIS learns an attention network over the history items of a user; we instead attend over users."],
    ["3 NEIGHBOURHOOD MEMORY RECOMMENDER",
     "3.1 Memories",
     "Each user has a slot in a user memory matrix and each item a slot in an item memory matrix. For an item i, the "
     "neighbourhood N(i) is every user who has provided implicit feedback for item i, and the slots of these users "
     "are the neighbourhood memory the model reads.",
     "3.2 Neighbourhood Attention",
     "The similarity of the target user with each neighbour v is the inner product of the sum of the user and item "
     "memories with the neighbour's user memory, and the attention weights are the softmax of these similarities "
     "over N(i). The neighbourhood state is the sum of an external memory of each neighbour weighted by the "
     "attention weights.",
     "3.3 Output Module",
     "The score is a vector v times a ReLU of a projection of the element-wise product of the user and item "
     "memories plus a projection of the neighbourhood state plus a bias.",
     "3.4 Multiple Hops",
     "Several hops are stacked: between hops the query is updated by a ReLU of a square matrix times the previous "
     "query plus the neighbourhood state and a bias, and the memories are shared by every hop.",
     "3.5 Training",
     "We leverage the Bayesian Personalized Ranking (BPR) criterion as our loss function over triples of a user, an "
     "observed item and a sampled unobserved item."],
    ["4 EXPERIMENTS",
     "The user and item memories are initialized from a pretrained generalized matrix factorization model. The "
     "gradient is clipped if the norm exceeds 5; the number of negative samples is set to 4; the mini-batch size is "
     "set to 64 for Epinions and 32 for Pinterest. We adopt the RMSProp optimizer with a learning rate of "
     "0.002 and 0.9 for both decay and momentum. The default number of hops is set to 3 and the memory or "
     "embedding size d is set to 8."],
]


@pytest.fixture(scope="module")
def memory_spec(tmp_path_factory: pytest.TempPathFactory):
    return spec_of(tmp_path_factory.mktemp("paper"), MEMORY_PAPER)


def test_the_paper_is_read_into_the_collaborative_memory(memory_spec):
    spec = memory_spec
    assert (spec.family, spec.task, spec.loss) == ("general", "topk", "bpr")
    assert [block.block for block in spec.architecture] == ["collaborative_memory"]
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["memory network (external memory, attention hops)"] == "collaborative_memory"
    assert built["attention network over pairwise interactions"] == "collaborative_memory"
    assert spec.reference is None and composition_class("general", ["collaborative_memory"], "bpr") is None
    values = {key: spec.hp(key) for key in ("n_hop", "embedding_size", "grad_clip", "negative_samples",
                                            "learning_rate", "optimizer")}
    assert values == {"n_hop": 3, "embedding_size": 8, "grad_clip": 5.0, "negative_samples": 4,
                      "learning_rate": 0.002, "optimizer": "rmsprop"}
    # the optimiser's own decay and momentum are read with their quote, and reach the optimiser the run builds
    for key in ("rmsprop_decay", "momentum"):
        stated = spec.hyperparameters[key]
        assert (stated.value, stated.source) == (0.9, "paper") and "0.9 for both decay and momentum" in stated.evidence
    assert not any("own parameters" in note for note in spec.unclear)
    optim = yaml.safe_load(render.run(spec, {})["config.yaml"])["optim"]
    assert optim["optimizer_settings"] == {"rmsprop_decay": 0.9, "momentum": 0.9}
    built = make_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(2))], 0.002, 0.0, optim["optimizer_settings"])
    assert isinstance(built, torch.optim.RMSprop)
    assert (built.defaults["alpha"], built.defaults["momentum"]) == (0.9, 0.9)
    # the batch size is per dataset, the clipping and the negatives in the same sentence are not
    per_dataset = [note for note in spec.unclear if "differs by dataset" in note]
    assert [note.split()[0] for note in per_dataset] == ["batch_size"]


def test_render_accepts_the_optimisers_the_runtime_builds():
    assert set(TRAINED_OPTIMIZERS) == set(OPTIMIZERS) and "rmsprop" in TRAINED_OPTIMIZERS


def _sentences(*texts: str) -> list[Sentence]:
    return [Sentence(page=7, text=text, order=order, where="p7") for order, text in enumerate(texts)]


def test_reading_rules_for_clipping_and_unread_optimizer_settings():
    found, notes = find_hyperparameters(_sentences("Gradients were clipped at a norm of 10 during training."), "X")
    assert found["grad_clip"].value == 10.0 and not notes
    sentences = _sentences("We train with SGD and a momentum of 0.9.")
    optimizer, notes = find_optimizer(sentences, "X")
    assert optimizer.value == "sgd" and notes == []
    settings, notes = optimizer_settings(sentences, "sgd")
    assert {key: hp.value for key, hp in settings.items()} == {"momentum": 0.9} and notes == []
    # Adam's betas and epsilon; a beta alone keeps torch's other one
    settings, _ = optimizer_settings(_sentences("We use Adam with β1 = 0.5 and ε = 10−9."), "adam")
    assert {key: hp.value for key, hp in settings.items()} == {"adam_beta1": 0.5, "adam_eps": 1e-9}
    adam = make_optimizer("adam", [torch.nn.Parameter(torch.zeros(2))], 0.001, 0.0,
                          {key: hp.value for key, hp in settings.items()})
    assert adam.defaults["betas"] == (0.5, 0.999) and adam.defaults["eps"] == 1e-9
    # a setting the optimiser has no parameter for stays a note (SGD has no decay rate)
    settings, notes = optimizer_settings(_sentences("We use SGD with a decay of 0.9."), "sgd")
    assert settings == {} and "sgd's own parameters" in notes[0]
    assert all(set(keys.values()) <= set(OPTIMIZER_SETTINGS[name]) for name, keys in OPTIMIZER_SETTING_KEYS.items())
    assert all(set(OPTIMIZER_ARGS[name]) == set(keys) for name, keys in OPTIMIZER_SETTINGS.items())
    # momentum named without a value, and an L2 weight decay, are not the optimiser's settings
    optimizer, notes = find_optimizer(_sentences("We use Adam, which keeps momentum information for each weight, "
                                                 "and a weight decay of 0.0001."), "X")
    assert optimizer.value == "adam" and notes == []


def _tiny_tables(n_users: int, n_items: int, d: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=generator, dtype=torch.float64, requires_grad=True)
            for n in (n_users, n_items, n_users)]


TINY_TRAIN = np.array([[0, 0], [1, 0], [2, 1], [0, 2], [1, 2], [2, 2], [3, 1], [3, 2]])  # item 3: nobody


def _by_hand(user: int, item: int, m, e, c, layers, exclude_self: bool = False) -> torch.Tensor:
    """o^H of (user, item) from Eqs. 1-3, 5 and 6, one neighbour at a time."""
    neighbourhood = [int(v) for v, i in TINY_TRAIN if i == item and not (exclude_self and v == user)]
    query = m[user] + e[item]  # z^0
    state = torch.zeros_like(query)
    for hop in range(len(layers) + 1):
        if hop:
            weight, bias = layers[hop - 1].weight, layers[hop - 1].bias
            query = torch.relu(weight @ query + state + bias)  # Eq. 5
        logits = [query @ m[v] for v in neighbourhood]  # Eq. 1 (z^0 = m_u + e_i), Eq. 6
        total = sum(math.exp(float(x.detach())) for x in logits)
        state = sum((torch.exp(x) / total * c[v] for x, v in zip(logits, neighbourhood, strict=True)),
                    torch.zeros_like(query))  # Eqs. 2-3
    return state


def test_the_hops_are_the_papers_equations_by_hand():
    m, e, c = _tiny_tables(4, 4, 3)
    layers = [torch.nn.Linear(3, 3).double() for _ in range(2)]
    ptr, neighbours = item_neighbourhoods(TINY_TRAIN, 4)
    users, items = torch.tensor([0, 1, 3, 2, 0]), torch.tensor([0, 2, 1, 3, 2])
    for exclude_self in (False, True):
        pair, neighbour = neighbourhood_entries(ptr, neighbours, items, users if exclude_self else None)
        got = memory_hops(m[users], e[items], pair, neighbour, m, c, layers)
        for row, (user, item) in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
            torch.testing.assert_close(got[row], _by_hand(user, item, m, e, c, layers, exclude_self))
    assert got[3].abs().sum() == 0  # item 3 has no neighbourhood: o = 0


@pytest.mark.parametrize("dense", [True, False])
def test_full_ranking_form_equals_the_per_pair_form(dense):
    """every_item_hops (each N(i) read once for all users; a later hop's logits dense or gathered) against
    memory_hops over every (user, item) pair: the same values and gradients."""
    m, e, c = _tiny_tables(4, 4, 3)
    layers = torch.nn.ModuleList(torch.nn.Linear(3, 3).double() for _ in range(2))
    ptr, neighbours = item_neighbourhoods(TINY_TRAIN, 4)
    users = torch.tensor([2, 0, 3])
    fast = every_item_hops(m[users], e, ptr, neighbours, m, c, layers, dense=dense)
    pair_users, pair_items = users.repeat_interleave(4), torch.arange(4).repeat(3)
    pair, neighbour = neighbourhood_entries(ptr, neighbours, pair_items)
    slow = memory_hops(m[pair_users], e[pair_items], pair, neighbour, m, c, layers).view(3, 4, 3)
    torch.testing.assert_close(fast, slow)
    weights = torch.randn(3, 4, 3, dtype=torch.float64)
    parameters = [m, e, c, *layers.parameters()]
    for got, expected in zip(torch.autograd.grad((fast * weights).sum(), parameters),
                             torch.autograd.grad((slow * weights).sum(), parameters), strict=True):
        torch.testing.assert_close(got, expected)


def _model(spec, split_info, folder, pretrain_epochs=0, **values):
    spec = with_values(spec, embedding_size=4, **values)
    spec = with_block_params(spec, "collaborative_memory", pretrain_epochs=pretrain_epochs)
    model_folder = rendered(spec, folder)
    return build_model(model_folder, load_config(model_folder), load_split(split_info.path))


def test_the_score_is_eq_4_and_full_ranking_agrees(memory_spec, split_info, tmp_path):
    model = _model(memory_spec, split_info, tmp_path / "model", n_hop=2)
    users, items = torch.tensor([0, 3, 5]), torch.tensor([1, 7, 2])
    with torch.no_grad():
        pair, neighbour = neighbourhood_entries(model.neighbour_ptr, model.neighbour_users, items)
        m_u, e_i = model.user_memory(users), model.item_memory(items)
        state = memory_hops(m_u, e_i, pair, neighbour, model.user_memory.weight, model.external_memory.weight,
                            model.hop_layers)
        u, w, b = model.output_user_item.weight, model.output_neighbourhood.weight, model.output_neighbourhood.bias
        expected = torch.relu((m_u * e_i) @ u.T + state @ w.T + b) @ model.output_vector.weight[0]  # Eq. 4
        torch.testing.assert_close(model.score(users, items), expected)
        ranked = model.full_sort_scores(users)
        torch.testing.assert_close(ranked[torch.arange(3), items], expected)
        every = torch.arange(model.n_items)
        torch.testing.assert_close(ranked[1], model.score(torch.full_like(every, 3), every))


def test_sampled_ranking_scores_the_candidates_alone_with_the_full_sorts_metrics(memory_spec, split_info, tmp_path):
    model = _model(memory_spec, split_info, tmp_path / "model", n_hop=2)
    model.candidates = draw_candidates(model.split, 5, seed=0)
    assert model.pair_cost() == 2.0  # the block states it: 6 candidates x 2 < 60 items, scored alone
    for phase in ("valid", "test"):
        with model.eval_mode():
            full = full_sort_evaluate(model.full_sort_scores, model.split, phase, ks=model.ks,
                                      candidates=model.candidates)
        model.full_sort_with = lambda *args: pytest.fail("the candidates' path calls no full sort")
        alone = model.evaluate(phase)
        del model.full_sort_with
        assert 0.0 < full.mean["ndcg@10"] < 1.0
        for name, values in full.per_user.items():
            np.testing.assert_array_equal(alone.per_user[name], values, err_msg=f"{phase} {name}")


def test_scoring_in_chunks_of_neighbourhood_entries_gives_the_pairs_scores(memory_spec, split_info, tmp_path,
                                                                            monkeypatch):
    model = _model(memory_spec, split_info, tmp_path / "model", n_hop=2)
    users, items = torch.arange(40).repeat_interleave(5), torch.arange(200) % 60
    chunks = pair_chunks(model.neighbour_ptr, items, entries=50)
    sizes = [int((model.neighbour_ptr[items[part] + 1] - model.neighbour_ptr[items[part]]).sum()) for part in chunks]
    assert [part.start for part in chunks[1:]] == [part.stop for part in chunks[:-1]] and chunks[-1].stop == 200
    assert len(chunks) > 5 and all(size <= 50 + 49 for size in sizes)  # about 50 entries each (items hold < 50)
    whole = model.score(users, items).detach()  # with gradients: one pass over every pair
    generated = sys.modules[type(model).__module__]
    monkeypatch.setattr(generated, "pair_chunks", lambda indptr, items: pair_chunks(indptr, items, entries=50))
    with torch.no_grad():
        torch.testing.assert_close(model.score(users, items), whole)
    assert pair_chunks(model.neighbour_ptr, items[:0]) == [slice(0, 0)]


def test_weight_decay_spares_the_memories_and_the_gradient_is_clipped(memory_spec, split_info, tmp_path):
    model = _model(memory_spec, split_info, tmp_path / "model", l2_reg=0.5)
    layers = [*model.hop_layers, model.output_user_item, model.output_neighbourhood, model.output_vector]
    assert len(model.hop_layers) == 2  # 3 hops read from the paper
    expected = sum(float(layer.weight.detach().pow(2).sum()) for layer in layers) / 2
    assert float(model.decayed_weights_penalty().detach()) == pytest.approx(expected)
    penalty_grads = torch.autograd.grad(model.decayed_weights_penalty(),
                                        [model.user_memory.weight, model.output_neighbourhood.bias], allow_unused=True)
    assert all(grad is None for grad in penalty_grads)  # not the memories, not the biases
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, 10.0)
    model.on_before_optimizer_step(None)
    total = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm()
    assert float(total) == pytest.approx(5.0, rel=1e-5)  # clipped at the paper's norm


def test_pretraining_fits_gmf_into_the_memories_once(split_info):
    split = load_split(split_info.path)
    torch.manual_seed(0)
    users, items = torch.nn.Embedding(split.n_users, 4), torch.nn.Embedding(split.n_items, 4)
    before = users.weight.detach().clone()
    losses = pretrain_gmf(split.train, users, items, epochs=6, learning_rate=0.05, batch_size=64, negative_samples=2)
    assert len(losses) == 6 and losses[-1] < losses[0] and not torch.equal(before, users.weight)


def test_the_model_pretrains_at_fit_start_then_trains(memory_spec, split_info, tmp_path):
    model = _model(memory_spec, split_info, tmp_path / "model", pretrain_epochs=1)
    assert not bool(model.memories_pretrained)
    before = model.item_memory.weight.detach().clone()
    model.on_fit_start()
    assert bool(model.memories_pretrained) and not torch.equal(before, model.item_memory.weight)
    pretrained = model.item_memory.weight.detach().clone()
    model.on_fit_start()  # once: a resumed fit keeps its memories
    assert torch.equal(pretrained, model.item_memory.weight)
    split = load_split(split_info.path)
    train = torch.as_tensor(split.train)[:128]
    batch = {"users": train[:, 0], "pos_items": train[:, 1],
             "neg_items": torch.randint(0, split.n_items, (len(train), 4), generator=torch.Generator().manual_seed(0))}
    torch.manual_seed(0)
    losses = adam_losses(model, batch, steps=15, lr=0.01)
    assert all(math.isfinite(x) for x in losses) and sum(losses[-3:]) < sum(losses[:3])


def test_leaving_the_pairs_own_user_out_of_n_i(memory_spec, split_info, tmp_path):
    spec = with_block_params(memory_spec, "collaborative_memory", neighbourhood="others")
    model = _model(spec, split_info, tmp_path / "model")
    split = load_split(split_info.path)
    user, item = (int(x) for x in split.train[0])
    with torch.no_grad():
        pair, neighbour = neighbourhood_entries(model.neighbour_ptr, model.neighbour_users, torch.tensor([item]),
                                                torch.tensor([user]))
        others = set(split.train[split.train[:, 1] == item, 0].tolist()) - {user}
        assert sorted(neighbour.tolist()) == sorted(others) and len(pair) == len(others)


@pytest.mark.slow
def test_the_gates_pass_and_it_trains(memory_spec, split_info, tmp_path):
    spec = with_block_params(with_values(memory_spec, embedding_size=8, batch_size=256), "collaborative_memory",
                             pretrain_epochs=1)
    passes_the_gates_and_trains(spec, split_info, tmp_path)
