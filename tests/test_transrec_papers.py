"""TransRec (He, Kang and McAuley, 2017) read from a fixture paper that describes it in prose: items are points of a
translation space, a user a translation vector T_u = t + t_u, and the next item after the previous item i scores
beta_j - d(gamma_i + T_u, gamma_j). The paper is read into `transrec_score`, comes out `faithful` with RecBole's
TransRec as the reference, renders, passes validate's gates and trains; the block equals the paper's equation by
hand and keeps the item points in the unit ball; a paper whose users are not translations (FPMC's factorised chain)
is not read as TransRec. The fixture paper is written the way papers describe their methods; it is no real paper."""

from __future__ import annotations

import pytest
import torch

from paper_autotrain.data.sequential import load_sequences
from paper_autotrain.errors import StageError
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.stages import render, validate
from paper_autotrain.stages import train as train_stage
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import rendered, spec_of, with_settings, with_values
from tests.recbole_stub import RecBoleStub, pairwise_batch, shuffled_ids

TRANSREC_PAPER = [
    ["Translation-based Recommendation",
     "Abstract. Modeling the complex interactions between users and items as well as amongst items themselves is at "
     "the core of designing successful sequential recommender systems. We propose TransRec, a translation-based "
     "recommendation model that captures the personalized sequential behaviour of users with a single component: "
     "items are embedded as points in a transition space, and each user is represented as a translation vector "
     "that operates on the item sequences.",
     "1 INTRODUCTION",
     "Existing methods model the user's long-term preference and the sequential dynamics with separate components "
     "whose interactions are hard to learn from sparse data."],
    ["3 THE TRANSREC MODEL",
     "3.1 Translation Space",
     "Each item i is a point gamma_i in a latent transition space Phi of K dimensions. Each user u is a translation "
     "vector T_u = t + t_u, where t is a global translation vector shared by all users and t_u is a user-specific "
     "offset. The user's next item j is reached from the previous item i by the translation: "
     "gamma_i + T_u is close to gamma_j.",
     "3.2 Scoring",
     "The probability that user u transitions from the previous item i to the next item j is "
     "prob(j | u, i) proportional to beta_j - d(gamma_i + T_u, gamma_j), where beta_j is a bias term for each item "
     "that captures its overall popularity, and d is the squared L2 distance. To avoid the curse of dimensionality, "
     "the item points are kept within the unit ball: after each update, an item vector whose norm exceeds 1 is "
     "renormalised.",
     "3.3 Learning",
     "We optimise the sequential Bayesian personalized ranking criterion (S-BPR): for each observed next item j and "
     "a uniformly sampled negative item j', the model maximises ln sigmoid(p(u, i, j) - p(u, i, j')) with L2 "
     "regularization, learned by stochastic gradient ascent."],
    ["4 EXPERIMENTS",
     "We use the Amazon, Epinions and Foursquare datasets and report AUC and Hit@50. Table 2 reports the results.",
     "Settings. The number of dimensions K is 64. We use the Adam optimizer with a learning rate of 0.001 and the "
     "L2 regularization coefficient is 0.0001."],
]

PAPERS = {"TransRec": (TRANSREC_PAPER, ["transrec_score"], "bpr")}  # scripts/session_parity.py runs them

# users as translation vectors but no translation of the previous item: a metric model of users and items
METRIC_PAPER = [
    ["Distance-based Next-Item Recommendation",
     "Abstract. We recommend the next item of a user's sequence by distances between users and items in a metric "
     "space.",
     "1 INTRODUCTION",
     "Inner products violate the triangle inequality, which distances keep."],
    ["2 METHOD",
     "2.1 Model",
     "Each user and each item is a point in a latent space of K dimensions, and the score of item j for user u is "
     "minus the Euclidean distance between the user's point and the item's point. The points are kept within the "
     "unit ball.",
     "2.2 Learning",
     "We optimise the Bayesian personalized ranking criterion over uniformly sampled negative items."],
    ["3 EXPERIMENTS",
     "We use the Amazon dataset for sequential recommendation and report Hit@10. Table 2 reports the results.",
     "Settings. The embedding size is 64."],
]


def small(spec, **values):
    return with_values(spec, **{"batch_size": 64, "embedding_size": 8, "max_seq_length": 10, **values})


