"""The rules extractor on the ways papers it was not developed on write things: losses in prose, results tables
with variants, marks and percentages, numbers in the text, dataset names as printed, and hyperparameters scoped
to the paper's own method. Each fixture is a small made-up paper (the tests never read the development papers)."""

from __future__ import annotations

import pytest

from paper_autotrain.schemas import Page, PaperDoc, PaperMeta, Section, Table
from paper_autotrain.stages import extract
from paper_autotrain.stages.extract.rules import detect_loss
from paper_autotrain.stages.extract.text import Sentence

RULES = {"name": "rules", "hparams": {}}


def sentences(*texts: str) -> list[Sentence]:
    return [Sentence(page=4, text=text, order=i) for i, text in enumerate(texts)]


def paper(pages: list[str], title: str = "A Paper", tables: list[Table] | None = None,
          sections: list[Section] | None = None) -> PaperDoc:
    return PaperDoc(meta=PaperMeta(key="p", title=title),
                    pages=[Page(number=i + 1, text=text) for i, text in enumerate(pages)],
                    tables=tables or [], sections=sections or [])


# --- the training loss as papers describe it -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("texts", "task", "loss", "named"),
    [
        # a margin hinge loss is outside the spec's vocabulary: "other", and the note names it
        (("BPRMF optimizes matrix factorization with the Bayesian Personalized Ranking loss.",
          "To separate positive and negative pairs, we use the following margin- based hinge loss.",
          "The margin of the hinge loss is fixed to 0.5."), "topk", "other", "hinge"),
        # pairwise learning with -ln sigma(r_ui+ - r_ui-) printed with a math phi is BPR
        (("Similar to other works, we adopt the pairwise learning method for optimization.",
          "The objective function is formulated as: arg min -ln𝜙(r_ui+ - r_ui-) + λ∥Θ∥2"), "topk", "bpr", None),
        # a cited work's weighted RMSE is not this paper's loss; its logistic probability model is
        (("They then formulate a factorization that minimizes a weighted root mean squared error.",
          "While [12] minimizes the weighted RMSE, we take a probabilistic approach.",
          "We model the probability of a user choosing an item by a logistic function."), "topk", "bce", None),
        (("In training, a cross-entropy loss is minimized with gradient descent on the output of the sampled "
          "softmax.",), "topk", "other", "sampled softmax"),
        (("Factors are computed by minimizing a cost function weighted by confidence levels.",
          "This leads to an alternating-least-squares optimization process.",
          "Zero values are associated with low confidence levels."), "topk", "other", "weighted squared"),
        (("AutoRec directly minimises RMSE, the canonical performance in rating prediction.",), "rating", "mse",
         None),
        (("The model ends in a softmax over all items and we minimise the cross-entropy loss over the items.",),
         "topk", "ce", None),
    ],
)
def test_losses_described_in_prose(texts, task, loss, named):
    found, evidence, other = detect_loss(sentences(*texts), task, "OurNet")
    assert found == loss and evidence.startswith("p4: ")
    assert (other is None) if named is None else (named in other)


def test_a_loss_outside_the_vocabulary_is_other_and_named_in_unclear():
    doc = paper(["HingeRec: Metric Learning for Recommendation\nWe propose HingeRec. We use the following margin- "
                 "based hinge loss between the positive item and a sampled negative item; the margin is 0.5."],
                title="HingeRec: Metric Learning for Recommendation")
    spec = extract.run(doc, RULES)
    assert spec.loss == "other"
    assert any(note.startswith("loss: the paper trains with a hinge (margin) loss") for note in spec.unclear)
    assert not any(note.startswith("training loss not recognised") for note in spec.unclear)


# --- results tables: the method's row or column, however the table prints it ---------------------------------------

from paper_autotrain.stages.extract.datasets import detect_datasets, statistics_datasets  # noqa: E402
from paper_autotrain.stages.extract.metrics import detect_metrics  # noqa: E402
from paper_autotrain.stages.extract.tables import find_reported  # noqa: E402
from paper_autotrain.stages.extract.text_tables import page_text_tables  # noqa: E402


def got(reported) -> list[tuple]:
    return [(r.dataset, r.metric, r.value, r.unit, r.variant, r.table) for r in reported]


