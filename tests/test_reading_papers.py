"""How papers state settings and metrics in running prose, read from fixture papers written here (never the development
papers): a search grid with the value chosen from it ("tuned in {...} and set to 0.001", "the optimal value is 512",
"where 64 yields the best result"), a grid with no stated choice (a note, no value), a metric printed with a
"top-N" cut-off ("F1@top-5") and metrics named in words with the cut-off stated apart ("at rank 10", "truncated the
ranked list at 10")."""

from __future__ import annotations

import re

import pytest

from paper_autotrain.stages.extract.grids import grid_members, in_grid
from paper_autotrain.stages.extract.hparams import find_grids
from paper_autotrain.stages.extract.numbers import NUM, parse_number
from paper_autotrain.stages.extract.text import Sentence, plain_math
from tests.fixture_papers import spec_of
from tests.pdf_fixtures import TableBlock

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


# --- numbers as papers print them, settings named with their symbol or with no verb, ranges swept ----------------


@pytest.mark.parametrize("printed", ["0.001", "1e-3", "1e−3", "10^-3", "10-3", "1 × 10-3", "1×10^{-3}"])
def test_a_learning_rate_printed_any_way_reads_as_one_number(printed):
    match = re.fullmatch(NUM, printed)
    assert match and parse_number(match.group("v")) == pytest.approx(0.001)


def test_the_mantissa_of_an_exponent_the_text_lost_is_no_value():
    # a glyph the text layer lost ("1e?3", "1 × 10?4") must give no number, not the mantissa 1
    assert all(re.match(NUM, text) is None for text in ("1e?3", "1 × 10?4", "2.5e?4"))
    assert plain_math("𝑑 = 64, 1𝑒-4 and 𝜆") == "d = 64, 1e-4 and λ"


def stated(spec) -> dict:
    return {k: h.value for k, h in spec.hyperparameters.items() if h.source == "paper"}


@pytest.mark.parametrize(
    ("sentences", "expected"),
    [
        # the symbol a paper names a count by, between the name and the value
        (("The number of layers L is set to 3, and the number of training epochs T is 200.",),
         {"n_layers": 3, "epochs": 200}),
        (("The number of propagation layers K is 3.", "The dimension of the latent space d is set to 64, and the "
          "number of negative samples for each positive is 4."),
         {"n_layers": 3, "embedding_size": 64, "negative_samples": 4}),
        # named right before the value in a sentence about training, with no verb; "as" for the dropout
        (("We optimize GridRec by Adam with learning rate 0.001 and batch size 256.",
          "We set the weight decay as 1e-5 and the dropout rate as 0.2."),
         {"learning_rate": 0.001, "batch_size": 256, "l2_reg": 1e-5, "dropout": 0.2}),
        # written as a power of ten whose superscript the text layer flattened
        (("The learning rate is set to 10-3 and the L2 regularization weight is set to 1 × 10-4.",),
         {"learning_rate": 0.001, "l2_reg": 1e-4}),
    ],
)
def test_settings_with_a_symbol_or_no_verb(tmp_path, sentences, expected):
    spec = spec_of(tmp_path, paper(*sentences, "We report Recall@20 and NDCG@20."))
    assert {k: v for k, v in stated(spec).items() if k in expected} == expected


@pytest.mark.parametrize(
    ("sentence", "key", "grid"),
    [
        ("We vary the embedding size in the range of 16 to 128.", "embedding_size", "the range 16 to 128"),
        ("We trained GridRec with a different number of latent factors, ranging from 10 to 200.", "embedding_size",
         "the range 10 to 200"),
        # a list of settings, or a comparison of them, is no setting either
        ("We train GridRec with batch size 256, 512 and 1024 on each dataset.", "batch_size", None),
        ("GridRec trained with embedding size 16 performs worse than with embedding size 64.", "embedding_size", None),
        # a glyph lost in the exponent: no value rather than 1 (the fixture's font has no minus sign)
        ("The learning rate is set to 1e−3 for GridRec.", "learning_rate", None),
    ],
)
def test_a_range_swept_or_a_value_unread_is_no_setting(tmp_path, sentence, key, grid):
    spec = spec_of(tmp_path, paper(sentence, "We report Recall@20 and NDCG@20."))
    assert spec.hyperparameters[key].source != "paper"
    notes = [note for note in spec.unclear if note.startswith(f"{key}: the paper searches")]
    assert bool(notes) == (grid is not None) and (grid is None or grid in notes[0])
    if grid:  # the default's note says the paper searched it, not that it is silent
        assert any(note.startswith(f"{key} searched without a stated choice") for note in spec.unclear)