def test_the_paper_is_read_into_transrec_and_is_faithful_with_recboles_transrec_as_reference(tmp_path):
    spec = spec_of(tmp_path, TRANSREC_PAPER)
    assert (spec.family, spec.task, spec.trained_loss, spec.model_name) == ("sequential", "topk", "bpr", "TransRec")
    assert [block.block for block in spec.architecture] == ["transrec_score"]
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == "TransRec" == composition_class("sequential", ["transrec_score"], "bpr")
    assert not spec.custom
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["personalised translation of the previous item to the next (item points, a user translation "
                 "vector)"] == "transrec_score"
    assert built["vectors bounded by the unit ball (norm clipping after each update)"] == "transrec_score"
    name, overrides, notes = reference_with_notes(spec)
    assert name == "TransRec" and overrides["embedding_size"] == 64 and overrides["loss_type"] == "BPR"
    assert overrides["train_neg_sample_args"] == {"distribution": "uniform", "sample_num": 1}
    assert any("L2 distance" in note for note in notes) and any("unit ball" in note for note in notes)


def test_a_metric_paper_without_the_translation_of_the_previous_item_is_not_read_as_transrec(tmp_path):
    spec = spec_of(tmp_path, METRIC_PAPER)
    assert "transrec_score" not in [block.block for block in spec.architecture]
    assert spec.reference != "TransRec"


HISTORIES = torch.tensor([[3, 5, 2, 0], [7, 0, 0, 0]])
LENGTHS = torch.tensor([3, 1])
USERS = torch.tensor([4, 9])


def test_the_score_is_the_item_bias_minus_the_squared_distance_from_the_translated_previous_item(sequences,
                                                                                                 tmp_path):
    folder = rendered(small(spec_of(tmp_path / "paper", TRANSREC_PAPER)), tmp_path / "model")
    split = load_sequences(sequences.path)
    model = build_model(folder, load_config(folder), split).eval()
    with torch.no_grad():
        model.global_translation.normal_()
        model.item_bias.normal_()
        scores = model.full_sort_scores(HISTORIES, LENGTHS, USERS)
        gamma, t, t_u, beta = (model.item_point.weight, model.global_translation, model.user_translation.weight,
                               model.item_bias)
        for row, previous in ((0, 2), (1, 7)):
            user = int(USERS[row])
            for item in (1, 4, split.n_items):
                by_hand = beta[item] - ((gamma[previous] + t + t_u[user] - gamma[item]) ** 2).sum()
                assert float(scores[row, item]) == pytest.approx(float(by_hand), abs=1e-4)
        # the item points start in the unit ball and are put back there after a step
        assert float(gamma.norm(dim=-1).max()) <= 1.0 + 1e-6
        gamma.mul_(5.0)
        model.on_train_batch_end(None, None, 0)
        norms = model.item_point.weight.norm(dim=-1)
        assert float(norms.max()) <= 1.0 + 1e-6 and float(norms[1:].min()) > 0.99


@pytest.mark.slow
def test_transrec_from_the_paper_passes_the_gates_and_trains(sequences, tmp_path):
    folder = rendered(small(spec_of(tmp_path / "paper", TRANSREC_PAPER)), tmp_path / "model")
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    result = train_stage.run(folder, sequences, {"max_epochs": 2, "seed": 0, "timeout_s": 300}, tmp_path / "out")
    assert result.status == "ok" and result.epochs_run == 2
    assert 0.0 <= result.test["ndcg@10"] <= 1.0


def test_recboles_choices_score_the_plain_distance_and_leave_the_item_points_free(sequences, tmp_path):
    """distance l2 + unit_ball false (RecBole's TransRec): beta_j - ||gamma_i + t + t_u - gamma_j|| in the full
    ranking and in the S-BPR loss's pairs, and no renormalisation after a step; the defaults stay the paper's."""
    spec = spec_of(tmp_path / "paper", TRANSREC_PAPER)
    config = render.run(small(spec), {})["config.yaml"]
    assert 'distance: "squared"' in config and "unit_ball: true" in config
    folder = rendered(small(spec, distance="l2", unit_ball=False), tmp_path / "model")
    split = load_sequences(sequences.path)
    model = build_model(folder, load_config(folder), split)
    with torch.no_grad():
        model.global_translation.normal_()
        model.item_bias.normal_()
        model.item_point.weight.mul_(5.0)  # outside the unit ball: left there
    gamma, t, t_u, beta = (model.item_point.weight, model.global_translation, model.user_translation.weight,
                           model.item_bias)
    query = gamma[torch.tensor([2, 7])] + t + t_u[USERS]
    by_hand = beta - ((query[:, None, :] - gamma[None]) ** 2).sum(-1).sqrt()  # [2, n_items + 1]
    torch.testing.assert_close(model.full_sort_scores(HISTORIES, LENGTHS, USERS), by_hand, rtol=1e-4, atol=1e-4)
    targets, negatives = torch.tensor([4, 1]), torch.tensor([[6, 3], [2, 5]])
    batch = {"histories": HISTORIES, "lengths": LENGTHS, "users": USERS, "targets": targets, "neg_items": negatives}
    pos, neg = by_hand.gather(1, targets[:, None]), by_hand.gather(1, negatives)
    torch.testing.assert_close(model.loss(batch), -torch.nn.functional.logsigmoid(pos - neg).mean())
    norms = model.item_point.weight.norm(dim=-1).detach().clone()
    model.on_train_batch_end(None, None, 0)
    assert float(norms.max()) > 1.5 and torch.equal(model.item_point.weight.norm(dim=-1), norms)