def test_marks_percentages_and_a_grouped_header():
    table = Table(page=7, caption="Table 2: Performance (in %) over three datasets.", rows=[
        ["Datasets", "Kindle", "", "Home", "", "Gowalla", ""],
        ["Metrics", "Recall", "NDCG", "Recall", "NDCG", "Recall", "NDCG"],
        ["LightGCN", "10.22", "6.24", "3.03", "1.39", "17.96", "15.29"],
        ["OurGCN", "10.88*", "6.73*", "3.22†", "1.49*", "18.69*", "15.85*"],
        ["Improv.", "6.46%", "7.85%", "6.27%", "7.19%", "4.07%", "3.66%"],
    ])
    reported = find_reported([table], "OurGCN", ["Kindle", "Home", "Gowalla"], ["Recall@20", "NDCG@20"])
    assert got(reported) == [
        ("Kindle", "Recall@20", 10.88, "%", None, "Table 2"), ("Kindle", "NDCG@20", 6.73, "%", None, "Table 2"),
        ("Home", "Recall@20", 3.22, "%", None, "Table 2"), ("Home", "NDCG@20", 1.49, "%", None, "Table 2"),
        ("Gowalla", "Recall@20", 18.69, "%", None, "Table 2"), ("Gowalla", "NDCG@20", 15.85, "%", None, "Table 2"),
    ]


def test_only_test_columns_and_a_second_datasets_table_adds_its_numbers():
    header = [["", "", "AUC", "", "Log Loss"], ["Models", "", "", "", ""],
              ["", "Training", "Validation", "Test", "(Test Set)"]]
    criteo = Table(page=8, caption="Table 6: Comparison among models on the Criteo data set.", rows=[
        *header, ["FM", "0.8142", "0.8075", "0.8075", "0.4441"],
        ["OurFM(ours)", "0.8183", "0.8109", "0.8108", "0.4410"]])
    avazu = Table(page=9, caption="Table 7: Comparison among models on Avazu.", rows=[
        *header, ["FM", "0.7744", "0.7696", "0.7695", "0.3857"],
        ["OurFM(ours)", "0.7943", "0.7764", "0.7763", "0.3822"]])
    reported = find_reported([criteo, avazu], "OurFM", ["Criteo", "Avazu"], ["AUC", "Logloss"])
    assert got(reported) == [
        ("Criteo", "AUC", 0.8108, None, None, "Table 6"), ("Criteo", "Logloss", 0.441, None, None, "Table 6"),
        ("Avazu", "AUC", 0.7763, None, None, "Table 7"), ("Avazu", "Logloss", 0.3822, None, None, "Table 7"),
    ]


def test_method_column_with_section_rows_for_the_metric():
    table = Table(page=7, caption="Table 2: Recall@50 and Recall@100 on the test set.", rows=[
        ["", "WRMF", "BPR", "MetNet", "ours vs. best", "MetNet+F"],
        ["", "", "", "", "Recall@50", ""],
        ["CiteULike", "0.2437", "0.2489", "0.2714***", "9.03%", "0.3312"],
        ["BookCX", "0.0910", "0.0812", "0.1037***", "13.95%", "0.1147"],
        ["", "", "", "", "Recall@100", ""],
        ["CiteULike", "0.3112", "0.3296", "0.3411***", "3.37%", "0.4255"],
        ["BookCX", "0.1286", "0.1230", "0.1436", "11.66%", "0.1712"],
    ])
    reported = find_reported([table], "MetNet", ["CiteULike", "BookCX"], ["Recall@50", "Recall@100"])
    assert [(r.dataset, r.metric, r.value) for r in reported] == [
        ("CiteULike", "Recall@50", 0.2714), ("BookCX", "Recall@50", 0.1037),
        ("CiteULike", "Recall@100", 0.3411), ("BookCX", "Recall@100", 0.1436),
    ]