def test_grids_searched_respectively_each_to_its_setting():
    text = ("The learning rate and the L2 coefficient are searched in {0.0005, 0.001, 0.005} and {1e-5, 1e-4, 1e-3}, "
            "respectively.")
    notes = find_grids([Sentence(page=6, text=text, order=0)], set())
    assert [note.split(" without")[0] for note in notes] == [
        "learning_rate: the paper searches {0.0005, 0.001, 0.005}", "l2_reg: the paper searches {1e-5, 1e-4, 1e-3}"]


def test_k_is_a_grid_symbol_only_on_its_own():
    sentences = [Sentence(page=3, text="We initialize the networks as in [Zhang et al., 2016], with dropout.",
                          order=0),
                 Sentence(page=5, text="For WMF we tune the latent representation dimension K ∈ {100, 200}.",
                          order=1),
                 Sentence(page=6, text="We test K in {1, 2, 3, 4} and report the best.", order=2)]
    notes = find_grids(sentences, set())
    assert len(notes) == 1 and notes[0].startswith("n_layers: the paper searches {1, 2, 3, 4}")


# --- settings and results tables ------------------------------------------------------------------------------

SETTINGS_CAPTION = "Table 3: Hyperparameter settings of GridRec, chosen on the validation set of each dataset."


def table_paper(*blocks) -> list[list]:
    return [OPENING, ["4 Experiments", "We run all experiments on MovieLens-1M and Gowalla, two public datasets. "
                      "MovieLens-1M holds movie ratings and Gowalla holds check-ins. We report Recall@20 and NDCG@20.",
                      "We implement GridRec in PyTorch.", *blocks]]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["Hyperparameter", "Value"], ["Learning rate", "0.001"], ["Batch size", "1024"], ["Embedding size", "64"],
          ["Number of layers L", "3"], ["Dropout", "0.1"]],
         {"learning_rate": 0.001, "batch_size": 1024, "embedding_size": 64, "n_layers": 3, "dropout": 0.1}),
        # one column per dataset: a value that differs is a per-dataset mapping
        ([["Hyperparameter", "MovieLens-1M", "Gowalla"], ["Learning rate", "0.001", "0.0005"],
          ["Embedding size", "64", "64"], ["L2", "1e-4", "1e-5"]],
         {"learning_rate": {"MovieLens-1M": 0.001, "Gowalla": 0.0005}, "embedding_size": 64,
          "l2_reg": {"MovieLens-1M": 1e-4, "Gowalla": 1e-5}}),
        # one column per method: the paper's own
        ([["Hyperparameter", "LightGCN", "GridRec"], ["Learning rate", "0.005", "0.001"],
          ["Batch size", "2048", "512"]], {"learning_rate": 0.001, "batch_size": 512}),
        # the compared methods' settings only, and a search space, give nothing
        ([["Hyperparameter", "BPRMF", "LightGCN"], ["Learning rate", "0.005", "0.001"], ["Batch size", "2048", "512"]],
         {}),
        ([["Hyperparameter", "Search space"], ["Learning rate", "{0.001, 0.005}"], ["Batch size", "{512, 1024}"]], {}),
    ],
)
def test_a_settings_table_with_one_row_per_setting(tmp_path, rows, expected):
    spec = spec_of(tmp_path, table_paper(TableBlock(SETTINGS_CAPTION, rows)))
    keys = {"learning_rate", "batch_size", "embedding_size", "n_layers", "dropout", "l2_reg"}
    assert {k: v for k, v in stated(spec).items() if k in keys} == expected
    if expected:
        assert spec.hyperparameters[next(iter(expected))].evidence.startswith("p2: Table 3, ")


def test_a_table_of_results_over_settings_is_no_settings_table(tmp_path):
    rows = [["Setting", "Recall@20"], ["Learning rate", "0.1830"], ["Dropout", "0.1802"]]
    spec = spec_of(tmp_path, table_paper(TableBlock("Table 4: Performance of GridRec with different settings.",
                                                    rows)))
    assert not {"learning_rate", "dropout"} & set(stated(spec))


RESULTS_CAPTION = "Table 2: Overall performance comparison. The best results are in bold."
OURS = {("MovieLens-1M", "Recall@20", 0.2671), ("MovieLens-1M", "NDCG@20", 0.2519), ("Gowalla", "Recall@20", 0.1902),
        ("Gowalla", "NDCG@20", 0.1611)}


