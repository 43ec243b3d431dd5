"""What the LaTeX and HTML fixture papers (the same LightGCN-like paper in two markups) must read as."""

from paper_autotrain.schemas import MethodSpec

OVERALL_TABLE_ROWS = [
    ["Method", "Gowalla", "", "Yelp2018", "", "Amazon-Book", ""],
    ["", "Recall@20", "NDCG@20", "Recall@20", "NDCG@20", "Recall@20", "NDCG@20"],
    ["NGCF", "0.1570", "0.1327", "0.0579", "0.0477", "0.0344", "0.0263"],
    ["Mult-VAE", "0.1641", "0.1335", "0.0584", "0.0450", "0.0407", "0.0315"],
    ["LightGCN", "0.1830*", "0.1554†", "0.0649", "0.0530", "0.0411", "0.0315"],
    ["Improv.", "11.52%", "16.41%", "11.13%", "11.11%", "0.98%", "0.00%"],
]

REPORTED = {
    ("Gowalla", "Recall@20", 0.1830), ("Gowalla", "NDCG@20", 0.1554),
    ("Yelp2018", "Recall@20", 0.0649), ("Yelp2018", "NDCG@20", 0.0530),
    ("Amazon-Book", "Recall@20", 0.0411), ("Amazon-Book", "NDCG@20", 0.0315),
}  # not the Improv. row's percentages


def assert_reads_as_the_fixture_paper(spec: MethodSpec) -> None:
    """The rules extractor's spec of the fixture paper: quoted settings located by section, the method's numbers."""
    assert (spec.family, spec.model_name, spec.loss) == ("graph", "LightGCN", "bpr")
    expected = {"embedding_size": 64, "learning_rate": 0.001, "l2_reg": 1e-4, "optimizer": "adam"}
    for key, value in expected.items():
        entry = spec.hyperparameters[key]
        assert (entry.value, entry.source) == (value, "paper"), key
        assert entry.evidence.startswith("§3 Experiments: "), entry.evidence
    assert spec.datasets == ["Gowalla", "Yelp2018", "Amazon-Book"]
    assert {(r.dataset, r.metric, r.value) for r in spec.reported} == REPORTED
