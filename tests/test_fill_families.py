"""The LLM fill-in for every family and for loss terms: each slot (templates/slots/<slot>.yaml) renders around a
correct body, passes the probe and has its shapes checked on every call; through the loopback OpenAI-compatible
server and the real client, one part per family (top-k, sequential, context, autoencoder) and a loss term is
written, gated, repaired where its shapes are wrong, and trained briefly."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from paper_autotrain.data.ctr import prepare_ctr
from paper_autotrain.errors import StageError
from paper_autotrain.library import TEMPLATES_DIR, ManifestError, load_library
from paper_autotrain.sandbox import gates
from paper_autotrain.schemas import MethodSpec, SplitInfo
from paper_autotrain.stages import render
from paper_autotrain.stages import train as train_stage
from paper_autotrain.stages.render.fill import SlotFill
from paper_autotrain.worker import probe
from tests.ctr_fixtures import write_ctr_dataset
from tests.fake_openai import FakeOpenAI
from tests.model_fixtures import reference_spec, write_synthetic_split
from tests.test_fill import answers, fill_in, task_of, write
from tests.test_render import ruff_check

TRAIN = {"max_epochs": 1, "seed": 0, "timeout_s": 300}


@dataclass(frozen=True)
class Example:
    """A spec of the slot's family with one custom part, and a correct body for it."""

    model: str  # the reference spec it starts from (tests/model_fixtures.py)
    part: dict[str, Any]  # the custom part (name, description, slot, params)
    fill: dict[str, str]  # init_body, forward_body
    data: str  # the split it trains on: topk, sequences or ctr
    architecture: list[dict[str, Any]] | None = None  # replaces the reference's blocks
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> MethodSpec:
        spec = reference_spec(self.model, batch_size=64, **self.hyperparameters)
        changes: dict[str, Any] = {"custom": [self.part]}
        if self.architecture is not None:
            changes["architecture"] = self.architecture
        return MethodSpec.model_validate({**spec.model_dump(), **changes})


def part(name: str, description: str, slot: str | None = None, **params: Any) -> dict[str, Any]:
    return {"name": name, "description": description, "evidence": f"p3: {description}", "slot": slot,
            "params": params}