def test_method_per_backbone_gives_its_best_number_and_the_cutoff_of_its_column_group():
    table = Table(page=7, caption="Table 2: Overall performance on Movielens-10M dataset and Netflix dataset.", rows=[
        ["", "", "", "Movielens-10M", "", "", "", "Netflix", ""],
        ["", "", "TopK = 20", "", "TopK = 50", "", "TopK = 20", "", "TopK = 50"],
        ["Model", "Method", "Recall", "NDCG", "Recall", "NDCG", "Recall", "NDCG", "Recall"],
        ["", "None", "0.1286", "0.0846", "0.2346", "0.1170", "0.1122", "0.0943", "0.1928"],
        ["MF", "IPS", "0.1335", "0.0852", "0.2376", "0.1174", "0.1058", "0.0864", "0.1855"],
        ["", "Causal", "0.1634", "0.1084", "0.2872", "0.1468", "0.1258", "0.1070", "0.2164"],
        ["", "None", "0.1378", "0.0898", "0.2513", "0.1247", "0.1026", "0.0870", "0.1842"],
        ["GCN", "IPS", "0.1394", "0.0919", "0.2538", "0.1275", "0.1101", "0.0950", "0.1941"],
        ["", "Causal", "0.1812", "0.1228", "0.3100", "0.1629", "0.1420", "0.1217", "0.1367"],
    ])
    # each number takes its column's dataset (a group of four) and cut-off (a group of two, "TopK = 20")
    reported = find_reported([table], "Causal", ["Movielens-10M", "Netflix"], ["Recall@20", "NDCG@20"])
    values = {(r.dataset, r.metric): (r.value, r.variant) for r in reported}
    assert values[("Movielens-10M", "Recall@20")] == (0.1812, "GCN Causal")
    assert values[("Netflix", "NDCG@20")] == (0.1217, "GCN Causal")
    assert values[("Netflix", "Recall@50")] == (0.2164, "MF Causal")  # the best of the two rows, whichever it is


def test_a_variant_named_row_counts_only_when_no_table_prints_the_name():
    variants = Table(page=7, caption="Table 2: Results.", rows=[
        ["", "HR@10", "NDCG@10"], ["NeuMF", "0.6660", "0.4590"], ["MemNet-1", "0.6943", "0.5003"],
        ["MemNet-2", "0.7007†", "0.5045†"], ["MemNet-3", "0.6985†", "0.5062†"]])
    own = Table(page=8, caption="Table 3: MemNet variants.", rows=[
        ["", "HR@10", "NDCG@10"], ["MemNet", "0.7007", "0.5045"], ["MemNet-Attn", "0.6948", "0.4809"]])
    assert [(r.value, r.table) for r in find_reported([variants, own], "MemNet", ["Epinions"], ["HR@10", "NDCG@10"])
            ] == [(0.7007, "Table 3"), (0.5045, "Table 3")]
    # no table prints "MemNet": the variant the stated setting points to (two hops/layers), else the best
    alone = find_reported([variants], "MemNet", ["Epinions"], ["HR@10", "NDCG@10"], preferred="2")
    assert [(r.value, r.variant) for r in alone] == [(0.7007, "MemNet-2"), (0.5045, "MemNet-2")]
    best = find_reported([variants], "MemNet", ["Epinions"], ["HR@10", "NDCG@10"])
    assert [(r.value, r.variant) for r in best] == [(0.7007, "MemNet-2"), (0.5062, "MemNet-3")]


def test_a_baseline_row_is_never_the_method():
    table = Table(page=7, caption="Table 2: Results.", rows=[
        ["", "HR@10"], ["NeuMF", "0.6660"], ["NeuMF-pre", "0.6700"]])
    assert find_reported([table], "MemNet", ["Epinions"], ["HR@10"]) == []


# --- tables printed one cell a line in the page text ----------------------------------------------------------------

CUT_TABLE_PAGE = "\n".join([
    "Table 2: Performance comparison in terms of hit ratio and MRR on all datasets.",
    "Dataset", "Metric", "POP", "BPRMF",
    "HR@50", "0.2142", "0.3754",
    "ML-100K", "MRR", "0.0388", "0.0616",
    "HR@50", "0.1440", "0.2378",
    "ML-1M", "MRR", "0.0231", "0.0368",
    "4.3",
    "Compared Models",
    "Our model is dubbed as SelfRec which can be considered as the abbreviation of attentive recommendation here.",
    "(1) POP. This approach ranks the items based on their popularity in the system and recommends them to users.",
    "Caser", "SelfRec", "Improv.",
    "0.4667", "0.5273", "9.38%",
    "0.0799", "0.0981", "10.35%",
    "0.4811", "0.5223", "8.56%",
    "0.0925", "0.1172", "12.26%",
    "transaction aggregation. Here, the average aggregation is adopted for all of the compared methods.",
])


