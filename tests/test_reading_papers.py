"""How papers state settings and metrics in running prose, read from fixture papers written here (never the development
papers): a search grid with the value chosen from it ("tuned in {...} and set to 0.001", "the optimal value is 512",
"where 64 yields the best result"), a grid with no stated choice (a note, no value), a metric printed with a
"top-N" cut-off ("F1@top-5") and metrics named in words with the cut-off stated apart ("at rank 10", "truncated the
ranked list at 10")."""

from __future__ import annotations

import pytest

from paper_autotrain.stages.extract.grids import grid_members, in_grid
from tests.fixture_papers import spec_of

OPENING = [
    "GridRec: Neural Collaborative Ranking",
    "Abstract. We propose GridRec, a neural recommender for implicit feedback.",
    "1 Introduction",
    "Recommender systems rank items for users. GridRec learns user and item embeddings, scores a pair by their "
    "inner product and is trained with the BPR loss on sampled negative items.",
]


def paper(*experiments: str) -> list[list[str]]:
    return [OPENING, ["4 Experiments", "We run all experiments on MovieLens-1M and Gowalla, two public datasets. "
                      "MovieLens-1M holds movie ratings and Gowalla holds check-ins.", *experiments]]


SETTINGS = (
    "4.2 Parameter Settings. We implement GridRec in PyTorch and optimize it with Adam. The learning rate is tuned in "
    "{0.0001, 0.0005, 0.001, 0.005} and finally set to 0.001. The batch size is searched from {256, 512, 1024}, and "
    "the optimal value is 512. We tune the dropout ratio in [0, 0.1, 0.2, 0.5]; the best setting is 0.2. The "
    "embedding size is selected among {16, 32, 64, 128}, where 64 yields the best result. The L2 regularization "
    "coefficient is searched in {1e-6, 1e-5, ..., 1e-2}.",
    "The best performance is obtained with 1e-4 on both datasets.",
)


def test_a_grid_and_the_value_chosen_from_it_are_the_papers_setting(tmp_path):
    spec = spec_of(tmp_path, paper(*SETTINGS, "We report Recall@20 and NDCG@20."))
    stated = {k: h.value for k, h in spec.hyperparameters.items() if h.source == "paper"}
    assert stated["learning_rate"] == 0.001 and stated["batch_size"] == 512 and stated["dropout"] == 0.2
    assert stated["embedding_size"] == 64
    # the choice in the next sentence, inside a grid written with an ellipsis
    assert stated["l2_reg"] == 1e-4
    assert spec.hyperparameters["batch_size"].evidence.startswith("p2: ")
    assert not any(note.startswith(("learning_rate: the paper searches", "l2_reg: the paper searches"))
                   for note in spec.unclear)


@pytest.mark.parametrize(
    ("sentence", "key"),
    [
        # no choice stated: the grid stays a note, the family default is used
        ("The batch size is searched from {256, 512, 1024} on the validation set.", "batch_size"),
        # the number after the grid is another setting's, though a member of the grid
        ("The embedding size is selected among {16, 32, 64}, and the number of epochs is set to 64.",
         "embedding_size"),
        ("The embedding size is selected among {16, 32, 64}, and the batch size is fixed to 64.", "embedding_size"),
        # a value outside the grid is no choice from it
        ("The batch size is searched from {256, 512, 1024} and set to 2000 for the larger dataset.", "batch_size"),
    ],
)
def test_a_grid_without_a_choice_from_it_states_no_value(tmp_path, sentence, key):
    spec = spec_of(tmp_path, paper(sentence, "We report Recall@20 and NDCG@20."))
    assert spec.hyperparameters[key].source != "paper"
    assert any(note.startswith(f"{key}: the paper searches") for note in spec.unclear)


