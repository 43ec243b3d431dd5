"""extract.run with the rules extractor on fixture papers and on the shipped example paper."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import Page, PaperDoc, PaperMeta
from paper_autotrain.stages import extract, parse, render
from tests.pdf_fixtures import bundle_for, write_pdf

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "papers" / "tinyprop.pdf"
RULES = {"name": "rules", "hparams": {}}
EVIDENCE = re.compile(r"^p\d+: \S")

FIXTURE_PAGES = [
    [
        "PropNet: Simple Propagation for Recommendation",
        "Abstract. We propose a new model named PropNet for collaborative filtering. PropNet propagates "
        "embeddings on the user-item graph with light graph convolution and no feature transformation.",
        "1 INTRODUCTION",
        "Graph convolution networks help recommendation on the user-item graph.",
    ],
    [
        "2 METHOD",
        "The final embedding is the layer combination of all layers and the score is the inner product.",
        "We employ the Bayesian Personalized Ranking (BPR) loss, a pairwise loss.",
        "3 EXPERIMENTS",
        "3.1 Settings",
        "We use the Gowalla and Yelp2018 datasets. The Gowalla data is large. The Yelp2018 data is sparse.",
        "We report Recall@20 and NDCG@20.",
        "The embedding size is fixed to 64 for all models. We optimize PropNet with Adam and use a learning "
        "rate of 0.001. The batch size is searched in {512, 1024, 2048}. We train for 500 epochs.",
    ],
]


def model_params(spec) -> dict:
    """The block parameters the rendered model is built with (render reads them from the hyperparameters)."""
    return render.resolve_block_params(spec, render.base_for(spec).blocks)[0]


def _doc_from_pdf(path: Path) -> PaperDoc:
    bundle, folder = bundle_for(path)
    return parse.run(bundle, folder, {"max_pages": 60, "max_mb": 50})


@pytest.fixture(scope="module")
def fixture_doc(tmp_path_factory) -> PaperDoc:
    return _doc_from_pdf(write_pdf(tmp_path_factory.mktemp("paper") / "propnet.pdf", FIXTURE_PAGES))


def test_family_name_loss_and_quoted_hyperparameters(fixture_doc):
    spec = extract.run(fixture_doc, RULES)
    assert (spec.family, spec.task, spec.model_name, spec.loss) == ("graph", "topk", "PropNet", "bpr")
    expected = {"embedding_size": 64, "learning_rate": 0.001, "epochs": 500, "optimizer": "adam"}
    for key, value in expected.items():
        entry = spec.hyperparameters[key]
        assert (entry.value, entry.source) == (value, "paper"), key
        assert EVIDENCE.match(entry.evidence) and len(entry.evidence.split()) <= 26
    assert spec.hyperparameters["embedding_size"].evidence.startswith("p2: The embedding size is fixed to 64")
    assert spec.datasets == ["Gowalla", "Yelp2018"]
    assert spec.metrics == ["Recall@20", "NDCG@20"]


def test_grid_values_are_not_paper_values(fixture_doc):
    spec = extract.run(fixture_doc, RULES)
    batch = spec.hyperparameters["batch_size"]
    assert batch.source == "default" and batch.evidence is None
    assert any(note.startswith("batch_size: the paper searches {512, 1024, 2048}") for note in spec.unclear)


def test_defaults_fill_what_the_paper_leaves_open(fixture_doc):
    spec = extract.run(fixture_doc, RULES)
    for key in ("n_layers", "l2_reg", "negative_samples"):
        assert spec.hyperparameters[key].source == "default"
        assert any(note.startswith(f"{key} not stated in the paper") for note in spec.unclear)
    assert spec.hp("n_layers") == 3
    blocks = [b.model_dump() for b in spec.architecture]  # each value once: the blocks keep structural words only
    assert blocks == [{"block": "embedding"}, {"block": "light_propagation", "combine": "mean"}, {"block": "dot_score"}]
    assert model_params(spec) == {"embedding_size": 64, "n_layers": 3}


def test_user_overrides_win_and_blocks_follow(fixture_doc):
    spec = extract.run(fixture_doc, {"name": "rules", "hparams": {"learning_rate": 0.01, "n_layers": 2}})
    assert spec.hyperparameters["learning_rate"].model_dump() == {
        "value": 0.01,
        "source": "user",
        "evidence": None,
    }
    assert model_params(spec)["n_layers"] == 2


def test_unknown_extractor_and_hyperparameter_are_user_errors(fixture_doc):
    with pytest.raises(UserError, match="rules"):
        extract.run(fixture_doc, {"name": "magic"})
    with pytest.raises(UserError, match="learning_rat"):
        extract.run(fixture_doc, {"name": "rules", "hparams": {"learning_rat": 0.1}})


def test_unknown_method_goes_to_custom_not_a_wrong_block():
    text = (
        "QuantumRec: Entangled Sequential Recommendation\nWe propose a new model named QuantumRec for "
        "sequential recommendation of the next item in a session. It uses quantum circuits over the "
        "sequence of items and is trained with binary cross-entropy."
    )
    doc = PaperDoc(
        meta=PaperMeta(key="q", title="QuantumRec: Entangled Sequential Recommendation"),
        pages=[Page(number=1, text=text)],
    )
    spec = extract.run(doc, RULES)
    assert spec.family == "sequential" and spec.model_name == "QuantumRec" and spec.loss == "bce"
    assert spec.architecture == []
    assert [part.name for part in spec.custom] == ["unrecognised part of the method"]
    assert spec.fidelity.verdict == "partial" and spec.fidelity.missing == ["unrecognised part of the method"]
    assert spec.reference is None
    assert any("not mapped to library blocks" in note for note in spec.unclear)


def test_a_model_composed_from_its_components_carries_no_not_mapped_note(tmp_path):
    """The first guess maps no known composition for DMF; the component inventory then builds it whole."""
    from tests.fixture_papers import spec_of
    from tests.test_classic_papers import PAPERS

    spec = spec_of(tmp_path, PAPERS["DMF"][0])
    assert spec.fidelity.verdict == "faithful" and spec.architecture and not spec.custom
    assert not any("not mapped to library blocks" in note for note in spec.unclear)


def test_neumf_shaped_paper_reads_tower_and_negatives():
    text = (
        "We present a neural matrix factorization model NeuMF that fuses GMF, generalized matrix "
        "factorization, and an MLP by concatenation. NeuMF is trained with the binary cross-entropy loss. "
        "We sampled four negative instances per positive instance. Without special mention, we employed "
        "three hidden layers for MLP; for example, if the size of predictive factors is 8, then the "
        "architecture of the neural CF layers is 32 -> 16 -> 8, and the embedding size is 16. We tested "
        "the learning rate of [0.0001, 0.0005, 0.001]. NeuMF is optimized with mini-batch Adam."
    )
    doc = PaperDoc(meta=PaperMeta(key="n", title="Neural Recommendation"), pages=[Page(number=1, text=text)])
    spec = extract.run(doc, RULES)
    assert spec.family == "general" and spec.loss == "bce" and spec.model_name == "NeuMF"
    assert (
        spec.hp("negative_samples") == 4 and spec.hp("n_layers") == 3 and spec.hp("mlp_layers") == [32, 16, 8]
    )
    # "if ... is 16" is an example; left open, the GMF width is the tower's last layer (the predictive factors)
    assert spec.hyperparameters["embedding_size"].model_dump() == {"value": 8, "source": "default", "evidence": None}
    assert spec.hyperparameters["learning_rate"].source == "default"
    assert [b.model_dump() for b in spec.architecture] == [
        {"block": "gmf"}, {"block": "mlp_tower", "activation": "relu"}, {"block": "neumf_fusion"},
    ]
    assert model_params(spec) == {"gmf_dim": 8, "mlp_layers": [32, 16, 8], "dropout": 0.0}


def test_an_open_learning_rate_follows_the_stated_optimizer():
    text = ("We propose BPR-MF, matrix factorization learned with the BPR loss, a pairwise ranking loss. "
            "The model is learned by stochastic gradient descent (SGD) on bootstrap-sampled triples.")
    doc = PaperDoc(meta=PaperMeta(key="b", title="Pairwise Ranking"), pages=[Page(number=1, text=text)])
    spec = extract.run(doc, RULES)
    assert spec.hyperparameters["optimizer"].model_dump()["value"] == "sgd"
    assert spec.hyperparameters["learning_rate"].model_dump() == {"value": 50.0, "source": "default", "evidence": None}
    adam = extract.run(doc, {"name": "rules", "hparams": {"optimizer": "adam"}})
    assert adam.hp("learning_rate") == 0.001 and adam.hyperparameters["learning_rate"].source == "default"


def test_shipped_example_paper_is_read_correctly():
    spec = extract.run(_doc_from_pdf(EXAMPLE), RULES)
    assert (spec.family, spec.model_name, spec.loss) == ("graph", "LightGCN", "bpr")
    assert spec.paper.title.startswith("LightGCN:")
    expected = {
        "embedding_size": 32,
        "learning_rate": 0.005,
        "batch_size": 2048,
        "n_layers": 2,
        "l2_reg": 1e-4,
        "optimizer": "adam",
        "epochs": 40,
    }
    for key, value in expected.items():
        assert spec.hyperparameters[key].value == value, key
        assert spec.hyperparameters[key].source == "paper"
        assert EVIDENCE.match(spec.hyperparameters[key].evidence)
    assert spec.datasets == ["MovieLens-100K"]
    assert spec.metrics == ["Recall@20", "NDCG@20"]
    assert {(r.metric, r.value) for r in spec.reported} == {("Recall@20", 0.3204), ("NDCG@20", 0.2869)}
    assert {b.name for b in spec.baselines_in_paper} >= {"BPR-MF", "NGCF", "ItemKNN"}
    assert [b.block for b in spec.architecture] == ["embedding", "light_propagation", "dot_score"]
    assert model_params(spec) == {"embedding_size": 32, "n_layers": 2}


def test_methods_as_columns_table_and_per_part_optimizers():
    from paper_autotrain.schemas import Table

    rows = [
        ["Dataset", "Metric", "POP", "BPR", "OurRec"],
        ["", "HR@10", "0.1000", "0.2000", "0.3000"],
        ["Steam", "", "", "", ""],
        ["", "NDCG@10", "0.0500", "0.1000", "0.1500"],
        ["", "HR@10", "0.4000", "0.5000", "0.6000"],
        ["Gowalla", "", "", "", ""],
        ["", "NDCG@10", "0.2000", "0.2500", "0.3500"],
    ]
    text = (
        "OurRec: A Test\nWe propose a new model named OurRec for sequential recommendation of the next item. "
        "We use the binary cross-entropy loss. We used FTRL for the wide part and AdaGrad for the deep part "
        "of the model when we train it."
    )
    doc = PaperDoc(
        meta=PaperMeta(key="o", title="OurRec: A Test"),
        pages=[Page(number=1, text=text)],
        tables=[Table(page=1, caption="Table 2: Results.", rows=rows)],
    )
    spec = extract.run(doc, RULES)
    assert {(r.dataset, r.metric, r.value) for r in spec.reported} == {
        ("Steam", "HR@10", 0.3),
        ("Steam", "NDCG@10", 0.15),
        ("Gowalla", "HR@10", 0.6),
        ("Gowalla", "NDCG@10", 0.35),
    }
    assert all(r.table == "Table 2" for r in spec.reported)
    # two optimizers for two parts: none is taken as "the paper's", the family default stands in
    optimizer = spec.hyperparameters.get("optimizer")
    assert optimizer is None or optimizer.source != "paper"
    assert any(note.startswith("optimizer: the paper uses adagrad and ftrl") for note in spec.unclear)
    assert [b.name for b in spec.baselines_in_paper] == ["POP", "BPR"]


def _doc(title: str, pages: list[str], tables: list | None = None) -> PaperDoc:
    return PaperDoc(
        meta=PaperMeta(key="t", title=title),
        pages=[Page(number=i + 1, text=text) for i, text in enumerate(pages)],
        tables=tables or [],
    )


def test_settings_table_and_dataset_column():
    from paper_autotrain.schemas import Table

    rows = [["Dataset", "#Users"], ["CLIPS", "1000"], ["SHOP", "20"]]
    stats = Table(page=2, caption="Table 1: Statistics.", rows=rows)
    settings = Table(
        page=2,
        caption="Table 2: Best parameter settings per dataset.",
        rows=[
            ["Dataset", "Loss", "Mini-batch", "Dropout", "Learning rate"],
            ["CLIPS", "TOP1", "50", "0.5", "0.01"],
            ["CLIPS", "BPR", "500", "0.2", "0.05"],
            ["SHOP", "TOP1", "50", "0.4", "0.05"],
        ],
    )
    text = "We propose a new model named SeqNet for session-based recommendation. 3 EXPERIMENTS We use two datasets."
    spec = extract.run(_doc("SeqNet: Sessions", [text, "Results are in the tables."], [stats, settings]), RULES)
    assert spec.datasets == ["CLIPS", "SHOP"]
    assert (spec.hp("batch_size"), spec.hp("dropout"), spec.hp("learning_rate")) == (50, 0.5, 0.01)
    assert spec.hyperparameters["dropout"].value == {"CLIPS": 0.5, "SHOP": 0.4}  # one per dataset, as printed
    assert spec.hyperparameters["batch_size"].value == 50  # the same for every dataset: one value
    run = spec.for_dataset("shop")  # a run on SHOP uses SHOP's values
    assert (run.hp("dropout"), run.hp("learning_rate")) == (0.4, 0.05) and run.per_dataset == []
    other = spec.for_dataset("ml-100k")  # none of the paper's: the first dataset's, said so
    assert other.hp("dropout") == 0.5
    assert any(note.startswith("dropout is stated per dataset (CLIPS: 0.5, SHOP: 0.4), none of them ml-100k")
               for note in other.unclear)
    assert spec.hyperparameters["dropout"].evidence.startswith("p2: Table 2, Dropout: CLIPS 0.5, SHOP 0.4")
    assert any(note.startswith("dropout differs by dataset") for note in spec.unclear)
    assert any("several rows per dataset; the first row" in note for note in spec.unclear)
    assert "batch_size differs" not in " ".join(spec.unclear)


def test_sweep_table_is_not_a_settings_table():
    from paper_autotrain.schemas import Table

    rows = [["Dropout", "HR@10"], ["0.1", "0.5"], ["0.2", "0.6"]]
    sweep = Table(page=1, caption="Table 3: Effect of parameter settings.", rows=rows)
    text = "We propose a new model named SeqNet for session-based recommendation."
    spec = extract.run(_doc("SeqNet: Sessions", [text], [sweep]), RULES)
    assert spec.hyperparameters.get("dropout") is None or spec.hyperparameters["dropout"].source != "paper"


def test_symbol_defined_dimension_and_single_head_attention():
    pages = [
        "We propose a new model named AttnRec for sequential recommendation. Notation: d ∈N latent vector "
        "dimensionality n ∈N maximum sequence length. We build an embedding matrix M where d is the latent "
        "dimensionality. 3 EXPERIMENTS",
        "We consider latent dimensions d from {10, 20, 50}. Table 4 shows our default method (with d = 64). "
        "Performance with two heads is slightly worse than single-head attention in our case, since the "
        "small d differs from Transformer (d = 512 in Transformer). We sweep d = 10, d = 20 and d = 30 in Figure 2.",
    ]
    spec = extract.run(_doc("AttnRec: Attention", pages), RULES)
    assert spec.hp("embedding_size") == 64 and spec.hyperparameters["embedding_size"].evidence.startswith("p2: ")
    assert "with d = 64" in spec.hyperparameters["embedding_size"].evidence
    assert spec.hp("n_heads") == 1 and spec.hyperparameters["n_heads"].source == "paper"
    length = spec.hyperparameters.get("max_seq_length")
    assert length is None or length.source != "paper"  # 'n' is only defined in a notation table


def test_symbol_values_for_another_model_or_a_grid_are_not_taken():
    pages = [
        "We propose a new model named AttnRec for recommendation. Here d is the latent dimensionality. 3 EXPERIMENTS",
        "Transformers use a large d (d = 512 in Transformer). The grid is {d = 8, 16}.",
    ]
    spec = extract.run(_doc("AttnRec: Attention", pages), RULES)
    assert spec.hyperparameters["embedding_size"].source == "default"


def test_dataset_named_once_in_experiments_and_in_the_abstract():
    pages = [
        "WideNet: Joint Models\nWe evaluated the system on Google Play, a store with many apps.",
        "Our model trains on logged impressions with the logistic loss.",
        "RESULTS. On Google Play the wide and deep model is better.",
        "We thank the team.",
    ]
    spec = extract.run(_doc("WideNet: Joint Models", pages), RULES)
    assert spec.datasets == ["Google Play"]


def test_qualified_metric_header_and_prose_log_loss():
    from paper_autotrain.schemas import Table

    table = Table(
        page=2,
        caption="Table 1: Offline & online metrics of different models.",
        rows=[["Model", "Offline AUC", "Online Gain"], ["Wide", "0.726", "0%"], ["WideNet", "0.728", "+3.9%"]],
    )
    pages = [
        "We present a new model named WideNet for CTR prediction of apps on Google Play. "
        "4.3 Log Loss with Negative Sampling. It is trained with the log loss.",
        "5 EXPERIMENTS. We measure the AUC on Google Play data.",
    ]
    spec = extract.run(_doc("WideNet: Joint Models", pages, [table]), RULES)
    assert "Offline AUC" in spec.metrics and "AUC" in spec.metrics and "Logloss" not in spec.metrics
    assert [(r.dataset, r.metric, r.value) for r in spec.reported] == [("Google Play", "Offline AUC", 0.728)]


def test_best_numbers_from_a_table_the_caption_attributes_to_the_method():
    from paper_autotrain.schemas import Table

    rows = [
        ["", "", "With Pre-training", "", "Without Pre-training"],
        ["Factors", "HR@10", "NDCG@10", "HR@10", "NDCG@10"],
        ["", "", "MovieLens", "", ""],
        ["8", "0.684", "0.403", "0.688", "0.410"],
        ["64", "0.730", "0.447", "0.705", "0.426"],
        ["", "", "Pinterest", "", ""],
        ["8", "0.878", "0.555", "0.889", "0.560"],
        ["16", "0.880", "0.558", "0.871", "0.547"],
    ]
    table = Table(page=7, caption="Table 2: Performance of FusedCF with and without", rows=rows)
    text = (
        "We present a new model named FusedCF for collaborative filtering with implicit feedback. "
        "3 EXPERIMENTS. We use MovieLens and Pinterest and report HR@10 and NDCG@10."
    )
    spec = extract.run(_doc("FusedCF: Fusion", [text], [table]), RULES)
    got = {(r.dataset, r.metric, r.value) for r in spec.reported}
    assert got == {
        ("MovieLens", "HR@10", 0.73),
        ("MovieLens", "NDCG@10", 0.447),
        ("Pinterest", "HR@10", 0.88),
        ("Pinterest", "NDCG@10", 0.558),
    }  # the 'without' columns (0.889, 0.560) are an ablation, not the method
    assert all((r.variant or "").startswith("best over the table's rows: With Pre-training") for r in spec.reported)
    assert all(r.table == "Table 2" and r.evidence.startswith("p7: Table 2") for r in spec.reported)


def test_number_cells_and_dataset_variants():
    from paper_autotrain.stages.extract.lexicon import DATASET_PATTERNS
    from paper_autotrain.stages.extract.tables import _number

    assert [_number(c) for c in ("0.5853 (+15.55%)", "0.61 +2.1%", "+3.9%", "3.9%", "0.3*")] == [
        0.5853, 0.61, None, None, 0.3
    ]
    for name in ("MovieLens 1M", "MovieLens-1m", "ML-1M", "Amazon Beauty", "Million Song Dataset", "Criteo", "Avazu"):
        assert any(re.fullmatch(p, name) for p in DATASET_PATTERNS), name


def test_variants_compared_to_the_best_baseline_give_the_best_number_per_dataset():
    from paper_autotrain.schemas import Table

    rows = [
        ["", "CLIPS", "", "SHOP", ""],
        ["Loss / #Units", "", "", "", ""],
        ["", "Recall@20", "MRR@20", "Recall@20", "MRR@20"],
        ["TOP1 100", "0.5853 (+15.55%)", "0.2305 (+12.58%)", "0.6141 (+11.50%)", "0.3511 (+3.84%)"],
        ["TOP1 1000", "0.6206 (+22.53%)", "0.2693 (+31.49%)", "0.6624 (+20.27%)", "0.3891 (+15.08%)"],
        ["XENT 1000", "0.6322 (+24.82%)", "0.2467 (+20.47%)", "–", "–"],
    ]
    caption = "Table 3: Recall@20 and MRR@20 of our networks, compared to the best baseline (item-KNN)."
    baselines = Table(
        page=1,
        caption="Table 1: Recall@20 and MRR@20 of the baselines, compared to the best baseline.",
        rows=[
            ["", "CLIPS", "", "SHOP", ""],
            ["", "Recall@20", "MRR@20", "Recall@20", "MRR@20"],
            ["POP", "0.0050", "0.0012", "0.0499", "0.0117"],
        ],
    )
    stats = Table(page=1, caption="Table 0: Datasets.", rows=[["Dataset", "Events"], ["CLIPS", "9M"], ["SHOP", "3M"]])
    text = "We use a recurrent network for session-based recommendation. 3 EXPERIMENTS We report Recall@20 and MRR@20."
    tables = [stats, baselines, Table(page=2, caption=caption, rows=rows)]
    spec = extract.run(_doc("Sessions with Recurrent Networks", [text], tables), RULES)
    assert {(r.dataset, r.metric, r.value) for r in spec.reported} == {
        ("CLIPS", "Recall@20", 0.6322),
        ("CLIPS", "MRR@20", 0.2693),
        ("SHOP", "Recall@20", 0.6624),
        ("SHOP", "MRR@20", 0.3891),
    }
    assert all(r.table == "Table 3" and r.evidence.startswith("p2: Table 3") for r in spec.reported)
    shop = next(r for r in spec.reported if r.dataset == "SHOP" and r.metric == "MRR@20")
    assert shop.variant == "best over the table's rows: Loss / #Units TOP1 1000"


@pytest.mark.parametrize(
    ("sentence", "key", "value"),
    [
        ("The max sequence length is set to 50.", "max_seq_length", 50),
        ("The latent dimension is set to 64.", "embedding_size", 64),
        ("We use 2 self-attention heads.", "n_heads", 2),
        ("The number of hidden units was set to 100.", "hidden_size", 100),
        ("The dropout rate is set to 0.2.", "dropout", 0.2),
        ("The weight decay is 1e-4.", "l2_reg", 1e-4),
        ("We sample 4 negative items per positive.", "negative_samples", 4),
        ("The latent dimension of FM is 10.", "embedding_size", None),  # a compared method's setting
        ("Both towers have the hidden layers 256 -> 128 -> 64.", "mlp_layers", [256, 128, 64]),
        ("The tower has two layers, 200 → 80, with ReLU.", "mlp_layers", [200, 80]),
        ("The network structure is 64-32-16-8 for all datasets.", "mlp_layers", [64, 32, 16, 8]),
        ("We vary the number of layers over 1-3 in the tower.", "mlp_layers", None),  # a range, not sizes
        ("The architecture reaches 10-20-3.5 in the tower.", "mlp_layers", None),  # runs into a decimal
    ],
)
def test_hyperparameter_phrasings(sentence, key, value):
    from paper_autotrain.stages.extract.hparams import find_hyperparameters
    from paper_autotrain.stages.extract.text import Sentence

    found, _ = find_hyperparameters([Sentence(page=3, text=sentence, order=0)], "OurNet")
    assert (found[key].value if key in found else None) == value
    if value is not None:
        assert found[key].source == "paper" and found[key].evidence.startswith("p3: ")


SEQUENTIAL_ENCODER_TEXTS = {
    "self_attention_encoder": "The self-attention block attends to previous items. " * 6,
    "gru_encoder": "The GRU reads the session; gated recurrent units keep the state. GRU layers are stacked. " * 3,
    "caser_encoder": "Horizontal convolutional filters and vertical convolutional filters slide over the image. " * 3,
}


@pytest.mark.parametrize("encoder", sorted(SEQUENTIAL_ENCODER_TEXTS))
def test_the_most_mentioned_sequential_encoder_becomes_the_architecture(encoder):
    text = ("SeqNet: A Test\nWe propose a new model named SeqNet for sequential recommendation of the next item. "
            "We use the binary cross-entropy loss with one sampled negative item. "
            + SEQUENTIAL_ENCODER_TEXTS[encoder] + "A GRU baseline and a self-attention baseline are compared.")
    spec = extract.run(PaperDoc(meta=PaperMeta(key="s", title="SeqNet: A Test"), pages=[Page(number=1, text=text)]),
                       RULES)
    assert spec.family == "sequential"
    # SeqNet is a new name over a known encoder: the blocks are read, but nothing is claimed as SeqNet's model
    assert spec.fidelity.verdict == "partial" and spec.reference is None
    blocks = [b.block for b in spec.architecture]
    assert blocks[0] == "item_embedding" and encoder in blocks and blocks[-1] == "item_dot_score"
    if encoder == "caser_encoder":  # Caser's window is a handful of recent items unless the paper says otherwise
        assert "last_position" not in blocks
        assert (spec.hyperparameters["max_seq_length"].value, spec.hyperparameters["max_seq_length"].source) == (
            5, "default")
        caser = model_params(spec)  # filter counts the reference mapping hands to RecBole as well
        assert (caser["n_v"], caser["n_h"]) == (spec.hp("n_v"), spec.hp("n_h")) == (4, 16)
    else:
        assert blocks[2] == "last_position" and spec.hp("max_seq_length") == 50