def test_a_table_cut_where_the_columns_meet_is_read_back_from_the_text():
    tables = page_text_tables(7, CUT_TABLE_PAGE)
    assert len(tables) == 1 and tables[0].caption.startswith("Table 2: Performance comparison")
    assert tables[0].rows[0] == ["Dataset", "Metric", "POP", "BPRMF", "Caser", "SelfRec", "Improv."]
    assert tables[0].rows[2] == ["ML-100K", "MRR", "0.0388", "0.0616", "0.0799", "0.0981", "10.35%"]
    reported = find_reported(tables, "SelfRec", ["ML-100K", "ML-1M"], ["HR@50", "MRR"])
    assert [(r.dataset, r.metric, r.value) for r in reported] == [
        ("ML-100K", "HR@50", 0.5273), ("ML-100K", "MRR", 0.0981), ("ML-1M", "HR@50", 0.5223), ("ML-1M", "MRR", 0.1172)]


def test_a_grouped_header_read_back_from_the_text():
    page = "\n".join([
        "Table 2: Performance of our model and the competitors over",
        "three datasets. Noticed that the values are reported by percentage with '%' omitted.",
        "Datasets", "Kindle Store", "Gowalla", "Metrics", "Recall", "NDCG", "Recall", "NDCG",
        "NGCF", "8.25", "5.09", "15.62", "13.35",
        "OurGCN", "10.88*", "6.73*", "18.69*", "15.85*",
        "Improv.", "6.46%", "7.85%", "4.07%", "3.66%",
        "The symbol * denotes that the improvement is significant with p-value < 0.05 based on a t-test.",
    ])
    tables = page_text_tables(7, page)
    assert tables[0].rows[:2] == [["Datasets", "Kindle Store", "", "Gowalla", ""],
                                  ["Metrics", "Recall", "NDCG", "Recall", "NDCG"]]
    reported = find_reported(tables, "OurGCN", ["Kindle Store", "Gowalla"], ["Recall@20", "NDCG@20"])
    assert [(r.dataset, r.metric, r.value, r.unit) for r in reported][:2] == [
        ("Kindle Store", "Recall@20", 10.88, "%"), ("Kindle Store", "NDCG@20", 6.73, "%")]


def test_prose_and_numbers_without_a_caption_are_no_table():
    page = "\n".join(["We ran 3 seeds.", "Results", "0.5", "0.6", "Other", "0.7", "0.8", "More text follows here "
                      "with many words in a long line of prose about the experiments."])
    assert page_text_tables(5, page) == []


# --- datasets as papers name them ----------------------------------------------------------------------------------

def test_datasets_of_a_statistics_table_either_way_round():
    rows_table = Table(page=6, caption="Table 1: Statistics of the datasets used in experiments.", rows=[
        ["Dataset", "#Users", "#Items", "#Interactions"], ["Video Game", "7,220", "16,334", "140,307"],
        ["Tools / Home", "5,855", "23,620", "96,467"], ["MovieTweetings", "9,608", "14,220", "461,970"]])
    columns_table = Table(page=6, caption="Table 1: Dataset Statistics.", rows=[
        ["", "CiteULike", "BookCX", "EchoNest"], ["Domain", "Paper", "Book", "Song"],
        ["# Users", "7,947", "22,816", "766,882"], ["# Items", "25,975", "43,765", "260,417"]])
    splits_table = Table(page=8, caption="Table 5: Statistics of training, validation and test sets", rows=[
        ["", "Data set", "Samples", "Fields"], ["", "Train", "36,672,493", ""],
        ["Criteo", "Validation", "4,584,062", "39"], ["", "Test", "4,584,062", ""]])
    assert statistics_datasets(rows_table) == ["Video Game", "Tools / Home", "MovieTweetings"]
    assert statistics_datasets(columns_table) == ["CiteULike", "BookCX", "EchoNest"]
    assert statistics_datasets(splits_table) == ["Criteo"]
    results = Table(page=7, caption="Table 2: Results.", rows=[["", "Recall@20"], ["NGCF", "0.15"]])
    assert statistics_datasets(results) == []
    assert detect_datasets([results], [], [], [rows_table]) == ["Video Game", "Tools / Home", "MovieTweetings"]


