"""YouTube DNN's candidate generation network (the set-B paper has no RecBole class), read from a fixture paper that
describes it in prose: the averaged bag of watched items through a ReLU tower to the user vector u, scored by v_i . u
and trained with a sampled softmax (log-Q corrected). The paper's search tokens, geography, device, demographics and
example age are inputs it adds to the model and compares as feature sets: a listed deviation. The sampled softmax
equals the full softmax cross entropy when every item is drawn (values and gradients), the tower is its formula on
tiny tensors and the rendered model trains. The fixture paper is not a real paper."""

from __future__ import annotations

import math

import pytest
import torch

from paper_autotrain.data.split import load_split
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.losses import sampled_softmax_loss
from paper_autotrain.stages import render
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import rendered, spec_of, with_block_params, with_values
from tests.model_fixtures import adam_losses, train_pair_batch

CANDIDATE_PAPER = [
    ["Deep Candidate Networks for Video Recommendations",
     "Abstract. We describe a deep neural network that retrieves a few hundred videos from a large corpus for each "
     "user. We propose the Deep Candidate Generator (DeepCG), a deep collaborative filtering model.",
     "1 INTRODUCTION",
     "Matrix factorization has been the dominant approach to recommendation; we generalize it with a deep network."],
    ["2 DEEP CANDIDATE NETWORK",
     "2.1 Recommendation as Classification",
     "We pose recommendation as extreme multiclass classification: the network learns user embeddings u from the "
     "user's history, and the probability that the next watch is video i is a softmax over the corpus of the inner "
     "product of u and the video embedding v_i.",
     "To train efficiently with millions of classes we use a sampled softmax: negative classes are drawn from a "
     "background distribution and corrected via importance weighting, and a cross-entropy loss is minimized on the "
     "output of the sampled softmax.",
     "2.2 Model Architecture",
     "Each watched video is embedded, and simply averaging the embeddings of the watch history performed best. "
     "Demographic features and search query tokens can be added to the model as further inputs, and the example "
     "age of each training example is fed as a feature. The concatenated vector goes through fully connected "
     "layers of rectified linear units."],
    ["3 EXPERIMENTS",
     "We use a maximum bag size of 8 recent watches. Videos are embedded with 16 floats each. A 32-wide ReLU "
     "followed by a 16-wide ReLU gave us the best results. Figure 3 reports the MAP of each depth."],
]


def test_the_paper_is_read_into_the_tower_and_its_sampled_softmax(tmp_path):
    spec = spec_of(tmp_path, CANDIDATE_PAPER)
    assert (spec.family, spec.task, spec.loss) == ("general", "topk", "other")
    assert [block.block for block in spec.architecture] == ["candidate_tower", "dot_score"]
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    for name in ("sampled softmax loss over the item catalogue", "averaged bag of history embeddings",
                 "multi-layer perceptron", "the paper's training loss (the candidate_tower block's own)"):
        assert built[name] == "candidate_tower", name
    # the inputs the data cannot give stay named: a deviation, with what our tower reads instead
    assert [d.component for d in spec.fidelity.deviations] == [
        "search-query tokens, geography, device, demographics and the example age as inputs"]
    assert spec.reference is None and composition_class("general", ["candidate_tower", "dot_score"], "other") is None
    assert render.trained_loss(spec) == "sampled_softmax"
    assert spec.hp("mlp_layers") == [32, 16] and spec.hp("max_seq_length") == 8 and spec.hp("embedding_size") == 16


def test_without_the_extra_inputs_no_deviation_is_listed(tmp_path):
    pages = [[text.replace("Demographic features and search query tokens can be added to the model as further inputs, "
                           "and the example age of each training example is fed as a feature. ", "")
              for text in page] for page in CANDIDATE_PAPER]
    spec = spec_of(tmp_path, pages)
    assert spec.fidelity.verdict == "faithful" and not spec.fidelity.deviations