# A correct body for every slot of every family: a new slot needs one here (test_every_slot_has_an_example)
EXAMPLES: dict[str, Example] = {
    "representation": Example("LightGCN", part("layer_gate", "a learned gate re-weights each dimension"), {
        "init_body": "self.gate = nn.Parameter(torch.zeros(dim))",
        "forward_body": "weight = 1.0 + torch.tanh(self.gate)\nreturn user_table * weight, item_table * weight"},
        "topk", hyperparameters={"embedding_size": 16, "n_layers": 1}),
    "pair_scorer": Example("MF-BPR", part("euclidean distance", "metric learning: minus the weighted squared "
                                          "Euclidean distance of user and item"), {
        "init_body": "self.scale = nn.Parameter(torch.ones(dim))",
        "forward_body": "return -((user_rows - item_rows) ** 2 * self.scale).sum(-1)"},
        "topk", hyperparameters={"embedding_size": 16}),
    "topk_loss_term": Example("MF-BPR", part("contrastive objective", "in-batch InfoNCE of users and their "
                                             "positives, an auxiliary loss", weight=0.5), {
        "init_body": "self.temperature = float(hparams.get('temperature', 0.5))",
        "forward_body": "u = F.normalize(user_table[users], dim=-1)\ni = F.normalize(item_table[pos_items], dim=-1)\n"
                        "logits = u @ i.T / self.temperature\n"
                        "return F.cross_entropy(logits, torch.arange(len(users), device=logits.device))"},
        "topk", hyperparameters={"embedding_size": 16}),
    "sequence_encoder": Example("SASRec", part("running mean encoder", "each position reads the mean of the items "
                                               "so far through a gated layer"), {
        "init_body": "self.mix = nn.Linear(dim, dim)\nself.norm = nn.LayerNorm(dim)",
        "forward_body": "weights = mask.unsqueeze(-1).float()\n"
                        "running = torch.cumsum(x * weights, dim=1) / weights.cumsum(dim=1).clamp(min=1.0)\n"
                        "return self.norm(x + torch.tanh(self.mix(running)))"},
        "sequences", architecture=[{"block": "item_embedding", "dim": 16}, {"block": "last_position"},
                                   {"block": "item_dot_score"}]),
    "sequence_loss_term": Example("SASRec", part("contrastive views", "a contrastive auxiliary loss between the "
                                                  "history and its cropped view", weight=0.2), {
        "init_body": "self.temperature = 0.5",
        "forward_body": "short = lengths > 1\n"
                        "cropped = torch.cat([histories[:, 1:], torch.zeros_like(histories[:, :1])], dim=1)\n"
                        "view = torch.where(short.unsqueeze(1), cropped, histories)\n"
                        "a = F.normalize(encode(histories, lengths), dim=-1)\n"
                        "b = F.normalize(encode(view, torch.where(short, lengths - 1, lengths)), dim=-1)\n"
                        "logits = a @ b.T / self.temperature\n"
                        "return F.cross_entropy(logits, torch.arange(len(a), device=a.device))"},
        "sequences", architecture=[{"block": "item_embedding", "dim": 16}, {"block": "last_position"},
                                   {"block": "item_dot_score"}]),
    "row_encoder": Example("Mult-DAE", part("tanh encoder", "a tanh hidden layer, then a linear map to the code"), {
        "init_body": "self.hidden = nn.Linear(n_items, 64)\nself.out = nn.Linear(64, dim)",
        "forward_body": "return self.out(torch.tanh(self.hidden(x)))"},
        "topk", architecture=[{"block": "user_row_input", "norm": "l2", "dropout": 0.5}, {"block": "item_decoder"}],
        hyperparameters={"embedding_size": 16, "learning_rate": 0.01}),
    "autoencoder_loss_term": Example("Mult-DAE", part("latent regulariser", "an L2 regulariser of the latent code",
                                                      weight=0.01), {
        "init_body": "",
        "forward_body": "return latent.pow(2).sum(dim=1).mean()"},
        "topk", hyperparameters={"learning_rate": 0.01}),
    "field_interaction": Example("FM", part("weighted pairs", "a learned weight per embedding dimension of every "
                                            "field pair's product"), {
        "init_body": "self.project = nn.Linear(dim, 1)",
        "forward_body": "pairs = fields.unsqueeze(1) * fields.unsqueeze(2)\n"
                        "return self.project(pairs).squeeze(-1).sum(dim=(1, 2))"},
        "ctr"),
    "ctr_loss_term": Example("FM", part("centre regulariser", "an auxiliary penalty on the clicked rows' mean field "
                                        "vector", weight=0.1), {
        "init_body": "",
        "forward_body": "centre = fields.mean(dim=1)\nreturn (centre.pow(2).sum(-1) * label).mean()"},
        "ctr"),
}


@pytest.fixture(scope="module")
def splits(tmp_path_factory, sequences) -> dict[str, SplitInfo]:
    folder = tmp_path_factory.mktemp("topk")
    data = write_synthetic_split(folder)
    topk = SplitInfo(dataset="synthetic", split_id="slots001", path=str(folder), n_users=data.n_users,
                     n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                     protocol="synthetic")
    ctr = prepare_ctr(write_ctr_dataset(tmp_path_factory.mktemp("ctrdata")), tmp_path_factory.mktemp("datasets"))
    return {"topk": topk, "sequences": sequences, "ctr": ctr}


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def rendered(spec: MethodSpec, fill: dict[str, str], folder: Path) -> Path:
    """The model files of `spec` with its one custom part's bodies, as render writes them after the fill-in."""
    base = render.base_for(spec)
    spec = render.with_custom_block(spec, base)
    base = render.with_custom_rule(spec, base)
    render.check_renderable(spec, base, filling=True)
    files = render.render_files(spec, {}, base, {spec.custom[0].name: SlotFill(**fill)})
    return write(files, folder)


SLOTS = {name: base for base in reversed(load_library().bases) for name in base.slots}  # the first scaffold using it