# --- metrics with their cut-offs -----------------------------------------------------------------------------------

def test_metrics_named_in_words_take_the_cutoff_stated_apart():
    experiments = sentences(
        "Two widely used evaluation metrics are adopted in our evaluation: Recall and Normalized Discounted "
        "Cumulative Gain [13].",
        "For each metric, the performance is computed based on the top 20 results.",
        "We evaluate all the models with hit ratio and mean reciprocal rank (MRR).",
        "We report the hit ratio with cut off value 50, defined as follows.",
        "We report Mean Average Precision (MAP), Precision@N and Recall@N. Here N is set to 1 and 5.",
        "We map each user to a feature map of the same size.",
    )
    assert sorted(detect_metrics([], experiments)) == sorted(
        ["Recall@20", "NDCG@20", "HR@50", "MRR", "Recall@1", "Recall@5", "Precision@1", "Precision@5", "MAP"])
    # the word "map" is no metric; a bare HR is left out when the paper gives HR@50
    assert detect_metrics([], sentences("We use the feature map and report recall.", "We map users.")) == []


# --- hyperparameters scoped to the paper's own method --------------------------------------------------------------

from paper_autotrain.stages.extract.hparams import find_hyperparameters, find_optimizer  # noqa: E402
from paper_autotrain.stages.extract.scope import own_sentences  # noqa: E402


@pytest.mark.parametrize(
    ("sentence", "key", "value"),
    [
        ("The default number of hops is set to 2 for all datasets.", "n_layers", 2),
        ("The number of negative samples is set to 4.", "negative_samples", 4),
        ("For each positive pair, we randomly sample a negative instance that the user did not consume.",
         "negative_samples", 1),
        ("The Markov order L is 5.", "max_seq_length", 5),
        ("The length of sequence L is set to 5 for Movielens, 3 for MovieTweetings, and 2 for all other datasets.",
         "max_seq_length", 5),
        ("Videos and search tokens were embedded with 256 floats each in a maximum bag size of 50 recent watches.",
         "embedding_size", 256),
        ("Videos and search tokens were embedded with 256 floats each in a maximum bag size of 50 recent watches.",
         "max_seq_length", 50),
        ("We use the MLP with a 256-dimensional hidden layer, 50% dropout, and ReLU.", "hidden_size", 256),
        ("We use the MLP with a 256-dimensional hidden layer, 50% dropout, and ReLU.", "dropout", 0.5),
        ("A typical number of sweeps is 10.", "epochs", 10),
        ("Recall@50 on the test set (# dimensions r = 100).", "embedding_size", 100),
        ("Since we adopt Adagrad, the learning rate of OurNet for all datasets is set to 0.05.", "learning_rate", 0.05),
        ("The number of latent dimensions d of all latent vectors (U, V, X) of OurNet and all other baselines (if "
         "exists.) is set to 100 for fair comparison.", "embedding_size", 100),
        ("In the first pass, we use a larger embedding vector dimension for all fields, e.g. K = 16, and train it.",
         "embedding_size", 16),
        ("An auto-associative network with a single, k-dimensional hidden layer.", "n_layers", 1),
        ("A Crossing Model with five layers of Residual Units.", "n_layers", 5),
        ("The size of the user and item embeddings is set to 64.", "embedding_size", 64),
        ("We train with Adam (lr = 0.0005) and early stopping.", "learning_rate", 0.0005),
        ("The regularization coefficient λ is set to 10-4 for OurNet.", "l2_reg", 1e-4),
        ("The L2 regularization weight is 1 × 10-5.", "l2_reg", 1e-5),
        ("The regularization rate λ is tuned amongst {0.1, 0.01, 0.001}.", "l2_reg", None),
        # what is not the method's setting
        ("For IPS based models, we fix the embedding size as 128.", "embedding_size", None),
        ("For all baselines, the learning rate is set to 0.01.", "learning_rate", None),
        ("We apply node dropout with the node dropout ratio of 0.1 in the ablation.", "dropout", None),
        ("Figure 5: Performance of OurNet w.r.t. dropout ratio 0 0.1 0.2 0.3 on Gowalla.", "dropout", None),
        ("The second term is the L2 regularization term where λ is its weight, and ∑ Φ(w, x) = w0 + x_i w_i (2) "
         "i=1 is a linear combination.", "l2_reg", None),
    ],
)
def test_more_hyperparameter_phrasings(sentence, key, value):
    found, _ = find_hyperparameters([Sentence(page=3, text=sentence, order=0)], "OurNet")
    assert (found[key].value if key in found else None) == value
    if value is not None:
        assert found[key].source == "paper" and found[key].evidence.startswith("p3: ")


