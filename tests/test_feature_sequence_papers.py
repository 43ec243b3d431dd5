"""Sequential models that read the items' features, from fixture papers that describe them in prose: SASRecF (the
item's feature embeddings fused into its representation before the self-attention) and FDSA (Zhang et al., 2019: a
feature-level self-attention beside the item-level one, concatenated). Each paper is read into its blocks, comes
out `faithful` with RecBole's class as the reference (its `selected_features` the split's item fields); each block
equals its equation by hand on a tiny input; a paper whose features are unbuilt (a feature graph) stays `partial`,
and SASRec's paper without features is still SASRec. The split carries the items' fields from the dataset's .item
file (tests/test_feature_sequence_papers.py writes a small one). The fixture papers are no real papers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from paper_autotrain.data.sequential import load_sequences, prepare_sequences
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.stages import train as train_stage
from paper_autotrain.stages import validate
from paper_autotrain.stages.baselines import recbole_config
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import rendered, spec_of, with_values
from tests.model_fixtures import write_walks

SETTINGS = ("We use the Amazon Beauty, Sports and Toys datasets and report HR@10 and NDCG@10 under the "
            "leave-one-out protocol. Table 2 reports the results.")

SASRECF_PAPER = [
    ["Feature-Aware Self-Attentive Sequential Recommendation",
     "Abstract. Self-attention based sequential models predict the next item from the item IDs of a user's "
     "history alone, although items come with rich attributes such as their categories and brands. We propose "
     "SASRecF, which brings the item features into the self-attention based sequential recommender.",
     "1 INTRODUCTION",
     "Sparse item IDs carry little information about new or rare items, whose attributes are known. "
     "Self-attention over the item IDs cannot relate two items it has rarely seen together."],
    ["3 METHOD",
     "3.1 Feature-Enhanced Item Representation",
     "Each item has an item ID embedding, and each of its attributes (the categories of each item and its release "
     "year) is mapped to an attribute embedding; the embeddings of a multi-valued attribute are summed. We "
     "concatenate the item ID embedding with the attribute embeddings and a linear layer maps the concatenation "
     "to the feature-enhanced item representation of d dimensions.",
     "3.2 Self-Attention",
     "Learnable position embeddings are added to the feature-enhanced item representations, and a stack of "
     "causal self-attention blocks, each a multi-head self-attention layer and a point-wise feed-forward "
     "network with residual connections and layer normalization, reads the sequence. The output at the last "
     "position represents the user's sequence.",
     "3.3 Prediction",
     "The score of a candidate item is the inner product of the sequence representation with its item ID "
     "embedding. A softmax over all the items gives the probability of the next item, and the model is trained "
     "with the cross-entropy loss over all items."],
    ["4 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is 64, with 2 self-attention blocks and 2 heads. We use the Adam optimizer "
     "with a learning rate of 0.001 and a batch size of 256."],
]


def fdsa_paper(feature_part: str) -> list[list[str]]:
    return [
        ["Feature-level Deeper Self-Attention Network for Sequential Recommendation",
         "Abstract. Sequential recommendation predicts the next item a user will interact with. Existing methods "
         "model the transition patterns between items but ignore the transitions between the items' features. "
         "We propose a feature-level deeper self-attention network (FDSA) that integrates the items' "
         "heterogeneous features into a feature sequence and models the transition patterns at both the item "
         "level and the feature level.",
         "1 INTRODUCTION",
         "A user who buys a phone is likely to buy accessories next: the transition between categories predicts "
         "the next item."],
        ["3 THE FDSA MODEL",
         "3.1 Embedding Layer",
         "Each item of the user's sequence is mapped to an item embedding, and each of its features (its category "
         "and brand) to a feature embedding. Learnable position embeddings are added to both sequences.",
         feature_part,
         "3.3 Item-based Self-Attention",
         "An item-based self-attention block, a multi-head self-attention layer and a point-wise feed-forward "
         "network with residual connections, learns the transition patterns between the items of the sequence; "
         "each position attends only to the positions before it.",
         "3.4 Prediction",
         "The outputs of the item-based and the feature-based self-attention blocks are concatenated and fed into "
         "a fully connected layer. The score of a candidate item is the inner product of this output with its "
         "item embedding, and the model is trained with the cross-entropy loss over all items."],
        ["4 EXPERIMENTS", SETTINGS,
         "Settings. The embedding size is 64, with 2 self-attention blocks and 2 heads. We use the Adam "
         "optimizer with a learning rate of 0.001 and a batch size of 256."],
    ]


FDSA_FEATURES = ("3.2 Feature-based Self-Attention. Different features of an item matter differently to a user: "
                 "a vanilla attention mechanism over the item's features combines their embeddings into one "
                 "feature representation, alpha = softmax(W2 ReLU(W1 f)). The feature representations of the "
                 "sequence form a feature sequence, and a feature-based self-attention block learns the "
                 "transition patterns between the features of the sequence.")
GRAPH_FEATURES = ("3.2 Feature Graph. The features of all items form a feature graph, whose edges join features "
                  "that co-occur in an item, and a graph convolutional network over the feature graph gives each "
                  "feature its representation before the feature-based self-attention block reads the feature "
                  "sequence.")

FDSA_PAPER = fdsa_paper(FDSA_FEATURES)
PAPERS = {  # scripts/session_parity.py runs them (ML-100K's .item: genres and release year)
    "SASRecF": (SASRECF_PAPER,
                ["item_embedding", "item_feature_fusion", "self_attention_encoder", "last_position", "item_dot_score"],
                "ce"),
    "FDSA": (FDSA_PAPER, ["item_embedding", "fdsa_encoder", "last_position", "item_dot_score"], "ce"),
}


@pytest.fixture(scope="module")
def featured(tmp_path_factory):
    """60 users walking 30 items in short cycles, and a .item file: a genre list and a year per item."""
    folder = tmp_path_factory.mktemp("featured")
    write_walks(folder)
    genres = ["Action", "Comedy", "Drama", "Horror", "Sci-Fi"]
    rows = ["item_id:token\tclass:token_seq\trelease_year:token"]
    for item in range(29):  # item 29 has no row: no features
        rows.append(f"i{item}\t{genres[item % 5]} {genres[(item // 5) % 5]}\t{1990 + item % 4}")
    (folder / "walks.item").write_text("\n".join(rows) + "\n")
    return prepare_sequences({"name": "walks", "path": str(folder)}, 5, tmp_path_factory.mktemp("datasets"))


def small(spec, **values):
    return with_values(spec, **{"batch_size": 64, "embedding_size": 8, "hidden_size": 8, "max_seq_length": 5,
                                "n_heads": 2, **values})


def built_model(pages, featured, tmp_path, **values):
    folder = rendered(small(spec_of(tmp_path / "paper", pages), **values), tmp_path / "model")
    split = load_sequences(featured.path)
    return build_model(folder, load_config(folder), split).eval(), split


def test_the_split_carries_the_items_fields_and_recboles_item_file(featured):
    split = load_sequences(featured.path)
    assert sorted(split.item_features) == ["class", "release_year"]
    genres, years = split.item_features["class"], split.item_features["release_year"]
    assert genres.shape == (split.n_items + 1, 2) and years.shape == (split.n_items + 1, 1)
    index = {token: i for i, token in enumerate(split.item_tokens)}
    assert not genres[0].any() and not genres[index["i29"]].any() and years[index["i29"], 0] == 0
    assert genres[index["i0"], 0] == genres[index["i0"], 1] == genres[index["i5"], 0] != genres[index["i6"], 0]
    assert years[index["i0"], 0] == years[index["i4"], 0] != years[index["i1"], 0]
    text = (Path(featured.path) / "walks" / "walks.item").read_text().splitlines()
    assert text[0] == "item_id:token\tclass:token_seq\trelease_year:token" and len(text) == 30


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks, loss = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.trained_loss) == ("sequential", "topk", loss)
    assert [block.block for block in spec.architecture] == blocks
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == model == composition_class("sequential", blocks, spec.trained_loss)
    name, overrides, notes = reference_with_notes(spec)
    assert name == model and overrides["selected_features"] == ["class", "release_year"]
    # RecBole loads the .item fields beside the interactions every baseline shares
    assert recbole_config(overrides, {"regime": "sequential"})["load_col"] == {
        "inter": ["user_id", "item_id_list", "item_id"], "item": ["item_id", "class", "release_year"]}
    assert overrides["hidden_size"] == 64 and overrides["n_layers"] == 2 and overrides["n_heads"] == 2


def test_an_unbuilt_feature_part_is_partial_and_features_beside_a_gru_are_no_recbole_class(tmp_path):
    spec = spec_of(tmp_path / "graph", fdsa_paper(GRAPH_FEATURES))
    assert spec.fidelity.verdict == "partial"
    assert ("item features from a feature graph or from the items' texts or images (graph or pre-trained encoders)"
            in spec.fidelity.missing)
    # the fusion beside a GRU is RecBole's GRU4RecF no more than GRU4Rec (which reads no features): no reference
    blocks = ["item_embedding", "item_feature_fusion", "gru_encoder", "last_position", "item_dot_score"]
    assert composition_class("sequential", blocks, "ce") is None
    assert composition_class("sequential", ["item_embedding", "self_attention_encoder", "last_position",
                                            "item_dot_score"], "ce") == "SASRec"


HISTORIES = torch.tensor([[3, 5, 2, 0, 0], [7, 0, 0, 0, 0]])
LENGTHS = torch.tensor([3, 1])
USERS = torch.tensor([4, 9])


def pooled_features(model, split, items, pooling):
    """[n, F, d] by hand: each field's embedding of the item's values, summed or averaged over the non-padding."""
    out = []
    for index, name in enumerate(sorted(split.item_features)):
        table = model.item_features.embeddings[index].weight
        per_item = []
        for item in items.tolist():
            ids = [i for i in split.item_features[name][item].tolist() if i > 0]
            vectors = [table[i] for i in ids] or [torch.zeros(table.shape[1])]
            total = sum(vectors)
            per_item.append(total / max(len(ids), 1) if pooling == "mean" else total)
        out.append(torch.stack(per_item))
    return torch.stack(out, dim=1)


def test_sasrecf_fuses_the_concatenated_feature_embeddings_by_a_linear_layer_before_the_self_attention(featured,
                                                                                                     tmp_path):
    model, split = built_model(SASRECF_PAPER, featured, tmp_path, n_layers=1)
    with torch.no_grad():
        row = HISTORIES[0]
        features = pooled_features(model, split, row, "sum")  # [L, F, d]
        fused = model.feature_fusion(torch.cat([model.item_embedding(row), features.flatten(1)], dim=1))
        x = model.input_norm(fused + model.position_embedding.weight[:5])
        by_hand = model.attention(x.unsqueeze(0), mask=model.causal_mask, is_causal=True)[0]
        torch.testing.assert_close(model.encode_positions(HISTORIES, LENGTHS, USERS)[0], by_hand, rtol=1e-4,
                                   atol=1e-5)
        # the next item is scored against the item ID embeddings, from the last real position
        scores = model.full_sort_scores(HISTORIES, LENGTHS, USERS)
        torch.testing.assert_close(scores[0], model.item_embedding.weight @ by_hand[2], rtol=1e-4, atol=1e-5)


def test_fdsa_concatenates_the_item_and_feature_level_self_attention_through_a_fully_connected_layer(featured,
                                                                                                    tmp_path):
    model, split = built_model(FDSA_PAPER, featured, tmp_path, n_layers=1)
    with torch.no_grad():
        row = HISTORIES[0]
        positions = model.position_embedding.weight[:5]
        features = pooled_features(model, split, row, "mean")  # [L, F, d]
        w1, w2 = model.feature_attention[0], model.feature_attention[2]
        alpha = torch.softmax(torch.stack([w2(torch.relu(w1(f))).squeeze(-1) for f in features]), dim=1)  # [L, F]
        feature_input = model.input_norm((alpha.unsqueeze(-1) * features).sum(1) + positions)
        item_input = model.input_norm(model.item_embedding(row) + positions)
        mask = model.causal_mask
        items = model.item_attention(item_input.unsqueeze(0), mask=mask, is_causal=True)[0]
        feats = model.feature_self_attention(feature_input.unsqueeze(0), mask=mask, is_causal=True)[0]
        by_hand = model.input_norm(model.concat_layer(torch.cat([items, feats], dim=1)))
        outputs = model.encode_positions(HISTORIES, LENGTHS, USERS)
        torch.testing.assert_close(outputs[0], by_hand, rtol=1e-4, atol=1e-5)
        # causal: what follows position 1 does not change it
        changed = HISTORIES.clone()
        changed[0, 2] = 9
        torch.testing.assert_close(model.encode_positions(changed, LENGTHS, USERS)[0, :2], outputs[0, :2])


@pytest.mark.slow
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, featured, tmp_path):
    folder = rendered(small(spec_of(tmp_path / "paper", PAPERS[model][0])), tmp_path / "model")
    report = validate.run(folder, featured, {"timeout_s": 300})
    assert report["ok"], report
    result = train_stage.run(folder, featured, {"max_epochs": 2, "seed": 0, "timeout_s": 300}, tmp_path / "out")
    assert result.status == "ok" and result.epochs_run == 2
    assert 0.0 <= result.test["ndcg@10"] <= 1.0


def per_position_features(module, items):
    """The features as looked up per history position (the form before the per-item table): [B, L, F, d]."""
    pooled = []
    for index, embedding in enumerate(module.embeddings):
        ids = getattr(module, f"ids_{index}")[items]  # [B, L, values]
        vectors = embedding(ids) * (ids > 0).unsqueeze(-1)
        if module.pooling == "max":
            pooled.append(torch.nan_to_num(vectors.masked_fill((ids == 0).unsqueeze(-1), float("-inf"))
                                           .amax(dim=-2), neginf=0.0))
            continue
        total = vectors.sum(dim=-2)
        pooled.append(total / (ids > 0).sum(dim=-1, keepdim=True).clamp(min=1) if module.pooling == "mean" else total)
    return torch.stack(pooled, dim=-2)


@pytest.mark.parametrize("pooling", ["sum", "mean", "max"])
def test_the_per_item_feature_table_gives_the_per_position_values_and_gradients(pooling):
    from types import SimpleNamespace

    from paper_autotrain.runtime import ItemFeatureEmbedding

    torch.manual_seed(0)
    fields = {"class": np.array([[0, 0], [1, 2], [2, 0], [3, 1], [0, 0]]), "year": np.array([[0], [1], [2], [1], [3]])}
    module = ItemFeatureEmbedding(SimpleNamespace(item_features=fields), 4, pooling=pooling)
    fusion, attention = torch.nn.Linear(12, 4), torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(),
                                                                     torch.nn.Linear(4, 1))
    items, x = torch.tensor([[1, 3, 3, 0], [4, 2, 0, 0]]), torch.randn(2, 4, 4)
    parameters = [*module.parameters(), *fusion.parameters(), *attention.parameters()]

    def outputs_and_grads(features, fused, attended):
        grads = torch.autograd.grad((features.sin().sum() + fused.pow(2).sum() + attended.cos().sum()), parameters)
        return [features, fused, attended, *grads]

    old_features = per_position_features(module, items)
    old_weights = torch.softmax(attention(old_features), dim=-2)
    old = outputs_and_grads(old_features, fusion(torch.cat([x, old_features.flatten(-2)], dim=-1)),
                            (old_weights * old_features).sum(dim=-2))
    new = outputs_and_grads(module(items), module.fuse(x, items, fusion), module.attend(items, attention))
    for before, after in zip(old, new, strict=True):
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm_first", [False, True])
def test_the_fused_causal_encoder_layer_gives_the_transformer_layers_values_and_gradients(norm_first):
    from torch import nn

    from paper_autotrain.runtime import CausalEncoderLayer

    def encoder(cls):
        torch.manual_seed(0)
        layer = cls(8, 2, dim_feedforward=12, dropout=0.0, activation="gelu", layer_norm_eps=1e-12, batch_first=True,
                    norm_first=norm_first)
        return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)

    before, after = encoder(nn.TransformerEncoderLayer), encoder(CausalEncoderLayer)
    assert [name for name, _ in after.named_parameters()] == [name for name, _ in before.named_parameters()]
    x, mask = torch.randn(3, 5, 8), torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    outputs = []
    for model in (before, after):  # training mode: the path the fused attention replaces
        y = model(x, mask=mask, is_causal=True)
        outputs.append([y, *torch.autograd.grad(y.tanh().sum(), list(model.parameters()))])
    for old, new in zip(*outputs, strict=True):
        torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-6)
    # a key-padding mask takes nn.TransformerEncoderLayer's own path
    padding = torch.tensor([[False] * 5, [False, False, False, True, True], [False] * 4 + [True]])
    torch.testing.assert_close(after(x, mask=mask, src_key_padding_mask=padding),
                               before(x, mask=mask, src_key_padding_mask=padding))


def recbole_feature_model(name: str, split, n_layers: int):
    """RecBole's SASRecF or FDSA built over `split`'s items and their two fields (a stub of what it reads of its
    dataset: each field's type and size, the item feature table in our ids), with our test model's sizes."""
    from recbole.data.interaction import Interaction
    from recbole.model.sequential_recommender.fdsa import FDSA
    from recbole.model.sequential_recommender.sasrecf import SASRecF
    from recbole.utils import FeatureType

    from paper_autotrain.stages.baselines import runner
    from tests.test_session_papers import RecBoleStub

    runner._patch_numpy()  # RecBole's feature layer reads np.long

    class FeatureStub(RecBoleStub):
        field2type = {"class": FeatureType.TOKEN_SEQ, "release_year": FeatureType.TOKEN}

        def num(self, field: str) -> int:
            return int(split.item_features[field].max()) + 1 if field in split.item_features else self.n_items

        def get_item_feature(self) -> Interaction:
            return Interaction({"item_id": torch.arange(self.n_items),
                                "class": torch.as_tensor(split.item_features["class"]),
                                "release_year": torch.as_tensor(split.item_features["release_year"][:, 0])})

    stub = FeatureStub(split.n_items, split.max_seq_length, n_layers=n_layers, n_heads=2, hidden_size=8,
                       inner_size=8, hidden_dropout_prob=0.5, attn_dropout_prob=0.5, hidden_act="gelu",
                       layer_norm_eps=1e-12, initializer_range=0.02, selected_features=["class", "release_year"],
                       pooling_mode="sum" if name == "SASRecF" else "mean", numerical_features=[])
    return (SASRecF if name == "SASRecF" else FDSA)(stub.config, stub), stub


def copy_recbole_transformer(ours, theirs) -> None:
    """RecBole's TransformerEncoder layers (separate q, k, v) into our nn.TransformerEncoder's."""
    for mine, their in zip(ours.layers, theirs.layer, strict=True):
        attention, feed_forward = their.multi_head_attention, their.feed_forward
        mine.self_attn.in_proj_weight.copy_(torch.cat([attention.query.weight, attention.key.weight,
                                                       attention.value.weight]))
        mine.self_attn.in_proj_bias.copy_(torch.cat([attention.query.bias, attention.key.bias, attention.value.bias]))
        mine.self_attn.out_proj.load_state_dict(attention.dense.state_dict())
        mine.norm1.load_state_dict(attention.LayerNorm.state_dict())
        mine.linear1.load_state_dict(feed_forward.dense_1.state_dict())
        mine.linear2.load_state_dict(feed_forward.dense_2.state_dict())
        mine.norm2.load_state_dict(feed_forward.LayerNorm.state_dict())


def copy_recbole_feature_model(name: str, model, theirs) -> dict[str, torch.Tensor]:
    """RecBole's weights into ours; returns each of our parameters' RecBole counterpart (to compare gradients)."""
    layer, d = theirs.feature_embed_layer, model.item_embedding.weight.shape[1]
    pairs = {"item_embedding.weight": theirs.item_embedding.weight,
             "position_embedding.weight": theirs.position_embedding.weight,
             "item_features.embeddings.0.weight": layer.token_seq_embedding_table["item"][0].weight,  # class
             "item_features.embeddings.1.weight": layer.token_embedding_table["item"].embedding.weight}  # year
    with torch.no_grad():
        model.input_norm.load_state_dict(theirs.LayerNorm.state_dict())
        if name == "SASRecF":  # RecBole concatenates [item; token fields; token_seq fields], ours [item; sorted]
            weight = theirs.concat_layer.weight
            model.feature_fusion.weight.copy_(torch.cat([weight[:, :d], weight[:, 2 * d:], weight[:, d:2 * d]], 1))
            model.feature_fusion.bias.copy_(theirs.concat_layer.bias)
            copy_recbole_transformer(model.attention, theirs.trm_encoder)
        else:
            model.concat_layer.load_state_dict(theirs.concat_layer.state_dict())
            model.feature_attention.load_state_dict(theirs.feature_att_layer.projection.state_dict())
            copy_recbole_transformer(model.item_attention, theirs.item_trm_encoder)
            copy_recbole_transformer(model.feature_self_attention, theirs.feature_trm_encoder)
            pairs["feature_attention.0.weight"] = theirs.feature_att_layer.projection[0].weight
            pairs["concat_layer.weight"] = theirs.concat_layer.weight
        for mine, their in pairs.items():
            model.get_parameter(mine).copy_(their)
    return pairs


@pytest.mark.parametrize("model_name", PAPERS)
def test_ours_is_recboles_feature_model_module_with_the_same_weights(model_name, featured, tmp_path):
    """With RecBole's weights copied in (moved off their N(0, 0.02) draw so that differences show), our SASRecF's
    and FDSA's full ranking, CE loss and gradients equal RecBole's modules' on right-padded histories, and so do two
    Adam steps: the models are the same function of the same features (RecBole's ML-100K item table is the split's
    own, checked in docs/measurements.md), so a parity gap between the two is the random draws. One difference
    is left, RecBole's: an item lacking a token field's value (here i29's year) gets the padding token's trained
    embedding there, ours a zero vector; ML-100K's items all have both fields."""
    torch.manual_seed(0)
    model, split = built_model(PAPERS[model_name][0], featured, tmp_path, n_layers=2)
    theirs, stub = recbole_feature_model(model_name, split, n_layers=2)
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    pairs = copy_recbole_feature_model(model_name, model, theirs)
    model.eval(), theirs.eval()  # dropout off on both sides (its masks are random draws)
    no_year = {token: i for i, token in enumerate(split.item_tokens)}["i29"]
    histories = torch.tensor([[3, 0, 0, 0, 0], [4, 9, 2, 0, 0], [5, 1, 7, 8, 6], [2, 6, 0, 0, 0],
                              [no_year, 6, 0, 0, 0]])
    lengths, targets, users = torch.tensor([1, 3, 5, 2, 2]), torch.tensor([4, 8, 3, 1, 7]), torch.zeros(5).long()
    batch = {"histories": histories, "lengths": lengths, "targets": targets, "users": users}
    optimizer = model.configure_optimizers()
    their_optimizer = torch.optim.Adam(theirs.parameters(), lr=0.001)  # RecBole's learner: adam, no weight decay
    for step in range(2):
        with torch.no_grad():
            ours_scores = model.full_sort_scores(histories, lengths, users)
            their_scores = theirs.full_sort_predict(stub.interaction(histories, lengths, targets))
            torch.testing.assert_close(ours_scores[:4], their_scores[:4], rtol=1e-4, atol=1e-5)
            assert not torch.allclose(ours_scores[4], their_scores[4], rtol=1e-3, atol=1e-4)  # i29's missing year
        rows = slice(0, 4)  # the histories whose items all have both fields
        ours_loss = model.loss({key: value[rows] for key, value in batch.items()})
        their_loss = theirs.calculate_loss(stub.interaction(histories[rows], lengths[rows], targets[rows]))
        torch.testing.assert_close(ours_loss, their_loss, rtol=1e-5, atol=1e-6)
        optimizer.zero_grad(), their_optimizer.zero_grad()
        ours_loss.backward(), their_loss.backward()
        for mine, their in pairs.items():
            torch.testing.assert_close(model.get_parameter(mine).grad, their.grad, rtol=1e-4, atol=1e-6,
                                       msg=lambda text, name=mine, at=step: f"step {at}, {name}: {text}")
        optimizer.step(), their_optimizer.step()