def recboles_transrec_in_our_layout(model, theirs, users, items, of=lambda tensor: tensor):
    """(our parameter, `of` RecBole's TransRec's matching tensor with its rows moved to ours) for every parameter;
    `users`, `items`: RecBole's id of each of our users and items (the probe's copy, scripts/recbole_order_probe.py)."""
    yield model.item_point.weight, of(theirs.item_embedding.weight)[items]  # gamma_i
    yield model.user_translation.weight, of(theirs.user_embedding.weight)[users]  # t_u
    yield model.global_translation, of(theirs.T)  # t
    yield model.item_bias, of(theirs.bias.weight)[items, 0]  # beta_j


RECBOLES_WORDS = {"distance": "l2", "unit_ball": False}  # with translation_penalty l1: RecBole's TransRec


@pytest.mark.parametrize("penalty", ["l1", "none"])
def test_recboles_three_words_are_recboles_transrec_module_and_without_its_penalty_t_lacks_sign_t(penalty, sequences,
                                                                                                   tmp_path):
    """With RecBole's three words (distance l2, unit_ball false, translation_penalty l1) and its weights copied in (its
    users and items numbered its own way), the full ranking equals RecBole's TransRec's, the loss is its S-BPR on the
    same negatives plus sum_k |t_k| (RecBole's RegLoss(T); its other norms are of detached embeddings, no gradient),
    and every gradient equals RecBole's, t's included. Without the penalty (the paper's none) the loss is the S-BPR
    alone and t's gradient lacks exactly RecBole's sign(t)."""
    from recbole.data.interaction import Interaction
    from recbole.model.sequential_recommender.transrec import TransRec

    spec = small(spec_of(tmp_path / "paper", TRANSREC_PAPER), **RECBOLES_WORDS)
    folder = rendered(with_settings(spec, [("transrec_score.translation_penalty", penalty)]), tmp_path / "model")
    split = load_sequences(sequences.path)
    model = build_model(folder, load_config(folder), split)
    stub = RecBoleStub(split.n_items, 4, embedding_size=8, loss_type="BPR")
    stub.user_num = split.n_users + 1  # its padding user first
    theirs = TransRec(stub.config, stub)
    users, items = shuffled_ids(split.n_users, split.n_items)
    with torch.no_grad():
        theirs.T.normal_()  # zeros at the start: drawn, so that a wrong copy of t (or a penalty's sign) shows
        for mine, their in recboles_transrec_in_our_layout(model, theirs, users, items):
            mine.copy_(their)
    batch, interaction = pairwise_batch(users, items)
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_scores(batch["histories"], batch["lengths"], batch["users"]),
                                   theirs.full_sort_predict(interaction)[:, items], rtol=1e-5, atol=1e-5)
    ours_loss, their_loss = model.loss(batch), theirs.calculate_loss(interaction)
    with torch.no_grad():  # its S-BPR alone, from its own scores of the targets and the negatives
        negatives = Interaction({**interaction.interaction, "item_id": interaction["neg_item_id"]})
        their_bpr = theirs.bpr_loss(theirs.predict(interaction), theirs.predict(negatives))
        t_norm = theirs.T.abs().sum()
    torch.testing.assert_close(ours_loss, their_bpr + (t_norm if penalty == "l1" else 0.0))
    (ours_loss + their_loss).sum().backward()
    for mine, their_grad in recboles_transrec_in_our_layout(model, theirs, users, items, of=lambda tensor: tensor.grad):
        missing = torch.sign(theirs.T.detach()) if penalty == "none" and mine is model.global_translation else 0.0
        torch.testing.assert_close(mine.grad + missing, their_grad, rtol=1e-4, atol=1e-6)
    assert float(model.item_bias.grad.abs().sum()) > 0.0


def test_the_paper_form_renders_no_translation_penalty_and_an_unknown_one_is_refused(tmp_path):
    spec = small(spec_of(tmp_path / "paper", TRANSREC_PAPER))
    assert "def loss(" not in render.run(spec, {})["model.py"]  # the base class's S-BPR alone
    assert "global_translation.abs().sum()" in render.run(
        with_settings(spec, [("transrec_score.translation_penalty", "l1")]), {})["model.py"]
    with pytest.raises(StageError, match="translation_penalty"):
        render.run(with_settings(spec, [("transrec_score.translation_penalty", "l2")]), {})