def test_a_compared_methods_statement_is_not_the_methods():
    # the embedding size for the other models' group, then the one for ours
    found, _ = find_hyperparameters(sentences(
        "For IPS based models, we fix the embedding size as 128.",
        "While for CausE and OurNet, the embedding size is fixed as 64, since they contain two sets of embeddings.",
    ), "OurNet")
    assert found["embedding_size"].value == 64


def test_values_given_respectively_per_dataset_and_a_symbols_meaning():
    found, notes = find_hyperparameters(sentences(
        "The latent dimension d is chosen from {10, 20, 30, 50, 100}, and we use 50 and 100 for ML-1M and Gowalla "
        "respectively.",
        "This objective corresponds to an auto-associative neural network with a single, k-dimensional hidden layer.",
        "All other experiments use k = 500.",
    ), "OurNet")
    assert found["embedding_size"].value == {"ML-1M": 50, "Gowalla": 100} and found["hidden_size"].value == 500
    assert any(note.startswith("embedding_size differs by dataset in the paper (ML-1M: 50, Gowalla: 100")
               for note in notes)


def test_compared_method_bullets_related_work_and_cited_findings_are_left_out():
    pages = [
        "2 RELATED WORK\nGraph models stack layers. Prior models use a learning rate of 0.05 for all of their "
        "experiments on the benchmark data.\n3 EXPERIMENTS",
        "3.1 Baselines\n• NGCF [41]: It encodes the collaborative signal by propagation. We employ two graph "
        "convolution layers as suggested in [41].\n• OurGCN: our method.\nWeston et al. proposed a procedure that "
        "repeatedly samples a negative item until an impostor is found [50].\nWe use three layers and a learning rate "
        "of 0.001 for OurGCN.",
    ]
    doc = paper(pages, sections=[Section(title="2 RELATED WORK", page=1, text=pages[0].split("\n")[1]),
                                 Section(title="3 EXPERIMENTS", page=2, text=pages[1])])
    from paper_autotrain.stages.extract.text import split_sentences

    everything = split_sentences(doc)
    scoped = own_sentences(doc, everything, "OurGCN")
    assert find_hyperparameters(everything, "OurGCN")[0]["n_layers"].value == 2  # unscoped: the baseline's
    found, _ = find_hyperparameters(scoped, "OurGCN")
    assert found["n_layers"].value == 3 and found["learning_rate"].value == 0.001
    assert "negative_samples" not in found


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("We optimize the proposed approach with adaptive gradient algorithm [5].",), "adagrad"),
        (("We found resilient propagation (RProp) [3] to be as good as L-BFGS.", "Thus, we use RProp for all "
          "subsequent experiments."), "rprop"),
        (("Parameters are often learnt by stochastic gradient descent; see, e.g., [7, 15, 20].",
          "This leads to an alternating-least-squares optimization process."), "als"),
        (("While their implementations differ, e.g. feature processing, optimizer (Adam or Adagrad), we list their "
          "results for reference.",), None),
        (("While MA can be scaled out, they often under perform single-GPU SGD and require different learning "
          "rate schedules.",), None),
    ],
)
def test_the_optimizer_the_paper_trains_with(texts, expected):
    found, _ = find_optimizer(sentences(*texts), "OurNet")
    assert (found.value if found else None) == expected