def test_sampled_softmax_over_every_item_is_the_full_softmax_cross_entropy():
    """Q uniform, every item drawn once: the positive's draw is dropped as an accidental hit and log Q is a constant,
    so the loss is -log softmax(s)_pos over the whole catalogue, in value and gradient."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 7, generator=generator, requires_grad=True)
    positives = torch.tensor([0, 3, 6, 2])
    drawn = torch.arange(7)
    log_q = torch.full((7,), -math.log(7))
    got = sampled_softmax_loss(scores.gather(1, positives[:, None]).squeeze(1), scores[:, drawn], log_q[positives],
                               log_q[drawn], drawn[None, :] == positives[:, None])
    expected = torch.nn.functional.cross_entropy(scores, positives)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(torch.autograd.grad(got, scores)[0], torch.autograd.grad(expected, scores)[0])


def test_the_log_q_correction_on_a_hand_example():
    # one row: positive logit 1 with Q 0.5, negatives 2 (Q 0.25) and 0 (Q 0.25)
    # corrected logits: 1 - log 0.5, 2 - log 0.25, 0 - log 0.25; the loss is logsumexp of them minus the first
    pos, neg = torch.tensor([1.0]), torch.tensor([[2.0, 0.0]])
    q_pos, q_neg = torch.tensor([0.5]), torch.tensor([0.25, 0.25])
    logits = [1 - math.log(0.5), 2 - math.log(0.25), 0 - math.log(0.25)]
    expected = math.log(sum(math.exp(x) for x in logits)) - logits[0]
    assert sampled_softmax_loss(pos, neg, q_pos.log(), q_neg.log()).item() == pytest.approx(expected, rel=1e-6)
    # a draw of the positive itself is dropped
    dropped = sampled_softmax_loss(pos, neg, q_pos.log(), q_neg.log(), torch.tensor([[True, False]]))
    assert dropped.item() == pytest.approx(math.log(math.exp(logits[0]) + math.exp(logits[2])) - logits[0], rel=1e-6)


def _model(spec, split_info, folder):
    model_folder = rendered(spec, folder)
    return build_model(model_folder, load_config(model_folder), load_split(split_info.path))


def test_the_user_vector_is_the_relu_tower_over_the_bag_mean(split_info, tmp_path):
    spec = spec_of(tmp_path / "paper", CANDIDATE_PAPER)
    model = _model(spec, split_info, tmp_path / "model")
    assert not hasattr(model, "user_embedding")  # a user is its bag: no user ID embedding
    users = torch.tensor([0, 3, 5])
    with torch.no_grad():
        got = model.user_vectors(users)
        (w1, b1), (w2, b2) = [(layer.weight, layer.bias) for layer in model.user_tower if hasattr(layer, "weight")]
        for row, user in zip(got, users.tolist(), strict=True):
            items = model.watch_history[user][model.watch_mask[user]]
            assert 0 < len(items) <= 8
            bag = model.item_embedding.weight[items].mean(0)
            expected = torch.relu(w2 @ torch.relu(w1 @ bag + b1) + b2)
            torch.testing.assert_close(row, expected)
            # while training, the row's target leaves the bag
            target = items[:1]
            rest = items[items != target]
            held = model.user_vectors(torch.tensor([user]), target)[0]
            bag = model.item_embedding.weight[rest].mean(0) if len(rest) else torch.zeros_like(bag)
            torch.testing.assert_close(held, torch.relu(w2 @ torch.relu(w1 @ bag + b1) + b2))
        scores = model.full_sort_scores(users)
        torch.testing.assert_close(scores, got @ model.output_embedding.weight.T)


def test_the_rendered_model_trains_a_few_steps(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", CANDIDATE_PAPER), sampled_negatives=20)
    spec = with_block_params(spec, "candidate_tower", sampler="uniform")
    model = _model(spec, split_info, tmp_path / "model")
    assert torch.allclose(model.log_proposal, torch.full((model.n_items,), -math.log(model.n_items)))
    batch = train_pair_batch(split_info.path, negatives=1)
    torch.manual_seed(0)
    losses = adam_losses(model, batch, steps=15, lr=0.01)
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) < sum(losses[:3])