@pytest.mark.parametrize(
    "rows",
    [
        # datasets as column groups over the metrics, the method last
        [["", "MovieLens-1M", "", "Gowalla", ""], ["Method", "Recall@20", "NDCG@20", "Recall@20", "NDCG@20"],
         ["BPRMF", "0.2153", "0.2175", "0.1291", "0.1109"], ["LightGCN", "0.2576", "0.2427", "0.1830", "0.1554"],
         ["GridRec", "0.2671", "0.2519", "0.1902", "0.1611"]],
        # datasets and metrics as rows, the methods as columns with the improvement last
        [["Dataset", "Metric", "BPRMF", "LightGCN", "GridRec", "Improv."],
         ["MovieLens-1M", "Recall@20", "0.2153", "0.2576", "0.2671", "3.69%"],
         ["", "NDCG@20", "0.2175", "0.2427", "0.2519", "3.79%"],
         ["Gowalla", "Recall@20", "0.1291", "0.1830", "0.1902", "3.93%"],
         ["", "NDCG@20", "0.1109", "0.1554", "0.1611", "3.67%"]],
        # the method marked "(ours)" with significance marks, a row of improvements under it
        [["", "MovieLens-1M", "", "Gowalla", ""], ["Method", "Recall@20", "NDCG@20", "Recall@20", "NDCG@20"],
         ["LightGCN", "0.2576", "0.2427", "0.1830", "0.1554"],
         ["GridRec (ours)", "0.2671*", "0.2519*", "0.1902*", "0.1611*"],
         ["Improv.", "3.69%", "3.79%", "3.93%", "3.67%"]],
    ],
)
def test_a_results_table_either_way_round(tmp_path, rows):
    spec = spec_of(tmp_path, table_paper(TableBlock(RESULTS_CAPTION, rows)))
    assert {(r.dataset, r.metric, r.value) for r in spec.reported} == OURS
    assert all(r.table == "Table 2" for r in spec.reported)


def test_a_value_per_dataset_written_with_on_is_noted(tmp_path):
    spec = spec_of(tmp_path, paper("The L2 regularization coefficient is set to 1e-4 on MovieLens-1M and 1e-5 on "
                                   "Gowalla.", "We report Recall@20 and NDCG@20."))
    assert stated(spec)["l2_reg"] == 1e-4
    assert any(note.startswith("l2_reg differs by dataset") for note in spec.unclear)


# --- the methods a paper compares with ---------------------------------------------------------------------------

def test_the_baselines_are_the_results_tables_methods_not_its_variants_or_the_ones_left_out(tmp_path):
    results = [["", "MovieLens-1M", "", "Gowalla", ""], ["Method", "Recall@20", "NDCG@20", "Recall@20", "NDCG@20"],
               ["BPRMF", "0.2153", "0.2175", "0.1291", "0.1109"], ["HOP-Rec", "0.2301", "0.2250", "0.1502", "0.1320"],
               ["SVD++", "0.2290", "0.2240", "0.1488", "0.1301"], ["LightGCN", "0.2576", "0.2427", "0.1830", "0.1554"],
               ["GridRec", "0.2671", "0.2519", "0.1902", "0.1611"]]
    ablation = [["Variant", "Recall@20", "NDCG@20"], ["GridRec-Attn", "0.2601", "0.2455"],
                ["GridRec-Linear", "0.2588", "0.2430"], ["GridRec", "0.2671", "0.2519"]]
    spec = spec_of(tmp_path, table_paper(
        "FISM improves upon SLIM by factorizing the item-item similarity matrix, hence we do not compare to SLIM.",
        TableBlock(RESULTS_CAPTION, results), TableBlock("Table 4: Ablation study of GridRec.", ablation)))
    assert [(b.name, b.recbole) for b in spec.baselines_in_paper] == [
        ("BPRMF", "BPR"), ("HOP-Rec", None), ("SVD++", None), ("LightGCN", "LightGCN")]


def test_without_a_results_table_the_named_baselines_leave_out_the_excluded(tmp_path):
    spec = spec_of(tmp_path, paper("We compare GridRec with BPR and SVD++ on MovieLens-1M. FISM improves upon SLIM, "
                                   "hence we do not compare to SLIM.", "We report Recall@20 and NDCG@20."))
    assert [b.name for b in spec.baselines_in_paper] == ["BPR", "SVD++"]