# --- numbers and datasets given only in the text -------------------------------------------------------------------

from paper_autotrain.stages.extract.datasets import named_in_prose  # noqa: E402
from paper_autotrain.stages.extract.text_numbers import reported_in_text  # noqa: E402


def test_the_methods_numbers_in_the_text_and_never_a_baselines():
    experiments = sentences(
        "The popularity baseline achieved an MPR of 14.9% which is a huge improvement over a random model.",
        "Both LogisticMF and IMF converged to a similar MPR at around 100 latent factors (6.27 for IMF and 5.99 for "
        "LogisticMF).",
        "For example, in using just 10 latent factors IMF achieved an MPR of 16.9%.",
        "On the other hand, LogisticMF achieved an MPR of 8.065%.",
        "LogisticMF improves MPR over IMF by 12.3%.",
    )
    reported = reported_in_text(experiments, "Logistic MF", ["Spotify"], ["MPR"])
    assert [(r.dataset, r.metric, r.value, r.unit, r.variant, r.table) for r in reported] == [
        ("Spotify", "MPR", 5.99, None, "at around 100 latent factors", "text"),
        ("Spotify", "MPR", 8.065, "%", None, "text"),
    ]
    # two datasets and the sentence names neither: no guess
    assert reported_in_text(experiments[3:4], "LogisticMF", ["Spotify", "Last.fm"], ["MPR"]) == []


def test_numbers_in_the_text_only_without_a_results_table():
    doc = paper(["TextRec: Ranking for Music\nWe propose TextRec for recommendation.",
                 "5 EXPERIMENTS\nWe evaluate TextRec using the same Spotify listening history dataset. We report the "
                 "Mean Percentage Ranking (MPR) of each method. TextRec achieved an MPR of 7.5% on it."],
                title="TextRec: Ranking for Music", sections=[Section(title="5 EXPERIMENTS", page=2, text="")])
    spec = extract.run(doc, RULES)
    assert spec.datasets == ["Spotify"] and spec.metrics == ["MPR"]
    assert [(r.dataset, r.metric, r.value, r.unit) for r in spec.reported] == [("Spotify", "MPR", 7.5, "%")]


def test_dataset_names_printed_before_dataset():
    experiments = sentences(
        "We trained both models on the same Spotify listening history dataset from our analysis.",
        "Unlike explicit feedback datasets, ours has no negative signal.",
        "Perhaps the most famous case is Netflix which released a dataset of ratings.",
        "6.1 Datasets We used the Epinions dataset and two public datasets.",
    )
    assert named_in_prose(experiments) == ["Spotify", "Epinions"]


def test_a_one_row_table_in_the_text():
    page = "\n".join([
        "Test Data", "DSSM", "Crossing", "Production", "text cp2 tt", "98.68", "98.99", "100",
        "Table 4: Click prediction results for task CP2 where performance is measured by relative AUC",
        "using the production model as the baseline and all of the other models are compared with it.",
    ])
    tables = page_text_tables(6, page)
    assert tables[0].rows == [["Test Data", "DSSM", "Crossing", "Production"], ["text cp2 tt", "98.68", "98.99", "100"]]
    reported = find_reported(tables, "Crossing", ["text cp2 tt"], ["AUC"])
    assert [(r.dataset, r.metric, r.value, r.table) for r in reported] == [("text cp2 tt", "AUC", 98.99, "Table 4")]


def test_a_compared_methods_description_and_a_value_for_all_models():
    found, _ = find_hyperparameters(sentences(
        "NeuMF feeds the concatenation into an MLP with three hidden layers.",
        "Same as NGCF, the embedding size is fixed to 64 for all models.",
    ), "OurGCN")
    assert "n_layers" not in found and found["embedding_size"].value == 64


