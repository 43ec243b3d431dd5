"""CTR over a behaviour sequence (issue 20): DIN and DIEN read from fixture papers that describe them in prose, the
behaviour data regime they train in (the context rows, each with the user's earlier training items), DIN's local
activation unit, Dice, DIEN's auxiliary loss and AUGRU against their equations by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from paper_autotrain.data.behaviour import compute_histories, load_behaviour, prepare_behaviour
from paper_autotrain.data.ctr import load_ctr, prepare_ctr
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.regimes import regime, spec_regime
from paper_autotrain.runtime.ctr import Dice, ctr_batch
from paper_autotrain.schemas import HyperParameter, MethodSpec, SplitInfo
from paper_autotrain.stages import extract, parse, render, validate
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.stages.baselines.scoring import behaviour_config
from paper_autotrain.worker.leakage import decoy_behaviour_rows
from paper_autotrain.worker.loading import build_model, load_config
from paper_autotrain.worker.train import train as train_rows
from tests.ctr_fixtures import write_ctr_dataset
from tests.fixture_papers import with_block_params
from tests.pdf_fixtures import bundle_for, write_pdf

RULES = {"name": "rules", "hparams": {}}
DIN_BLOCKS = ["field_embedding", "behaviour_attention", "mlp_tower", "sum_logits"]
DIEN_BLOCKS = ["field_embedding", "interest_evolution", "mlp_tower", "sum_logits"]

DIN_PAPER = [
    ["Deep Interest Network for Click-Through Rate Prediction",
     "Abstract. Click-through rate (CTR) prediction is an essential task in industrial applications such as online "
     "advertising. Recent deep learning models follow an Embedding and MLP paradigm: sparse input features are "
     "mapped to embedding vectors, compressed into a fixed-length vector whatever the candidate ad is, and fed to "
     "fully connected layers. The fixed-length vector is a bottleneck for expressing the diverse interests of users. "
     "We propose a novel model, Deep Interest Network (DIN), which adaptively learns the representation of user "
     "interests from historical behaviors with respect to a certain ad. We also develop a mini-batch aware "
     "regularization and a data adaptive activation function.",
     "1 INTRODUCTION", "In e-commerce, a user visits many goods, and only part of the behaviors matters for the "
     "click on a given ad. Wide and Deep and DeepFM learn feature interactions but pool the user behaviors into one "
     "vector."],
    ["4 DEEP INTEREST NETWORK",
     "Feature Representation. The inputs are grouped into four kinds of fields: user profile features, user "
     "behavior features (the ids of the visited goods and their categories), ad features and context features. "
     "Embedding layer. Each feature of a field is transformed into a low-dimensional dense embedding vector.",
     "Local activation unit. Instead of compressing all behaviors into the same vector, DIN pays attention to the "
     "related user interests by soft-searching the relevant behaviors with respect to the candidate ad. The "
     "representation of the user given ad A is v_U(A) = f(v_A, e_1, ..., e_H) = sum_j a(e_j, v_A) e_j, where e_j "
     "is the embedding of the j-th behavior and v_A the embedding of ad A. Here a(.) is a feed-forward network whose "
     "output is the activation weight; its inputs are the behavior embedding, the ad embedding and their product. "
     "The activation weights are not normalized by the softmax function, so that the intensity of the user's "
     "interests is reserved.",
     "The user representation is concatenated with the user profile, the candidate ad and the context features and "
     "fed to fully connected layers with the Dice activation, followed by the output layer. The objective function "
     "is the negative log-likelihood of the clicks (the log loss).",
     "Mini-batch Aware Regularization. Only the parameters of the features that appear in the mini-batch are "
     "regularized by the L2 norm, scaled by their frequency.",
     "Data Adaptive Activation Function. Dice generalizes PReLU: the control function p(s) is the sigmoid of s "
     "normalized by its mean and variance in the mini-batch, and the moving averages are used at inference."],
    ["5 EXPERIMENTS",
     "We evaluate on the Amazon (Electronics) and MovieLens datasets with AUC. Table 3 reports the results.",
     "Settings. The embedding size is set to 12. The hidden layers of the fully connected network are 200-80."],
]

DIEN_PAPER = [
    ["Deep Interest Evolution Network for Click-Through Rate Prediction",
     "Abstract. Click-through rate (CTR) prediction estimates the probability of a user clicking on an item. Most "
     "models treat user behaviors directly as interests and ignore the dynamics behind them. We propose the Deep "
     "Interest Evolution Network (DIEN) for CTR prediction, with an interest extractor layer that captures the "
     "temporal interests from the history behavior sequence and an interest evolving layer that models the "
     "interest evolving process relative to the target item.",
     "1 INTRODUCTION", "DIN uses attention to activate the related behaviors with respect to the target item, but "
     "it does not model the sequential dependence of the behaviors."],
    ["4 DEEP INTEREST EVOLUTION NETWORK",
     "Embedding layer. The user profile, user behavior, ad and context features are transformed into embedding "
     "vectors.",
     "Interest Extractor Layer. A GRU runs over the behavior sequence; an auxiliary loss supervises each hidden state "
     "with the next behavior against a sampled negative item.",
     "Interest Evolving Layer. The attention score of each hidden state with respect to the target ad weights the "
     "update gate of a GRU (AUGRU), so that the interest evolution relative to the target is modelled.",
     "The final interest state is concatenated with the profile, ad and context embeddings and fed to fully "
     "connected layers; the model is trained with the log loss on the clicks plus the auxiliary loss."],
    ["5 EXPERIMENTS", "We evaluate on the Amazon datasets with AUC. Table 2 reports the results.",
     "Settings. The embedding size is set to 18."],
]

# scripts/ctr_parity.py --papers tests.test_behaviour_papers
PAPERS = {"DIN": (DIN_PAPER, DIN_BLOCKS), "DIEN": (DIEN_PAPER, DIEN_BLOCKS)}


def spec_of(folder: Path, pages: list[list[str]]) -> MethodSpec:
    folder.mkdir(parents=True, exist_ok=True)
    pdf = write_pdf(folder / "paper.pdf", pages)
    bundle, where = bundle_for(pdf)
    return extract.run(parse.run(bundle, where, {"max_pages": 60, "max_mb": 50}), RULES)


def rendered(spec: MethodSpec, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(spec, {}).items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return write_ctr_dataset(tmp_path_factory.mktemp("behaviourdata"))


@pytest.fixture(scope="module")
def rows(dataset, tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    return prepare_behaviour(dataset, tmp_path_factory.mktemp("datasets"), max_seq_length=8)


# --- reading the papers ----------------------------------------------------------------------------------------

def test_the_din_paper_is_read_into_its_blocks_faithful_with_recboles_din_as_reference(tmp_path):
    spec = spec_of(tmp_path, DIN_PAPER)
    assert (spec.family, spec.task, spec.loss) == ("context", "ctr", "bce")
    assert [block.block for block in spec.architecture] == DIN_BLOCKS
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == "DIN" == composition_class("context", DIN_BLOCKS, spec.loss)
    assert not spec.custom
    parts = {component.name: component.block for component in spec.fidelity.components}
    assert parts["local activation unit (attention over the user's behaviours with respect to the candidate item)"] \
        == "behaviour_attention"
    tower = next(block for block in spec.architecture if block.block == "mlp_tower")
    assert tower.params.get("activation") == "dice"
    # the paper's mini-batch aware regularisation is a listed deviation, not silently dropped
    assert [d.component for d in spec.fidelity.deviations] == [
        "mini-batch aware regularisation (L2 on the parameters of the features present in each mini-batch)"]
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["embedding_size"] == 12 and values["attention_size"] == 36
    assert spec_regime(spec).name == "behaviour"
    model, overrides, notes = reference_with_notes(spec)
    assert model == "DIN"
    assert overrides["embedding_size"] == 12 and overrides["mlp_hidden_size"] == values["mlp_layers"]
    assert overrides["unload_col"] is None and overrides["alias_of_item_id"] == ["item_id_list"]
    assert any("user profile" in note for note in notes)


def test_the_dien_paper_is_read_into_its_interest_evolution_faithful_never_as_din(tmp_path):
    spec = spec_of(tmp_path, DIEN_PAPER)
    assert (spec.family, spec.task, spec.loss) == ("context", "ctr", "bce")
    assert [block.block for block in spec.architecture] == DIEN_BLOCKS
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == "DIEN" == composition_class("context", DIEN_BLOCKS, spec.loss)
    parts = {component.name: component.block for component in spec.fidelity.components}
    assert parts["interest evolution over the behaviour sequence (attentional GRU)"] == "interest_evolution"
    assert parts["contrastive or self-supervised auxiliary objective"] == "interest_evolution"  # its auxiliary loss
    assert spec_regime(spec).name == "behaviour"
    model, overrides, notes = reference_with_notes(spec)
    assert model == "DIEN" and overrides["gru_type"] == "AUGRU" and overrides["alpha"] == 1.0
    assert overrides["unload_col"] is None and overrides["alias_of_item_id"] == ["item_id_list"]  # the history read
    assert any("neg_item_id_list" in note for note in notes)
    assert any("inner product" in note for note in notes)  # the paper's auxiliary, not RecBole's
    recbole_aux = with_block_params(spec, "interest_evolution", auxiliary="concat_linear")
    assert not any("inner product" in note for note in reference_with_notes(recbole_aux)[2])


def test_a_sequential_paper_naming_interest_evolution_stays_partial(tmp_path):
    pages = [["Interest Evolution for Next-Item Recommendation",
              "Abstract. We recommend the next item of a session and model the interest evolution of the user with "
              "an attentional update gate over the recurrent states."],
             ["3 METHOD", "A GRU encodes the sequence of items; its update gate is scaled by attention (AUGRU). We "
              "train with the cross-entropy over all items and rank the next item."],
             ["4 EXPERIMENTS", "We evaluate on MovieLens with Recall@20 and NDCG@20."]]
    spec = spec_of(tmp_path, pages)
    assert spec.family == "sequential" and spec.fidelity.verdict == "partial"
    assert "interest evolution over the behaviour sequence (attentional GRU)" in spec.fidelity.missing


def test_a_ctr_paper_without_behaviours_is_not_read_as_din(tmp_path):
    pages = [list(page) for page in DIN_PAPER]
    pages[1] = ["4 OUR MODEL",
                "Each categorical feature is projected to a dense embedding vector. The embedding vectors of all "
                "fields are concatenated and fed to fully connected layers with the ReLU activation, followed by the "
                "output layer. The objective function is the log loss of the clicks."]
    pages[0] = ["A Deep Network for Click-Through Rate Prediction",
                "Abstract. Click-through rate (CTR) prediction matters for advertising. We propose a deep network over "
                "the field embeddings."]
    spec = spec_of(tmp_path, pages)
    assert "behaviour_attention" not in [block.block for block in spec.architecture]
    assert spec_regime(spec).name == "context"


# --- the behaviour regime ----------------------------------------------------------------------------------------

def test_histories_hold_the_users_earlier_training_items_only_latest_first_cut(tmp_path):
    users = np.array(["a", "a", "a", "a", "b", "a"])
    items = np.array([1, 2, 3, 4, 5, 6])
    times = np.array([10.0, 20.0, 20.0, 5.0, 1.0, 30.0])
    train = np.array([True, True, False, True, True, True])
    histories = compute_histories(users, items, times, train, max_seq_length=2)
    # user a in time order: item 4 (t5), 1 (t10), 2 (t20), 3 (t20, not train), 6 (t30)
    assert histories.tolist() == [[4, 0], [4, 1], [1, 2], [0, 0], [0, 0], [1, 2]]


def test_the_behaviour_split_is_the_context_split_with_histories(dataset, rows, tmp_path):
    split = load_behaviour(rows.path)
    plain = load_ctr(prepare_ctr(dataset, tmp_path).path)
    for part in ("train", "valid", "test"):  # the same rows, parts, order and labels as the context regime's
        assert np.array_equal(split.tokens[part], plain.tokens[part])
        assert np.array_equal(split.labels[part], plain.labels[part])
    assert split.max_seq_length == 8 and (split.history["train"] > 0).any()
    # every history item is an earlier training interaction of the same user
    train_pairs = set(zip(split.users["train"], split.items["train"], strict=True))
    vocab = split.vocab["item_id"]
    for part in ("train", "test"):
        for user, history in zip(split.users[part], split.history[part], strict=True):
            assert all((user, vocab[i]) in train_pairs for i in history[history > 0])
    batch = ctr_batch(split, "valid", slice(0, 5))
    assert torch.equal(batch["history"], torch.from_numpy(split.history["valid"][:5]))
    # the item table gives each item its own item-side features
    assert split.item_fields == ("item_id", "release_year", "class")
    column = split.token_fields.index("release_year")
    items = split.tokens["train"][:, split.token_fields.index("item_id")]
    assert np.array_equal(split.item_tokens[items][:, 1], split.tokens["train"][:, column])
    # RecBole's benchmark rows carry the same histories; its other context models leave them unloaded
    bench = Path(rows.path) / dataset["name"] / f"{dataset['name']}.train.inter"
    header = bench.read_text().split("\n", 1)[0].split("\t")
    assert header[-1] == "item_id_list:token_seq"
    config = behaviour_config({"max_seq_length": 8})
    assert config["unload_col"] == {"inter": ["item_id_list"]} and config["MAX_ITEM_LIST_LENGTH"] == 8
    assert config["eval_args"]["order"] == "TO"  # RecBole's sequential datasets (DIN's) insist; benchmark rows stay
    decoy = decoy_behaviour_rows(split)
    assert np.array_equal(decoy.history["train"], split.history["train"])
    assert np.array_equal(decoy.history["test"], split.history["test"][::-1])
    assert regime("behaviour").load_split.endswith("load_behaviour")


# --- the blocks against their equations ---------------------------------------------------------------------------

def test_dice_follows_its_equation_with_batch_statistics_in_training_and_moving_ones_at_inference():
    torch.manual_seed(0)
    dice = Dice(3)
    with torch.no_grad():
        dice.alpha.copy_(torch.tensor([0.1, 0.2, 0.3]))
    s = torch.randn(6, 3)
    p = torch.sigmoid((s - s.mean(0)) / torch.sqrt(s.var(0, unbiased=False) + 1e-8))
    assert torch.allclose(dice(s), p * s + (1 - p) * dice.alpha * s, atol=1e-5)
    dice.eval()
    mean, var = dice.norm.running_mean, dice.norm.running_var
    p = torch.sigmoid((s - mean) / torch.sqrt(var + 1e-8))
    assert torch.allclose(dice(s), p * s + (1 - p) * dice.alpha * s, atol=1e-5)
    sequence = torch.randn(2, 4, 3)  # a [B, L, H] input is normalised over B and L together
    assert torch.allclose(dice(sequence), dice(sequence.reshape(8, 3)).reshape(2, 4, 3))


def dien_training_draw(spec: MethodSpec, rows: SplitInfo, folder: Path, seed: int, empty_first: bool = False):
    """A DIEN model's training forward on five train rows (the first emptied of behaviours with `empty_first`), its
    auxiliary loss drawn under `seed`: (model, batch, behaviour vectors, interest states h_t, the sampled items'
    vectors, redrawn under the same seed)."""
    model, split, _ = din_model(spec, rows, folder)
    batch = ctr_batch(split, "train", slice(0, 5))
    if empty_first:
        batch["history"][0] = 0
    history = batch["history"]
    behaviours = model.field_embedding.items(history).flatten(-2)
    interests, _ = model.interest_extractor(behaviours)
    model.train()
    torch.manual_seed(seed)
    model.logit(batch)
    torch.manual_seed(seed)
    sampled = model.field_embedding.items(torch.randint(1, split.vocab_size("item_id"), history.shape)).flatten(-2)
    return model, batch, behaviours, interests, sampled


def din_model(spec: MethodSpec, rows: SplitInfo, folder: Path):
    small = {"embedding_size": 4, "mlp_layers": [8], "batch_size": 32}
    spec = spec.model_copy(update={"hyperparameters": {
        **spec.hyperparameters, **{key: HyperParameter(value=value, source="user") for key, value in small.items()}}})
    folder = rendered(spec, folder)
    split = load_behaviour(rows.path)
    return build_model(folder, load_config(folder), split), split, folder


@pytest.mark.parametrize(("inputs", "tower"), [("product", "fields"), ("product_difference", "interest_candidate")])
def test_the_local_activation_unit_weights_each_behaviour_unnormalised(inputs, tower, rows, tmp_path):
    spec = with_block_params(spec_of(tmp_path / "paper", DIN_PAPER), "behaviour_attention", inputs=inputs,
                             tower=tower)
    model, split, folder = din_model(spec, rows, tmp_path / "model")
    config = load_config(folder)
    assert config["data"]["regime"] == "behaviour"
    model.eval()
    batch = ctr_batch(split, "train", slice(0, 6))
    batch["history"][0] = 0  # a row without behaviours
    seen = {}
    model.deep.register_forward_pre_hook(lambda module, args: seen.update(tower=args[0]))
    model.logit(batch)
    emb = model.field_embedding
    fields = emb(batch)
    d = fields.shape[-1]
    expected = []
    for row in range(6):
        candidate = emb.items(batch["tokens"][row, model.candidate_column]).flatten()
        interest = torch.zeros(d * len(split.item_fields))
        for item in batch["history"][row]:
            if item == 0:
                continue
            e = emb.items(item).flatten()
            unit = (torch.cat([candidate, e, candidate - e, candidate * e]) if inputs == "product_difference"
                    else torch.cat([e, e * candidate, candidate]))
            interest = interest + model.activation_unit(unit.unsqueeze(0)).squeeze() * e  # not softmax-normalised
        expected.append(torch.cat([fields[row].flatten(), interest]) if tower == "fields"
                        else torch.cat([interest, candidate, interest * candidate]))  # RecBole's DNN input
    assert torch.allclose(seen["tower"], torch.stack(expected), atol=1e-5)
    interest_part = slice(fields[0].numel(), None) if tower == "fields" else slice(0, d * len(split.item_fields))
    assert torch.equal(seen["tower"][0, interest_part], torch.zeros(d * len(split.item_fields)))
    source = (folder / "model.py").read_text()
    assert "Dice(size)" in source and "Dice(attention_size)" in source


def test_dien_evolves_the_interest_states_by_augru_and_trains_them_by_the_auxiliary_loss(rows, tmp_path):
    # a row without behaviours (row 0): its evolved interest stays h'_0 = 0
    model, batch, behaviours, interests, sampled = dien_training_draw(spec_of(tmp_path / "paper", DIEN_PAPER), rows,
                                                                      tmp_path / "model", seed=3, empty_first=True)
    emb, history = model.field_embedding, batch["history"]
    # training: L_aux against the next behaviour and the sampled item (the same draw, reseeded)
    terms = []
    for row in range(5):
        for t in range(history.shape[1] - 1):
            if history[row, t + 1] > 0:
                h = interests[row, t]
                terms.append(torch.log(torch.sigmoid(h @ behaviours[row, t + 1]))
                             + torch.log(1 - torch.sigmoid(h @ sampled[row, t + 1])))
    assert torch.allclose(model.auxiliary_loss, -torch.stack(terms).mean(), atol=1e-5)
    # inference: the AUGRU over h_t with a_t = softmax(h_t W e_a) over the behaviours scaling the update gate
    model.eval()
    seen = {}
    model.deep.register_forward_pre_hook(lambda module, args: seen.update(tower=args[0]))
    model.logit(batch)
    fields = emb(batch)
    width = behaviours.shape[-1]
    w_i, b_i, w_h = model.augru_input.weight, model.augru_input.bias, model.augru_hidden.weight
    for row in range(5):
        candidate = emb.items(batch["tokens"][row, model.candidate_column]).flatten()
        n = int((history[row] > 0).sum())
        state = torch.zeros(width)
        if n:
            attention = torch.softmax(interests[row, :n] @ model.evolution_attention.weight @ candidate, dim=0)
            for t in range(n):
                x, h = w_i @ interests[row, t] + b_i, w_h @ state
                u = torch.sigmoid(x[:width] + h[:width]) * attention[t]
                r = torch.sigmoid(x[width:2 * width] + h[width:2 * width])
                proposal = torch.tanh(x[2 * width:] + r * h[2 * width:])
                state = (1 - u) * state + u * proposal
        assert torch.allclose(seen["tower"][row], torch.cat([fields[row].flatten(), state]), atol=1e-5)


def test_dien_concat_linear_auxiliary_is_recboles_affine_map_of_the_concatenation(rows, tmp_path):
    spec = with_block_params(spec_of(tmp_path / "paper", DIEN_PAPER), "interest_evolution", auxiliary="concat_linear")
    model, batch, behaviours, interests, sampled = dien_training_draw(spec, rows, tmp_path / "model", seed=5)
    history = batch["history"]
    logits, targets = [], []
    for row in range(5):
        for t in range(history.shape[1] - 1):
            if history[row, t + 1] > 0:
                for item, target in ((behaviours[row, t + 1], 1.0), (sampled[row, t + 1], 0.0)):
                    logits.append(model.auxiliary_net(torch.cat([interests[row, t], item])).squeeze())
                    targets.append(target)
    # RecBole's: binary cross-entropy with logits averaged over all 2N positive and negative terms
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.stack(logits), torch.tensor(targets))
    assert torch.allclose(model.auxiliary_loss, expected, atol=1e-5)


def test_recboles_dien_gets_the_negative_drawn_for_each_history_interaction():
    import pandas as pd

    from paper_autotrain.stages.baselines.scoring import attach_negative_history

    class Dataset:  # a DIENDataset read from benchmark files, before build(): RecBole's ids in a DataFrame
        uid_field, iid_field, item_id_list_field, neg_item_list_field = "user", "item", "item_list", "neg_item_list"
        item_num = 10
        field2seqlen = {"item_list": 3}
        inter_feat = pd.DataFrame({"user": [1, 1, 2, 1, 2], "item": [4, 5, 4, 6, 7],
                                   "item_list": [np.array([], dtype=np.int64), np.array([4]), np.array([]),
                                                 np.array([4, 5]), np.array([4])]})
        neg_item_list = torch.tensor([9, 8, 3, 2, 1])  # one per row, never its item

        def set_field_property(self, field, ftype, source, seqlen):
            self.property = (field, str(ftype), str(source), seqlen)

    dataset = Dataset()
    attach_negative_history(dataset)
    negatives = [list(map(int, row)) for row in dataset.inter_feat["neg_item_list"]]
    # user 1's history [4, 5]: the negatives of rows (1, 4) and (1, 5); user 2's [4]: of row (2, 4)
    assert negatives == [[], [9], [], [9, 8], [3]]
    assert dataset.property == ("neg_item_list", "FeatureType.TOKEN_SEQ", "FeatureSource.INTERACTION", 3)


def test_recboles_dien_rows_without_behaviours_get_the_interest_zero():
    from paper_autotrain.stages.baselines.scoring import allow_empty_histories

    seen = {}

    class Extractor(torch.nn.Module):
        def forward(self, keys, lengths, neg_keys=None):
            seen["extractor"] = lengths
            return keys, torch.zeros(())

    class Evolution(torch.nn.Module):
        def forward(self, queries, keys, lengths):
            seen["evolution"] = lengths
            return queries + 1.0

    model = torch.nn.Module()
    model.interset_extractor, model.interest_evolution = Extractor(), Evolution()  # RecBole's attribute names
    allow_empty_histories(model)
    lengths = torch.tensor([0, 2, 1])
    model.interset_extractor(torch.zeros(3, 4, 2), lengths, torch.zeros(3, 4, 2))
    out = model.interest_evolution(torch.ones(3, 2), torch.zeros(3, 4, 2), lengths)
    assert seen["extractor"].tolist() == [1, 2, 1] == seen["evolution"].tolist()  # packable
    assert out.tolist() == [[0.0, 0.0], [2.0, 2.0], [2.0, 2.0]]  # the empty row's interest is h'_0 = 0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["DIN", "DIEN"])
def test_din_and_dien_from_their_papers_pass_the_gates_and_train(model, rows, tmp_path):
    spec = spec_of(tmp_path / "paper", PAPERS[model][0])
    user = {"batch_size": 64, "learning_rate": 0.01, "mlp_layers": [32, 16], "embedding_size": 8}
    spec = spec.model_copy(update={"hyperparameters": {
        **spec.hyperparameters, **{key: HyperParameter(value=value, source="user") for key, value in user.items()}}})
    folder = rendered(spec, tmp_path / "model")
    report = validate.run(folder, rows, {"overfit_steps": 30})
    assert report["ok"], report
    result = train_rows(folder, Path(rows.path), tmp_path / "out", ["trainer.max_epochs=3", "trainer.patience=3",
                                                                    "trainer.csv_logger=false"])
    assert set(result.test) == {"auc", "logloss"}
    assert result.test["auc"] > 0.6, result.test


@pytest.mark.slow
def test_recboles_din_reads_the_same_histories_and_our_scores_equal_its_own(rows, tmp_path, monkeypatch):
    from paper_autotrain.stages import baselines
    from paper_autotrain.stages.baselines import runner

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    spec = spec_of(tmp_path / "paper", DIN_PAPER)
    model, overrides, _ = reference_with_notes(spec)
    cfg = {"regime": "behaviour", "max_seq_length": 8, "max_epochs": 2, "seed": 0, "valid_metric": "AUC"}
    for name, extra in ((model, overrides), ("FM", {})):  # FM: the history column unloaded, the context rows
        request = {"model": name, "dataset": "tinyctr", "split_path": rows.path, "split_id": rows.split_id,
                   "config": baselines.recbole_config(extra, cfg), "regime": "behaviour", "seed": 0}
        (tmp_path / name).mkdir()
        result = runner.run_request(request, tmp_path / name)
        assert result["test"]["auc"] == pytest.approx(result["config"]["recbole_test"]["auc"], abs=1e-5)


@pytest.mark.slow
def test_recboles_dien_trains_on_the_same_rows_with_its_negative_history(rows, tmp_path, monkeypatch):
    from paper_autotrain.stages import baselines
    from paper_autotrain.stages.baselines import runner

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    model, overrides, notes = reference_with_notes(spec_of(tmp_path / "paper", DIEN_PAPER))
    cfg = {"regime": "behaviour", "max_seq_length": 8, "max_epochs": 2, "seed": 0, "valid_metric": "AUC"}
    request = {"model": model, "dataset": "tinyctr", "split_path": rows.path, "split_id": rows.split_id,
               "config": baselines.recbole_config(overrides, cfg), "regime": "behaviour", "seed": 0}
    result = runner.run_request(request, tmp_path)
    assert result["status"] == "ok", result
    # our evaluator on RecBole's predictions equals RecBole's own metric code on the same rows
    assert result["test"]["auc"] == pytest.approx(result["config"]["recbole_test"]["auc"], abs=1e-5)