def test_every_family_has_slots_and_every_slot_an_example():
    assert all(base.slots for base in load_library().bases)
    assert set(SLOTS) == set(EXAMPLES)
    for name, example in EXAMPLES.items():
        assert example.spec().family in SLOTS[name].families, name
        kinds = {slot.kind for slot in SLOTS[name].slots.values()}
        assert "loss_term" in kinds, SLOTS[name].families  # every family takes an extra loss term
    for base in load_library().bases:  # a scaffold sharing another's slots shares its slot examples too
        assert set(base.slots) <= set(EXAMPLES), base.families


@pytest.mark.parametrize("slot", sorted(EXAMPLES))
def test_a_correct_body_in_every_slot_renders_ruff_clean_and_passes_the_probe(slot, splits, tmp_path):
    example = EXAMPLES[slot]
    folder = rendered(example.spec(), example.fill, tmp_path)
    source = (folder / "model.py").read_text()
    assert f'SLOT = "{slot}"' in source
    assert ruff_check(folder / "model.py").returncode == 0, ruff_check(folder / "model.py").stdout
    assert [gate for gate in gates.static_gates(source, folder) if not gate["ok"]] == []
    results = probe.probe(str(folder), splits[example.data].path, steps=30, lr=0.01, batch_size=64)
    assert [(g["name"], g["ok"]) for g in results] == [(n, True) for n in ("build", "shapes", "overfit", "leakage")], \
        results


def test_the_slot_is_named_by_the_part_by_its_kind_or_found_by_a_cue():
    base = load_library().base_for("sequential")
    spec = EXAMPLES["sequence_loss_term"].spec()
    assert [slot.name for slot in render.part_slots(spec, base)] == ["sequence_loss_term"]  # "contrastive"
    named = spec.model_copy(update={"custom": [spec.custom[0].model_copy(update={"slot": "sequence_encoder"})]})
    assert [slot.name for slot in render.part_slots(named, base)] == ["sequence_encoder"]
    by_kind = spec.model_copy(update={"custom": [spec.custom[0].model_copy(update={"slot": "loss_term"})]})
    assert [slot.name for slot in render.part_slots(by_kind, base)] == ["sequence_loss_term"]
    wrong = spec.model_copy(update={"custom": [spec.custom[0].model_copy(update={"slot": "pair_scorer"})]})
    with pytest.raises(StageError, match=r"names slot 'pair_scorer', which the sequential models do not have "
                                         r"\(slots: sequence_encoder \(sequence_encoder\), sequence_loss_term"):
        render.part_slots(wrong, base)


def test_compositions_a_slot_cannot_serve_are_refused_by_name():
    interaction = EXAMPLES["field_interaction"].spec()
    dcn = reference_spec("DCN").model_copy(update={"custom": interaction.custom})
    with pytest.raises(StageError, match=r"'weighted pairs' \(slot field_interaction\) gives a term the sum_logits "
                                         r"scorer sums; this model ends in 'concat_head'"):
        render.run(dcn, {}, fill_in=object())  # refused before any LLM call
    encoder = EXAMPLES["row_encoder"].spec()
    with_encoder = reference_spec("Mult-DAE").model_copy(update={"custom": encoder.custom})
    with pytest.raises(StageError, match="more than one block provides the latent"):
        render.run(with_encoder, {}, fill_in=object())
    unknown = EXAMPLES["topk_loss_term"].spec()
    unknown = unknown.model_copy(update={"custom": [unknown.custom[0].model_copy(update={"params": {"wieght": 1}})]})
    with pytest.raises(StageError, match="sets 'wieght', which its slot topk_loss_term does not read"):
        render.run(unknown, {}, fill_in=object())