def test_abbreviated_metrics_and_datasets_named_only_in_the_text():
    table = Table(page=6, caption="Table 3: Overall comparison.", rows=[
        ["", "Amazon-CD", "", "Tmall-Buy", ""], ["Method", "R@20", "N@20", "R@20", "N@20"],
        ["LightGCN", "0.1012", "0.0621", "0.0512", "0.0301"], ["OurGCN", "0.1123*", "0.0701*", "0.0577*", "0.0345*"]])
    metrics = detect_metrics([table], [])
    assert metrics == ["R@20", "N@20"]
    # the results table's column groups are the datasets the experiments name ("the Amazon-CD dataset")
    assert find_reported([table], "OurGCN", [], metrics) == []
    reported = find_reported([table], "OurGCN", [], metrics, also=["Amazon-CD", "Tmall-Buy"])
    assert [(r.dataset, r.metric, r.value) for r in reported] == [
        ("Amazon-CD", "R@20", 0.1123), ("Amazon-CD", "N@20", 0.0701), ("Tmall-Buy", "R@20", 0.0577),
        ("Tmall-Buy", "N@20", 0.0345)]


def test_a_sweep_down_the_methods_column_gives_no_number():
    table = Table(page=8, caption="Table 5: Recall@20 on Gowalla with different numbers of layers.", rows=[
        ["Layers", "NGCF", "OurGCN"], ["1", "0.1556", "0.1755"], ["2", "0.1547", "0.1777"], ["3", "0.1569", "0.1823"]])
    assert find_reported([table], "OurGCN", ["Gowalla"], ["Recall@20"]) == []


def test_search_grids_are_noted_not_taken():
    from paper_autotrain.stages.extract.hparams import find_grids

    texts = sentences("Regularization rate λ is tuned amongst {0.1, 0.01, 0.001, 0.0001}.",
                      "Dropout rate is tuned amongst {0, 0.3, 0.5, 0.7}.")
    found, _ = find_hyperparameters(texts, "OurNet")
    assert "l2_reg" not in found and "dropout" not in found
    notes = find_grids(texts, set(found))
    assert [note.split(" (")[0] for note in notes] == [
        "l2_reg: the paper searches {0.1, 0.01, 0.001, 0.0001} without stating the chosen value",
        "dropout: the paper searches {0, 0.3, 0.5, 0.7} without stating the chosen value"]


def test_column_groups_by_a_setting_that_is_not_a_dataset_give_no_number():
    table = Table(page=7, caption="Table 4: Results on Gowalla for sparse and dense users.", rows=[
        ["", "Sparse users", "", "Dense users", ""], ["Method", "Recall@20", "NDCG@20", "Recall@20", "NDCG@20"],
        ["NGCF", "0.10", "0.05", "0.20", "0.12"], ["OurGCN", "0.12", "0.06", "0.22", "0.13"]])
    assert find_reported([table], "OurGCN", ["Gowalla"], ["Recall@20", "NDCG@20"]) == []


def test_the_methods_a_results_table_compares_with_scope_the_settings():
    from paper_autotrain.stages.extract.tables import compared_methods

    table = Table(page=7, caption="Table 2: Performance comparison on Gowalla.", rows=[
        ["Method", "Recall@20", "NDCG@20"], ["HOP-Rec", "0.1399", "0.1214"], ["WalkRank", "0.1420", "0.1230"],
        ["None", "0.1500", "0.1300"], ["OurGCN", "0.1830*", "0.1554*"], ["Improv.", "3.2%", "2.1%"]])
    assert compared_methods([table], "OurGCN") == ["HOP-Rec", "WalkRank"]
    doc = paper(["OurGCN: Graph Recommendation\nWe propose OurGCN, a graph convolution network for recommendation.",
                 "4 EXPERIMENTS\nWe use the Gowalla dataset and report Recall@20 and NDCG@20. For HOP-Rec, we set the "
                 "embedding size to 32. The embedding size of OurGCN is set to 64."],
                title="OurGCN: Graph Recommendation", tables=[table],
                sections=[Section(title="4 EXPERIMENTS", page=2, text="")])
    spec = extract.run(doc, RULES)
    assert spec.hyperparameters["embedding_size"].value == 64
    assert [(r.dataset, r.metric, r.value) for r in spec.reported] == [("Gowalla", "Recall@20", 0.183),
                                                                         ("Gowalla", "NDCG@20", 0.1554)]
