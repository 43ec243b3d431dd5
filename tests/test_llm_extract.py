"""extractor=llm against a loopback OpenAI-compatible server: quotes checked, disagreements recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paper_autotrain.errors import UserError
from paper_autotrain.llm import LLMSettings, make_client
from paper_autotrain.schemas import Page, PaperDoc, PaperMeta
from paper_autotrain.stages import extract
from paper_autotrain.stages.extract.llm import plan_chunks
from paper_autotrain.stages.extract.quotes import PaperText
from tests.fake_openai import FakeOpenAI, Reply

LLM = {"name": "llm", "hparams": {}, "chunk_chars": 24000, "max_sections": 4, "prefer": "llm"}
PAGES = [
    "PropNet: Simple Propagation for Recommendation\nAbstract. We propose a new model named PropNet for collaborative "
    "filtering. PropNet propagates embeddings on the user-item graph with light graph convolution and no feature "
    "transformation.\n1 INTRODUCTION\nGraph convolution networks help recommendation on the user-item graph.",
    "2 METHOD\nThe final embedding is the layer combination of all layers and the score is the inner product. "
    "Before scoring, an attention over the layers re-weights each user's final embed-\nding with a learned query. "
    "We employ the Bayesian Personalized Ranking (BPR) loss, a pairwise loss.\n3 EXPERIMENTS\n3.1 Settings\n"
    "We use the Gowalla and Yelp2018 datasets. The Gowalla data is large. The Yelp2018 data is sparse. "
    "We report Recall@20 and NDCG@20. The embedding size is fixed to 64 in the first runs. "
    "For PropNet we found that an embedding size of 128 works best. We optimize PropNet with Adam and use a "
    "learning rate of 0.001. We train for 500 epochs. The mixing ratio of PropNet is set to 0.7.\n"
    "3.2 Results\nPropNet reaches a Recall@20 of 0.1830 on Gowalla, ahead of LightGCN and NGCF.",
]


def paper(pages: list[str] = PAGES) -> PaperDoc:
    return PaperDoc(meta=PaperMeta(key="propnet", title="PropNet: Simple Propagation for Recommendation"),
                    pages=[Page(number=i + 1, text=text) for i, text in enumerate(pages)])


def claim(value: Any, evidence: str) -> dict[str, Any]:
    return {"value": value, "evidence": evidence}


def good_draft(**changes: Any) -> dict[str, Any]:
    """What a careful LLM answers for PAGES (scope "paper")."""
    draft = {
        "model_name": claim("PropNet", "We propose a new model named PropNet for collaborative filtering."),
        "family": claim("graph", "PropNet propagates embeddings on the user-item graph"),
        "task": claim("topk", "We report Recall@20 and NDCG@20."),
        "loss": claim("bpr", "We employ the Bayesian Personalized Ranking (BPR) loss, a pairwise loss."),
        "architecture": [
            {"block": "embedding", "params": [], "evidence": "PropNet propagates embeddings on the user-item graph"},
            {"block": "light_propagation", "params": [{"name": "combine", "value": "mean"}],
             "evidence": "with light graph convolution and no feature transformation"},
            {"block": "dot_score", "params": [], "evidence": "the score is the inner product"},
        ],
        "custom": [],
        "hyperparameters": [
            {"name": "embedding_size", "value": 128,
             "evidence": "For PropNet we found that an embedding size of 128 works best."},
            {"name": "learning_rate", "value": "0.001", "evidence": "use a learning rate of 0.001"},
            {"name": "mixing_ratio", "value": 0.7, "evidence": "The mixing ratio of PropNet is set to 0.7."},
        ],
        "unclear": [],
        "datasets": [claim("Gowalla", "We use the Gowalla and Yelp2018 datasets."),
                     claim("Yelp2018", "We use the Gowalla and Yelp2018 datasets.")],
        "metrics": [claim("Recall@20", "We report Recall@20 and NDCG@20."),
                    claim("NDCG@20", "We report Recall@20 and NDCG@20.")],
        "reported": [{"dataset": "Gowalla", "metric": "Recall@20", "value": 0.183, "table": "",
                      "evidence": "PropNet reaches a Recall@20 of 0.1830 on Gowalla"}],
        "baselines": [claim("LightGCN", "ahead of LightGCN and NGCF")],
    }
    return {**draft, **changes}


def scope_of(body: dict[str, Any]) -> str:
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    return system.split("Task: extract.", 1)[1].split()[0]


def answering(drafts: dict[str, Any]):
    """A responder giving each extraction scope its draft (a list: one per call, in order)."""
    queues = {scope: list(d) if isinstance(d, list) else [d] for scope, d in drafts.items()}

    def respond(body: dict[str, Any]) -> Reply:
        queue = queues[scope_of(body)]
        return Reply(json.dumps(queue.pop(0) if len(queue) > 1 else queue[0]))
    return respond


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def client_for(server: FakeOpenAI, tmp_path: Path):
    settings = LLMSettings(backend="compatible", base_url=server.url, model="fake-model", cache=False, retries=0,
                           timeout_s=10)
    return make_client(settings, tmp_path / "results", tmp_path / "cache")


def run_llm(server: FakeOpenAI, tmp_path: Path, cfg: dict | None = None, doc: PaperDoc | None = None):
    return extract.run(doc or paper(), {**LLM, **(cfg or {})}, client_for(server, tmp_path))


def test_good_spec_has_verified_quotes_with_pages(server, tmp_path):
    server.responder = answering({"paper": good_draft()})
    spec = run_llm(server, tmp_path)
    assert (spec.family, spec.model_name, spec.loss) == ("graph", "PropNet", "bpr")
    assert [b.block for b in spec.architecture] == ["embedding", "light_propagation", "dot_score"]
    size, ratio = spec.hyperparameters["embedding_size"], spec.hyperparameters["mixing_ratio"]
    assert (size.value, size.source) == (128, "paper")
    assert size.evidence == "p2: For PropNet we found that an embedding size of 128 works best."
    assert (ratio.value, ratio.evidence) == (0.7, "p2: The mixing ratio of PropNet is set to 0.7.")
    assert spec.hyperparameters["learning_rate"].value == 0.001
    [reported] = spec.reported
    assert (reported.dataset, reported.metric, reported.value) == ("Gowalla", "Recall@20", 0.183)
    assert reported.evidence.startswith("p2: PropNet reaches a Recall@20 of 0.1830 on Gowalla")
    assert not any("no results table" in note for note in spec.unclear)
    assert len(server.requests) == 1
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "embedding_size:" in prompt and "light_propagation" in prompt  # the rules' findings and the library


def test_malformed_json_is_asked_again_with_the_error(server, tmp_path):
    server.script(Reply('{"model_name": {"value": "PropNet", '))
    server.responder = answering({"paper": good_draft()})
    spec = run_llm(server, tmp_path)
    assert len(server.requests) == 2
    assert len(server.requests[1]["messages"]) > len(server.requests[0]["messages"])  # the error went back
    assert spec.hyperparameters["embedding_size"].value == 128


def test_invented_quote_demotes_the_value_to_unclear(server, tmp_path):
    invented = {"name": "learning_rate", "value": 0.005, "evidence": "we set the learning rate to 0.005"}
    unstated = {"name": "dropout", "value": 0.1, "evidence": "We train for 500 epochs."}
    server.responder = answering({"paper": good_draft(hyperparameters=[invented, unstated])})
    spec = run_llm(server, tmp_path)
    assert spec.hyperparameters["learning_rate"].value == 0.001  # the rules' quoted value stands
    assert spec.hyperparameters["learning_rate"].evidence.startswith("p2: ")
    assert spec.hyperparameters.get("dropout") is None or spec.hyperparameters["dropout"].source != "paper"
    assert any(note.startswith("LLM value 0.005 for hyperparameter learning_rate dropped: its quote is not in "
                               "the paper") for note in spec.unclear)
    assert any("for hyperparameter dropout dropped: its quote does not state it" in note for note in spec.unclear)


def test_invented_reported_number_is_never_accepted(server, tmp_path):
    remembered = {"dataset": "Yelp2018", "metric": "NDCG@20", "value": 0.0649, "table": "Table 3",
                  "evidence": "PropNet 0.0649"}
    server.responder = answering({"paper": good_draft(reported=[remembered])})
    spec = run_llm(server, tmp_path)
    assert [(r.dataset, r.metric) for r in spec.reported] == [("Gowalla", "Recall@20")]  # the rules' read of the text
    assert any("for reported NDCG@20 on Yelp2018 dropped" in note for note in spec.unclear)


def test_disagreement_with_the_rules_is_recorded(server, tmp_path):
    server.responder = answering({"paper": good_draft()})
    spec = run_llm(server, tmp_path)
    [disagreement] = [d for d in spec.disagreements if d.item == "hyperparameters.embedding_size"]
    assert (disagreement.rules, disagreement.llm, disagreement.kept) == ("64", "128", "llm")
    assert disagreement.rules_evidence == "p2: The embedding size is fixed to 64 in the first runs."
    assert disagreement.llm_evidence.startswith("p2: For PropNet")


def test_prefer_rules_keeps_the_rules_value_and_still_records(server, tmp_path):
    server.responder = answering({"paper": good_draft()})
    spec = run_llm(server, tmp_path, {"prefer": "rules"})
    assert spec.hyperparameters["embedding_size"].value == 64
    assert [d.kept for d in spec.disagreements if d.item == "hyperparameters.embedding_size"] == ["rules"]
    assert spec.hyperparameters["mixing_ratio"].value == 0.7  # only the LLM found it: no disagreement


def test_block_outside_the_library_becomes_a_custom_part(server, tmp_path):
    attention = {"block": "layer_attention", "params": [],
                 "evidence": "an attention over the layers re-weights each user's final embedding with a learned "
                             "query"}
    draft = good_draft()
    draft["architecture"] = [*draft["architecture"][:2], attention, draft["architecture"][2]]
    server.responder = answering({"paper": draft})
    spec = run_llm(server, tmp_path)
    assert [b.block for b in spec.architecture] == ["embedding", "light_propagation", "custom", "dot_score"]
    [part] = spec.custom
    assert part.name == "layer_attention" and part.evidence.startswith("p2: an attention over the layers")
    assert any(d.item == "architecture" for d in spec.disagreements)


def test_long_paper_is_read_section_by_section(server, tmp_path):
    method = {key: good_draft()[key] for key in ("model_name", "family", "task", "loss", "architecture", "custom",
                                                 "hyperparameters", "unclear")}
    experiments = {key: good_draft()[key] for key in ("hyperparameters", "datasets", "metrics", "reported",
                                                       "baselines", "unclear")}
    server.responder = answering({"method": method, "experiments": experiments})
    filler = " ".join(["Further results are discussed in the appendix."] * 30)
    doc = paper([PAGES[0], PAGES[1], filler, filler, filler])
    spec = run_llm(server, tmp_path, {"chunk_chars": 1800, "max_sections": 2}, doc)
    scopes = [scope_of(body) for body in server.requests]
    assert scopes == ["method", "experiments", "experiments"]
    assert any("the LLM read 2 of" in note for note in spec.unclear)
    assert spec.hyperparameters["embedding_size"].value == 128 and spec.reported


def test_plan_sends_a_short_paper_whole():
    assert [chunk.scope for chunk in plan_chunks(paper(), 24000, 4).chunks] == ["paper"]


def test_llm_extractor_without_a_backend_is_a_one_line_user_error():
    with pytest.raises(UserError, match=r"llm=openai .*llm=compatible llm\.base_url="):
        extract.run(paper(), LLM, None)


@pytest.mark.parametrize("quote, where", [
    ("re-weights each user's final embedding", "p2"),  # hyphenated at a line end in the paper
    ("RE-WEIGHTS each   user\u2019s final embed-ding", "p2"),  # case, spaces, curly apostrophe, hyphen kept
    ("p2: We use the Gowalla ... Yelp2018 datasets.", "p2"),  # a copied locator and an ellipsis
    ("We propose a new model named PropNet", "p1"),
])
def test_quotes_are_found_after_normalisation(quote, where):
    located = PaperText(paper()).locate(quote)
    assert located is not None and located.where == where


@pytest.mark.parametrize("quote", ["PropNet", "We propose a new model named PropNet for sequential data"])
def test_short_or_altered_quotes_are_not_found(quote):
    assert PaperText(paper()).locate(quote) is None


def test_a_latex_section_label_prefixes_the_evidence():
    doc = PaperDoc(meta=PaperMeta(key="t"), pages=[Page(number=1, text="We set the batch size to 2048.",
                                                        label="§4.1 Settings")])
    assert PaperText(doc).locate("we set the batch size to 2048").evidence == (
        "§4.1 Settings: we set the batch size to 2048")


def test_pipeline_reads_with_the_llm_and_reuses_the_spec(server, tmp_path, monkeypatch):
    from paper_autotrain import pipeline
    from tests.test_pipeline import config

    secret = "sk-do-not-leak-0123456789"
    monkeypatch.setenv("MY_LLM_KEY", secret)
    server.responder = answering({"paper": good_draft()})
    cfg = config(tmp_path, "extractor=llm", "llm=compatible", f"llm.base_url={server.url}", "llm.model=fake-model",
                 "llm.api_key_env=MY_LLM_KEY", "until=parse")
    outcome = pipeline.run(cfg)
    assert outcome.spec.exists() and len(server.requests) == 1
    assert server.requests[0]["_headers"]["Authorization"] == f"Bearer {secret}"
    assert (tmp_path / "results" / "tinyprop" / "llm_calls.jsonl").exists()
    assert "extract" in pipeline.run(cfg).skipped and len(server.requests) == 1
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "ledger.sqlite" for path in written)
    assert [str(path) for path in written if secret.encode() in path.read_bytes()] == []  # logs, ledger, cache


def test_pipeline_without_a_backend_says_how_to_choose_one(tmp_path):
    from paper_autotrain import pipeline
    from tests.test_pipeline import config

    with pytest.raises(UserError, match="llm=compatible"):
        pipeline.run(config(tmp_path, "extractor=llm", "until=parse"))


def test_a_server_without_json_schema_is_asked_in_json_mode(server, tmp_path):
    server.reject_json_schema = True
    server.responder = answering({"paper": good_draft()})
    spec = run_llm(server, tmp_path)
    assert server.requests[-1]["response_format"]["type"] == "json_object"
    assert spec.hyperparameters["embedding_size"].value == 128


def test_a_number_quoted_from_a_table_names_the_table(server, tmp_path):
    from paper_autotrain.schemas import Table

    table = Table(page=2, caption="Table 2: Overall performance comparison.",
                  rows=[["Method", "Yelp2018 NDCG@20"], ["NGCF", "0.0477"], ["PropNet", "0.0530"]])
    doc = paper().model_copy(update={"tables": [table]})
    entry = {"dataset": "Yelp2018", "metric": "ndcg@20", "value": 0.053, "table": "Table 2",
             "evidence": "PropNet 0.0530"}
    server.responder = answering({"paper": good_draft(reported=[entry])})
    spec = run_llm(server, tmp_path, doc=doc)
    [reported] = [r for r in spec.reported if r.dataset == "Yelp2018"]
    assert (reported.metric, reported.value, reported.table) == ("NDCG@20", 0.053, "Table 2")
    assert reported.evidence == "p2: PropNet 0.0530"


def test_an_unknown_preference_is_a_user_error(server, tmp_path):
    with pytest.raises(UserError, match="extractor.prefer=both"):
        run_llm(server, tmp_path, {"prefer": "both"})
    assert server.requests == []