@pytest.mark.parametrize("slot, forward_body, expected", [
    ("sequence_encoder", "return x[:, :, :-1]",
     r"custom part CustomRunningMeanEncoder \(slot sequence_encoder\) returned x of shape \[\d+, \d+, 15\], expected "
     r"\[B, L, dim\] = \[\d+, \d+, 16\]"),
    ("row_encoder", "return self.out(torch.tanh(self.hidden(x)))[:, :8]",  # dim comes from the constructor (slot_sizes)
     r"returned latent of shape \[\d+, 8\], expected \[B, dim\] = \[\d+, 16\]"),
    ("field_interaction", "return self.project(fields).sum(dim=1)",
     r"returned logit of shape \[\d+, 1\], expected \[B\]"),
    ("topk_loss_term", "return torch.ones(3, requires_grad=True)", r"returned loss of shape \[3\], expected \[\]"),
])
def test_a_wrong_shape_fails_the_shapes_gate_naming_the_slot(slot, forward_body, expected, splits, tmp_path):
    example = EXAMPLES[slot]
    folder = rendered(example.spec(), {**example.fill, "forward_body": forward_body}, tmp_path)
    results = probe.probe(str(folder), splits[example.data].path, steps=5, lr=0.01, batch_size=64)
    failed = gates.first_failure(results)
    assert failed is not None and failed["name"] == "shapes", results
    assert failed["detail"].startswith("SlotShapeError: ") and "\n" not in failed["detail"]
    assert re.search(expected, failed["detail"]), failed["detail"]


# --- through the loopback LLM server: written, gated, repaired, trained briefly ------------------------------

def filled(server: FakeOpenAI, tmp_path: Path, split: SplitInfo, spec: MethodSpec) -> tuple[Path, dict[str, Any]]:
    files = render.run(spec, {}, fill_in(server, tmp_path, split, attempts=2))
    report = json.loads(files.pop("fill_report.json"))
    folder = write(files, tmp_path / "model")
    assert ruff_check(folder / "model.py").returncode == 0
    return folder, report


def trains(folder: Path, split: SplitInfo, tmp_path: Path) -> dict[str, float]:
    result = train_stage.run(folder, split, TRAIN, tmp_path / "out")
    assert result.status == "ok" and result.epochs_run == TRAIN["max_epochs"]
    return result.test


def test_topk_a_custom_scorer_is_written_gated_and_trained(server, splits, tmp_path):
    example = EXAMPLES["pair_scorer"]
    spec = example.spec()
    spec = spec.model_copy(update={"custom": [spec.custom[0].model_copy(update={"slot": None})]})  # found by "distance"
    server.responder = answers(example.fill)
    folder, report = filled(server, tmp_path, splits["topk"], spec)
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "fixed slot `pair_scorer` (scorer)" in prompt and "user_rows [..., d]" in prompt
    assert [part["status"] for part in report["parts"]] == ["ok"]
    source = (folder / "model.py").read_text()
    assert "Architecture: embedding -> custom; loss: bpr." in source  # the custom part scores, dot_score is gone
    assert 0.0 <= trains(folder, splits["topk"], tmp_path)["ndcg@10"] <= 1.0


def test_sequential_a_wrong_shape_is_repaired_on_the_second_attempt_then_trained(server, splits, tmp_path):
    example = EXAMPLES["sequence_encoder"]
    wrong = {**example.fill, "forward_body": "return x[:, :, :-1]"}
    server.responder = answers(wrong, example.fill)
    folder, report = filled(server, tmp_path, splits["sequences"], example.spec())
    assert [task_of(body) for body in server.requests] == ["fill.part", "fill.repair"]
    first = server.requests[0]["messages"][-1]["content"]
    assert "x [B, L, dim]" in first and "mask [B, L]" in first and "dim: the embedding size" in first
    [entry] = report["parts"]
    assert [attempt["passed"] for attempt in entry["attempts"]] == [False, True]
    failed = gates.first_failure(entry["attempts"][0]["gates"])
    assert failed["name"] == "shapes" and "(slot sequence_encoder) returned x of shape" in failed["detail"]
    repair = server.requests[1]["messages"][-1]["content"]
    assert "`shapes`" in repair and failed["detail"] in repair and "x[:, :, :-1]" in repair
    source = (folder / "model.py").read_text()
    assert "item_embedding -> custom -> last_position -> item_dot_score" in source
    assert "x = self.custom_running_mean_encoder(x, histories > 0)" in source
    assert "train_positions" not in (folder / "config.yaml").read_text()  # an LLM part trains on prefixes
    assert 0.0 <= trains(folder, splits["sequences"], tmp_path)["ndcg@10"] <= 1.0


