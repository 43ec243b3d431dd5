"""Set-B models without a RecBole class, read from fixture papers that describe them in prose (none is a real paper):
an item-based autoencoder (AutoRec's I-AutoRec: each item's column of ratings over the users is encoded by one
hidden layer h = g(V r + mu) and reconstructed as f(W h + b), the squared error counted on observed entries only);
a self-attentive metric model (AttRec: self-attention over the latest L items averaged into a short-term intent m,
the score omega ||U_u - V_i||^2 + (1 - omega) ||m - X_i||^2, a margin hinge over sampled negatives); a pairwise 2-D
CNN (CosRec: the previous L items as an L x L x 2d tensor of item pairs [e_i; e_j], 1 x 1 and 3 x 3 convolution
blocks, a fully connected layer, the user embedding beside it and an output layer with a node per item).
Each paper is read into its blocks, comes out `faithful` with no reference, renders, passes validate's gates and
trains; the blocks equal the paper's equations on tiny inputs; a paper lacking the part is not read as it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from paper_autotrain.data.sequential import load_sequences
from paper_autotrain.data.split import load_split
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.autoencoder import UserRowBatches, observed_squared_error
from paper_autotrain.runtime.losses import hinge_loss
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages import render, validate
from paper_autotrain.worker.loading import build_model, load_config
from paper_autotrain.worker.train import train as train_in_process
from tests.fixture_papers import passes_the_gates_and_trains, rendered, spec_of, with_values

ITEM_AUTOENCODER_PAPER = [
    ["CoAuto: Collaborative Filtering with an Item Autoencoder",
     "Abstract. We propose CoAuto, a compact autoencoder for collaborative filtering that predicts the missing "
     "entries of a rating matrix and is cheap to train.",
     "1 INTRODUCTION",
     "Matrix factorization and neighbourhood methods dominate rating prediction. Restricted Boltzmann machines "
     "were the first neural models applied to it."],
    ["2 THE COAUTO MODEL",
     "We have m users, n items and a rating matrix whose entries are mostly missing. Every item is represented by "
     "the column of ratings it received from the m users, and the network takes one such item column as its "
     "input, encodes it into a hidden layer of k units and reconstructs the whole column. The hidden "
     "representation is h = g(V r + mu) and the reconstruction is f(W h + b), where the weights are shared by "
     "all the items. Training minimises the squared error of the reconstruction over only the observed ratings, "
     "so the missing entries of a column are ignored, and we add the penalty lambda/2 (||W||^2 + ||V||^2) to "
     "avoid overfitting. The predicted rating of user u for item i is the u-th output of the reconstruction of "
     "item i's column."],
    ["3 EXPERIMENTS",
     "We use the MovieLens 1M and Netflix datasets and report RMSE, the root mean squared error of the "
     "predicted ratings. The number of hidden units is set to 300. We use a sigmoid activation for g and the "
     "identity for f. Table 1 reports the results."],
]
# the same prose about users' rows: a user-based autoencoder, which the item-based blocks do not build
USER_AUTOENCODER_PAPER = [[text.replace("Every item is represented by the column of ratings it received from the "
                                        "m users, and the network takes one such item column",
                                        "Every user is represented by the row of ratings the user gave, and the "
                                        "network takes one such user row")
                           .replace("of item i's column", "of user u's row").replace("by all the items", "by all users")
                           .replace("a column are", "a row are").replace("the whole column", "the whole row")
                           for text in page] for page in ITEM_AUTOENCODER_PAPER]

ITEM_AUTOENCODER = ["item_row_input", "autorec_encoder", "item_decoder"]


def test_an_item_autoencoder_paper_is_read_into_its_blocks_and_is_faithful(tmp_path):
    spec = spec_of(tmp_path, ITEM_AUTOENCODER_PAPER)
    assert (spec.family, spec.loss, spec.model_name) == ("autoencoder", "mse", "CoAuto")
    assert spec.task == "topk" and any(note.startswith("task: the paper's experiments predict ratings")
                                       for note in spec.unclear)
    assert [block.block for block in spec.architecture] == ITEM_AUTOENCODER
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["item-based autoencoder (one item's ratings as input)"] == "item_row_input"
    assert built["reconstruction of observed ratings only (masked squared error)"] == "autorec_encoder"
    # implicit data has no unobserved ratings to leave out: how ours observes entries is a listed deviation
    assert [d.component for d in spec.fidelity.deviations] == [
        "squared error on observed explicit ratings (rating prediction)"]
    assert spec.reference is None and composition_class("autoencoder", ITEM_AUTOENCODER, spec.loss) is None
    assert spec.hp("hidden_size") == 300 and not spec.custom
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"row_axis": "items", "hidden_size": 300, "activation": "sigmoid"}
    assert render.trained_loss(spec) == "mse"


def test_a_user_based_autoencoder_paper_is_not_read_as_the_item_based_one(tmp_path):
    spec = spec_of(tmp_path, USER_AUTOENCODER_PAPER)
    assert "item_row_input" not in [block.block for block in spec.architecture]
    assert spec.fidelity.verdict == "partial"


def test_item_rows_are_the_columns_of_the_training_matrix(split_info):
    split = load_split(split_info.path)
    batch = next(iter(UserRowBatches(split, 4, seed=0, axis="items")))
    assert set(batch) == {"items", "rows"} and batch["rows"].shape == (4, split.n_users)
    matrix = split.matrix("train").toarray()
    for item, column in zip(batch["items"].tolist(), batch["rows"], strict=True):
        torch.testing.assert_close(column, torch.as_tensor(matrix[:, item], dtype=torch.float32))


def test_the_item_autoencoder_scores_are_the_users_entries_of_each_items_reconstruction(split_info, tmp_path):
    """R_ui = (f(W g(V r(i) + mu) + b))_u with sigmoid g and identity f, computed by hand from the weights."""
    spec = with_values(spec_of(tmp_path / "paper", ITEM_AUTOENCODER_PAPER), hidden_size=6)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split)
    columns = torch.as_tensor(split.matrix("train").toarray().T, dtype=torch.float32)  # r(i) for every item
    V, mu = model.encoder[0].weight, model.encoder[0].bias
    W, b = model.decoder[0].weight, model.decoder[0].bias
    with torch.no_grad():
        torch.nn.init.normal_(mu)
        torch.nn.init.normal_(b)
        reconstruction = torch.sigmoid(columns @ V.T + mu) @ W.T + b  # [n_items, n_users]
        users = torch.tensor([0, 3, 5])
        torch.testing.assert_close(model.full_sort_scores(users), reconstruction[:, users].T)


def test_the_observed_squared_error_counts_observed_entries_and_sampled_zeros():
    rows = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    logits = torch.tensor([[0.5, 2.0, 1.5, -1.0], [3.0, 0.0, 1.0, 1.0]])
    # without sampled zeros only the 1s count: (0.5^2 + 0.5^2) and 1^2, mean over the two rows
    assert observed_squared_error(logits, rows, 0).item() == pytest.approx((0.25 + 0.25 + 1.0) / 2)
    # with as many zeros per observed entry as a row has unobserved ones, every entry counts
    full = (logits - rows).pow(2).sum(dim=1).mean()
    assert observed_squared_error(logits, rows, 3).item() == pytest.approx(full.item())


@pytest.mark.slow
def test_the_item_autoencoder_passes_the_gates_and_trains(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", ITEM_AUTOENCODER_PAPER), hidden_size=16, batch_size=32,
                       learning_rate=0.01)
    folder = passes_the_gates_and_trains(spec, split_info, tmp_path)
    assert load_config(folder)["optim"]["optimizer"] == "adam"  # the fixture states none; the family default


SHORT_TERM_METRIC_PAPER = [
    ["Next-Item Recommendation with Short-Term Intents and Metric Learning",
     "Abstract. We propose IntentMet, a sequential recommender that joins a user's short-term intent with her "
     "long-term preference to predict the next item she will consume.",
     "1 INTRODUCTION",
     "Markov chain and recurrent models capture sequential patterns, and latent factor models capture general "
     "tastes. Session-based recommenders predict the next item from the recent history."],
    ["3 THE INTENTMET MODEL",
     "3.1 Short-Term Intent",
     "The short-term intent of a user is modelled by self-attention over her most recent L items. Their "
     "embeddings form an L x d matrix X; sinusoidal time signals are added to the query and the key, which are "
     "mapped by ReLU(X W_Q) and ReLU(X W_K). The diagonal of the attention map is masked and the map is applied "
     "to X itself. The average of the attended representations is the intent vector m.",
     "3.2 Long-Term Preference",
     "Each user and each item also get a latent vector of their own, U_u and V_i, and the long-term preference "
     "of a user for an item is their Euclidean distance.",
     "3.3 Learning",
     "The score of the next item i is omega ||U_u - V_i||^2 + (1 - omega) ||m - X_i||^2, where a smaller value "
     "means a stronger preference. We learn the parameters with a margin-based hinge loss between the next "
     "item and sampled negative items, with an L2 penalty."],
    ["4 EXPERIMENTS",
     "We use the MovieLens 100K dataset and report HR@50 and MRR. The embedding size is set to 32, the margin is set "
     "to 0.3 and the sequence length L is set to 5."],
]
# a self-attentive model scored by inner products at the last position: not the short-term metric model
LAST_POSITION_PAPER = [
    ["Self-Attentive Next-Item Recommendation",
     "Abstract. We propose AttnNext, a sequential recommender built from stacked self-attention blocks.",
     "1 INTRODUCTION",
     "Markov chains and recurrent networks model sequences of items for next-item recommendation."],
    ["3 THE ATTNNEXT MODEL",
     "The embeddings of the items a user consumed, with learned positional embeddings, pass through stacked "
     "self-attention blocks with causal masking. The output at the last position is the user's state, and the "
     "score of an item is the inner product of the state with the item embedding. We train with the binary "
     "cross-entropy loss with one sampled negative item per target. Self-attention lets every position attend "
     "to all earlier ones. The self-attention blocks share one design, and self-attention is the core."],
    ["4 EXPERIMENTS",
     "We use the MovieLens 100K dataset and report HR@10 and NDCG@10."],
]
SHORT_TERM_METRIC = ["item_embedding", "short_term_attention", "metric_sequence_score"]


def test_a_short_term_metric_paper_is_read_into_its_blocks_and_is_faithful(tmp_path):
    spec = spec_of(tmp_path, SHORT_TERM_METRIC_PAPER)
    assert (spec.family, spec.task, spec.loss, spec.model_name) == ("sequential", "topk", "other", "IntentMet")
    assert [block.block for block in spec.architecture] == SHORT_TERM_METRIC
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["short-term intent (self-attention over the latest items, its outputs averaged)"] == \
        "short_term_attention"
    for name in ("metric learning (Euclidean distance between users and items)", "hinge (margin-based) ranking loss",
                 "long-term user preference embedding",
                 "the paper's training loss (the metric_sequence_score block's own)"):
        assert built[name] == "metric_sequence_score", name
    assert spec.reference is None and composition_class("sequential", SHORT_TERM_METRIC, spec.loss) is None
    assert render.trained_loss(spec) == "hinge" and not spec.custom
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["margin"] == 0.3 and values["embedding_size"] == 32 and spec.hp("max_seq_length") == 5


def test_a_last_position_self_attention_paper_is_not_read_as_the_short_term_metric_model(tmp_path):
    spec = spec_of(tmp_path, LAST_POSITION_PAPER)
    blocks = [block.block for block in spec.architecture]
    assert "short_term_attention" not in blocks and "metric_sequence_score" not in blocks


def attrec_model(sequences: SplitInfo, tmp_path: Path, **values: object):  # noqa: ANN201 - the rendered class
    spec = with_values(spec_of(tmp_path / "paper", SHORT_TERM_METRIC_PAPER), embedding_size=6, **values)
    folder = rendered(spec, tmp_path / "model")
    return build_model(folder, load_config(folder), load_sequences(sequences.path))


def test_the_short_term_metric_scores_are_minus_the_papers_weighted_distances(sequences, tmp_path):
    """y = omega ||U_u - V_i||^2 + (1 - omega) ||m - X_i||^2, m the mean over the L rows of softmax(mask(Q' K'^T /
    sqrt(d))) X with Q' = ReLU((X + TE) W_Q), K' = ReLU((X + TE) W_K), computed by hand for one history."""
    model = attrec_model(sequences, tmp_path).eval()
    histories, lengths, users = torch.tensor([[3, 7, 2, 0, 0]]), torch.tensor([3]), torch.tensor([4])
    X = model.item_embedding.weight[histories[0, :3]]
    d = X.shape[1]
    te = torch.zeros(3, d)
    for t in range(3):
        for i in range(0, d, 2):
            te[t, i] = torch.sin(torch.tensor(t / 10000 ** (i / d)))
            if i + 1 < d:
                te[t, i + 1] = torch.cos(torch.tensor(t / 10000 ** (i / d)))
    q = torch.relu((X + te) @ model.query_weight.weight.T)
    k = torch.relu((X + te) @ model.key_weight.weight.T)
    affinity = (q @ k.T / d ** 0.5).masked_fill(torch.eye(3, dtype=torch.bool), float("-inf"))
    m = (torch.softmax(affinity, dim=-1) @ X).mean(0)
    omega = model.omega
    U, V, items = model.user_embedding.weight[4], model.long_term_item_embedding.weight, model.item_embedding.weight
    expected = -(omega * (U - V).pow(2).sum(-1) + (1 - omega) * (m - items).pow(2).sum(-1))
    with torch.no_grad():
        scores = model.full_sort_scores(histories, lengths, users)[0]
    torch.testing.assert_close(scores[1:], expected[1:].detach(), rtol=1e-4, atol=1e-5)


def test_the_hinge_is_the_papers_on_the_distances(sequences, tmp_path):
    # distances y_pos = 1.0, y_neg = [1.2, 3.0] with margin 0.5: [1.0 + 0.5 - 1.2]_+ = 0.3 and 0, mean 0.15
    assert hinge_loss(torch.tensor([-1.0]), torch.tensor([[-1.2, -3.0]]), 0.5).item() == pytest.approx(0.15)
    model = attrec_model(sequences, tmp_path, negative_samples=2)
    batch = {"histories": torch.tensor([[3, 7, 0, 0, 0], [5, 0, 0, 0, 0]]), "lengths": torch.tensor([2, 1]),
             "users": torch.tensor([1, 2]), "targets": torch.tensor([4, 9]), "neg_items": torch.tensor([[8, 1],
                                                                                                      [2, 6]])}
    model.eval()
    with torch.no_grad():
        scores = model.full_sort_scores(batch["histories"], batch["lengths"], batch["users"])
        y_pos = -scores.gather(1, batch["targets"][:, None])
        y_neg = -scores.gather(1, batch["neg_items"])
        expected = torch.relu(y_pos + model.margin - y_neg).mean()
        torch.testing.assert_close(model.loss(batch), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_the_short_term_metric_model_passes_the_gates_and_trains(sequences, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", SHORT_TERM_METRIC_PAPER), embedding_size=16, batch_size=64)
    folder = rendered(spec, tmp_path / "model")
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    result = train_in_process(folder, Path(sequences.path), tmp_path / "out",
                              ["trainer.max_epochs=2", "trainer.csv_logger=false"])
    assert result.status == "ok" and result.epochs_run == 2 and 0.0 <= result.test["ndcg@10"] <= 1.0


PAIR_CNN_PAPER = [
    ["PairConv: Next-Item Recommendation with Convolutions over Item Pairs",
     "Abstract. We propose PairConv, a sequential recommender that applies a two-dimensional convolutional "
     "network to every pair of the recently consumed items.",
     "1 INTRODUCTION",
     "Markov chains and recurrent networks model sequences of items. Convolutional sequence embeddings slide "
     "filters over the matrix of recent item embeddings."],
    ["3 METHOD",
     "3.1 Embeddings",
     "Users and items are embedded into d-dimensional vectors, and for user u at step t we look up the embeddings "
     "of the previous L items.",
     "3.2 Pair Tensor",
     "Every ordered pair of the L items is represented by the concatenation of its two item embeddings, which "
     "gives an L x L x 2d tensor that we treat as an image feature map.",
     "3.3 Convolutional Network",
     "The tensor is fed to a small 2D CNN of two blocks: each block applies a 1 x 1 convolution and then a 3 x 3 "
     "convolution without padding, each followed by batch normalization and ReLU. A fully-connected layer with "
     "dropout maps the result to a sequence vector v, which is concatenated with the user embedding and projected "
     "to an output layer with one node per item.",
     "3.4 Training",
     "We adopt the binary cross-entropy loss with sampled negative items for each target, optimized by Adam."],
    ["4 EXPERIMENTS",
     "We use the MovieLens 1M dataset and report MAP, Precision@10 and Recall@10. The embedding size is set to "
     "16, the number of negative samples is set to 3 and the sequence length L is set to 5."],
]
# convolutions over the embedding matrix itself (horizontal and vertical filters): no pairs of items
MATRIX_CNN_PAPER = [[text.replace("Every ordered pair of the L items is represented by the concatenation of its two "
                                  "item embeddings, which gives an L x L x 2d tensor that we treat as an image "
                                  "feature map.",
                                  "The L item embeddings form an L x d matrix that we treat as an image.")
                     .replace("The tensor is fed to a small 2D CNN of two blocks: each block applies a 1 x 1 "
                              "convolution and then a 3 x 3 convolution without padding, each followed by batch "
                              "normalization and ReLU.",
                              "Horizontal convolutional filters slide over rows of the matrix and vertical "
                              "convolutional filters over its columns.")
                     .replace("a two-dimensional convolutional network to every pair of the recently consumed "
                              "items", "convolutional filters to the recently consumed items")
                     for text in page] for page in PAIR_CNN_PAPER]
PAIR_CNN = ["item_embedding", "pairwise_convolution", "item_output_layer"]


def test_a_pair_cnn_paper_is_read_into_its_blocks_and_is_faithful(tmp_path):
    spec = spec_of(tmp_path, PAIR_CNN_PAPER)
    assert (spec.family, spec.task, spec.loss, spec.model_name) == ("sequential", "topk", "bce", "PairConv")
    assert [block.block for block in spec.architecture] == PAIR_CNN
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["pairwise encoding of the previous items with a 2-D convolutional network"] == "pairwise_convolution"
    assert spec.reference is None and composition_class("sequential", PAIR_CNN, spec.loss) is None
    assert render.trained_loss(spec) == "bce" and not spec.custom
    assert (spec.hp("embedding_size"), spec.hp("negative_samples"), spec.hp("max_seq_length")) == (16, 3, 5)


def test_a_matrix_convolution_paper_is_not_read_as_the_pair_cnn(tmp_path):
    spec = spec_of(tmp_path, MATRIX_CNN_PAPER)
    assert "pairwise_convolution" not in [block.block for block in spec.architecture]


def test_the_pair_cnn_scores_an_output_layer_over_the_cnn_of_the_pair_tensor_and_the_user(sequences, tmp_path):
    """y = W [v; e_u] + b with v = Dropout(ReLU(FC(CNN(T)))), T[:, i, j] = [e_i; e_j], built by hand."""
    spec = with_values(spec_of(tmp_path / "paper", PAIR_CNN_PAPER), embedding_size=4, hidden_size=3)
    folder = rendered(spec, tmp_path / "model")
    model = build_model(folder, load_config(folder), load_sequences(sequences.path)).eval()
    histories, lengths, users = torch.tensor([[3, 7, 2, 9, 0]]), torch.tensor([4]), torch.tensor([5])
    e = model.item_embedding.weight[histories[0]]
    pairs = torch.stack([torch.stack([torch.cat([e[i], e[j]]) for j in range(5)], dim=-1) for i in range(5)],
                        dim=-2)  # [2d, L, L]
    with torch.no_grad():
        v = torch.relu(model.sequence_layer(model.pair_convolutions(pairs[None]).flatten(1)))
        state = torch.cat([v[0], model.user_embedding.weight[5]])
        expected = model.output_layer.weight @ state + model.output_layer.bias
        torch.testing.assert_close(model.full_sort_scores(histories, lengths, users)[0], expected)
    kernels = [layer.kernel_size for layer in model.pair_convolutions if isinstance(layer, torch.nn.Conv2d)]
    assert kernels == [(1, 1), (3, 3), (1, 1), (3, 3)]  # two blocks of a 1 x 1 and a 3 x 3 convolution


@pytest.mark.slow
def test_the_pair_cnn_passes_the_gates_and_trains(sequences, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", PAIR_CNN_PAPER), embedding_size=8, hidden_size=8, batch_size=64)
    folder = rendered(spec, tmp_path / "model")
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    result = train_in_process(folder, Path(sequences.path), tmp_path / "out",
                              ["trainer.max_epochs=2", "trainer.csv_logger=false"])
    assert result.status == "ok" and result.epochs_run == 2 and 0.0 <= result.test["ndcg@10"] <= 1.0