def test_grid_members_and_an_elided_grid():
    assert grid_members("{1e-6, 1e-5, · · · , 1e-2}") == ([1e-6, 1e-5, 1e-2], True)
    assert grid_members("[128, 256, 512, 1024]") == ([128.0, 256.0, 512.0, 1024.0], False)
    assert in_grid(1e-4, [1e-6, 1e-5, 1e-2], True) and not in_grid(1e-4, [1e-6, 1e-5, 1e-2], False)
    assert not in_grid(1.0, [1e-6, 1e-2], True)


@pytest.mark.parametrize(
    ("sentences", "metrics"),
    [
        (("Performance is measured by Hit Ratio (HR) and Normalized Discounted Cumulative Gain (NDCG) at rank 10.",),
         {"HR@10", "NDCG@10"}),
        (("We evaluate the ranked list by the hit ratio and NDCG.", "We truncated the ranked list at 10 for both "
          "metrics."), {"HR@10", "NDCG@10"}),
        # a cut-off printed as "top-N" keeps its printed form
        (("The recommendation quality is measured as F1@top-5 on the test set.",), {"F1@top-5"}),
    ],
)
def test_metrics_with_the_cut_off_as_papers_state_it(tmp_path, sentences, metrics):
    spec = spec_of(tmp_path, paper(*sentences))
    assert set(spec.metrics) == metrics


@pytest.mark.parametrize(
    ("sentences", "expected"),
    [
        # several settings in one statement, each value to its own name
        (("The embedding size and the batch size are set to 64 and 512, respectively.",),
         {"embedding_size": 64, "batch_size": 512}),
        (("We set the learning rate, batch size and dropout ratio to 0.001, 1024 and 0.1, respectively.",),
         {"learning_rate": 0.001, "batch_size": 1024, "dropout": 0.1}),
        (("Both the hidden size and the embedding size are set to 100.",), {"hidden_size": 100, "embedding_size": 100}),
        # "fixed at", heads counted in a list of parts, the number of epochs stated plainly or as a cap
        (("The dimension of embeddings is fixed at 128.", "We use 2 layers and 4 attention heads.",
          "The number of training epochs is 50."), {"embedding_size": 128, "n_layers": 2, "n_heads": 4, "epochs": 50}),
        (("We train for at most 100 epochs with early stopping on the validation set.",), {"epochs": 100}),
    ],
)
def test_settings_stated_together_or_plainly(tmp_path, sentences, expected):
    spec = spec_of(tmp_path, paper(*sentences, "We report Recall@20 and NDCG@20."))
    stated = {k: h.value for k, h in spec.hyperparameters.items() if h.source == "paper" and k in expected}
    assert stated == expected


def test_settings_listed_for_the_baselines_are_not_the_papers(tmp_path):
    spec = spec_of(tmp_path, paper("For all baselines, the embedding size and the batch size are set to 32 and 256, "
                                   "respectively.", "We report Recall@20 and NDCG@20."))
    assert spec.hyperparameters["embedding_size"].source != "paper"
    assert spec.hyperparameters["batch_size"].source != "paper"


def results_paper(*results: str) -> list[list[str]]:
    return [OPENING, ["4 Experiments", "We conduct experiments on the Gowalla dataset and the Yelp2018 dataset. Both "
                      "the Gowalla dataset and the Yelp2018 dataset are split 8:1:1.",
                      "We report Recall@20 and NDCG@20 over all items.", *results]]


def test_results_stated_in_running_prose(tmp_path):
    spec = spec_of(tmp_path, results_paper(
        "On Gowalla, GridRec achieves a Recall@20 of 0.1830 and an NDCG@20 of 0.1550, while LightGCN achieves a "
        "Recall@20 of 0.1799.", "GridRec improves Recall@20 over LightGCN by 1.7% on Yelp2018."))
    got = {(r.dataset, r.metric, r.value) for r in spec.reported}
    # each metric its own number; the baseline's number and the relative gain are not the method's
    assert got == {("Gowalla", "Recall@20", 0.183), ("Gowalla", "NDCG@20", 0.155)}
    # numbers in the text for one dataset leave the paper's other datasets in place
    assert spec.datasets == ["Gowalla", "Yelp2018"]