def test_context_an_interaction_term_is_written_gated_and_trained(server, splits, tmp_path):
    example = EXAMPLES["field_interaction"]
    server.responder = answers(example.fill)
    folder, report = filled(server, tmp_path, splits["ctr"], example.spec())
    assert report["parts"][0]["status"] == "ok"
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "fields [B, n_fields, dim]" in prompt and "re-initialises every nn.Linear" in prompt
    assert "parts.append(self.custom_weighted_pairs(fields))" in (folder / "model.py").read_text()
    assert 0.0 < trains(folder, splits["ctr"], tmp_path)["auc"] <= 1.0


def test_autoencoder_an_encoder_is_written_gated_and_trained(server, splits, tmp_path):
    example = EXAMPLES["row_encoder"]
    server.responder = answers(example.fill)
    folder, report = filled(server, tmp_path, splits["topk"], example.spec())
    assert report["parts"][0]["status"] == "ok"
    source, config = (folder / "model.py").read_text(), (folder / "config.yaml").read_text()
    assert "self.slot_sizes = {\"dim\": dim}" in source and "decoder_sizes = [latent_size]" in source
    assert "latent_size: 16" in config and 'activation: "tanh"' in config
    assert 0.0 <= trains(folder, splits["topk"], tmp_path)["ndcg@10"] <= 1.0


def test_a_contrastive_loss_term_is_added_with_its_weight_and_trained(server, splits, tmp_path):
    example = EXAMPLES["topk_loss_term"]
    spec = example.spec()
    spec = spec.model_copy(update={"custom": [spec.custom[0].model_copy(update={"slot": None})]})  # "contrastive"
    server.responder = answers(example.fill)
    folder, report = filled(server, tmp_path, splits["topk"], spec)
    assert report["parts"][0]["status"] == "ok"
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "fixed slot `topk_loss_term` (loss_term)" in prompt and "Its weight in this config: 0.5" in prompt
    source, config = (folder / "model.py").read_text(), (folder / "config.yaml").read_text()
    assert 'custom_params: {"contrastive_objective": {"weight": 0.5}}' in config
    assert "custom_params.contrastive_objective.weight = 0.5 [spec custom part parameter" in source
    assert 'loss = loss + self.custom_params["contrastive_objective"]["weight"] * term' in source
    assert "Architecture: embedding -> custom -> dot_score; loss: bpr." in source
    assert 0.0 <= trains(folder, splits["topk"], tmp_path)["ndcg@10"] <= 1.0


@pytest.mark.parametrize("file, change, message", [
    ("slots/sequence_encoder.yaml", lambda d: d["outputs"][0].update(shape=["B", "L", "width"]),
     "templates/slots/sequence_encoder.yaml: outputs[0].shape: 'width' is neither a constructor argument nor one of "
     "`symbols`"),
    ("slots/row_encoder.yaml", lambda d: d.update(needs=["user_rows"]),
     "templates/slots/row_encoder.yaml: needs[0]: 'user_rows' is no block or role of the autoencoder scaffold"),
    ("slots/topk_loss_term.yaml", lambda d: d.pop("outputs"), "templates/slots/topk_loss_term.yaml: outputs: missing"),
    ("family.yaml", lambda d: d.update(slots=["representation", "scorer"]),
     "templates/family.yaml: slots[1]: no slot 'scorer' (slots/scorer.yaml in templates)"),
    ("slots/pair_scorer.py.j2", None, "templates/slots/pair_scorer.yaml: slot 'pair_scorer' has a manifest but no "
     "template pair_scorer.py.j2"),
])
def test_a_broken_slot_manifest_is_one_line_naming_file_and_field(tmp_path, file, change, message):
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, root)
    path = root / file
    if change is None:
        path.unlink()
    else:
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ManifestError) as info:
        load_library(root)
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)
