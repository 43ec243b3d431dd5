"""extract.run with the rules extractor on fixture papers and on the shipped example paper."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import Page, PaperDoc, PaperMeta
from paper_autotrain.stages import extract, parse
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
    blocks = [b.model_dump() for b in spec.architecture]
    assert blocks == [
        {"block": "embedding", "dim": 64},
        {"block": "light_propagation", "combine": "mean", "layers": 3},
        {"block": "dot_score"},
    ]


def test_user_overrides_win_and_blocks_follow(fixture_doc):
    spec = extract.run(fixture_doc, {"name": "rules", "hparams": {"learning_rate": 0.01, "n_layers": 2}})
    assert spec.hyperparameters["learning_rate"].model_dump() == {
        "value": 0.01,
        "source": "user",
        "evidence": None,
    }
    assert spec.architecture[1].params["layers"] == 2


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
    assert spec.custom and spec.custom[0].name == "QuantumRec model"
    assert any("not mapped to library blocks" in note for note in spec.unclear)


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
    assert spec.hyperparameters["embedding_size"].source == "default"  # "if ... is 16" is an example
    assert spec.hyperparameters["learning_rate"].source == "default"
    assert [b.model_dump() for b in spec.architecture] == [
        {"block": "gmf", "dim": 8},
        {"block": "mlp_tower", "activation": "relu", "layers": [32, 16, 8], "dropout": 0.0},
        {"block": "neumf_fusion"},
    ]


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
    assert (spec.family, spec.model_name, spec.loss) == ("graph", "TinyProp", "bpr")
    assert spec.paper.title.startswith("TinyProp:")
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
    assert {b.name for b in spec.baselines_in_paper} >= {"BPR-MF", "LightGCN", "ItemKNN"}
    assert [b.block for b in spec.architecture] == ["embedding", "light_propagation", "dot_score"]
    assert spec.architecture[0].params["dim"] == 32 and spec.architecture[1].params["layers"] == 2


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
    assert "optimizer" not in spec.hyperparameters  # sequential family has no default optimizer yet
    assert any(note.startswith("optimizer: the paper uses adagrad and ftrl") for note in spec.unclear)
    assert [b.name for b in spec.baselines_in_paper] == ["POP", "BPR"]
