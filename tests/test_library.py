"""The block library's manifests (templates/**/blocks/<block>.yaml, templates/**/family.yaml): they compose, a
broken one is refused in one line, each value is read from one place, and a new block needs no Python edit."""

from __future__ import annotations

import ast
import difflib
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import paper_autotrain.runtime as runtime
from paper_autotrain.errors import StageError
from paper_autotrain.library import TEMPLATES_DIR, Base, ManifestError, in_range, load_library, read_library
from paper_autotrain.schemas import CANONICAL_HYPERPARAMETERS, MethodSpec, PaperBundle, PaperMeta
from paper_autotrain.stages import extract, parse, render
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.stages.extract.defaults import drop_copied_hyperparameters, needed_defaults
from paper_autotrain.stages.extract.library import TOPK_FAMILIES, library_blocks
from paper_autotrain.worker.loading import build_model, load_config
from tests.model_fixtures import reference_spec, synthetic_split
from tests.test_render import ruff_check

LIBRARY = load_library()
BASES = {base.folder or "top-k": base for base in LIBRARY.bases}
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "papers" / "tinyprop.pdf"


def spec_with(base: Base, architecture: list[dict]) -> MethodSpec:
    family = base.families[0]
    return MethodSpec(paper={"key": "t"}, family=family, task=base.tasks[0], model_name="T",
                      loss=next(iter(base.losses)), architecture=architecture)


# --- every manifest composes -----------------------------------------------------------------------

@pytest.mark.parametrize("name", BASES)
def test_each_block_template_has_a_manifest_and_each_manifest_a_template(name: str) -> None:
    folder = TEMPLATES_DIR / BASES[name].blocks_folder
    templates = {path.stem for path in folder.glob("*.j2")}
    assert templates == {path.stem for path in folder.glob("*.yaml")} == set(BASES[name].blocks)
    assert (TEMPLATES_DIR / BASES[name].template).is_file()


@pytest.mark.parametrize("name", BASES)
def test_every_hyperparameter_link_is_a_known_key(name: str) -> None:
    """A link extract fills and +hparams accepts; one that is not canonical is no near-miss of a canonical key."""
    base = BASES[name]
    for rule in base.blocks.values():
        known = {*CANONICAL_HYPERPARAMETERS, *needed_defaults(spec_with(base, [{"block": rule.name}]))}
        for param in rule.params:
            for key in filter(None, (param.hyperparameter, param.repeat,
                                     param.default_from and param.default_from.hyperparameter)):
                assert key in known, f"{rule.name}.{param.key} reads unknown hyperparameter {key}"
                if key not in CANONICAL_HYPERPARAMETERS:
                    assert not difflib.get_close_matches(key, CANONICAL_HYPERPARAMETERS, cutoff=0.8), key


@pytest.mark.parametrize("name", BASES)
def test_defaults_lie_within_their_ranges_and_choices(name: str) -> None:
    for rule in BASES[name].blocks.values():
        for param in rule.params:
            values = param.default if isinstance(param.default, list) else [param.default]
            assert param.range is None or all(in_range(value, param.range) for value in values), param
            assert not param.choices or str(param.default).lower() in param.choices, param


@pytest.mark.parametrize("name", BASES)
def test_blocks_of_a_scaffold_agree_on_a_shared_hyperparameter_s_default(name: str) -> None:
    """One default per hyperparameter: two blocks reading it give it the same one (whichever the spec holds)."""
    seen: dict[str, tuple[str, object]] = {}
    for rule in BASES[name].blocks.values():
        for param in rule.params:
            if param.hyperparameter is None or param.repeat is not None:
                continue
            first = seen.setdefault(param.hyperparameter, (rule.name, param.default))
            assert first[1] == param.default, f"{param.hyperparameter}: {first} vs {rule.name} {param.default}"


@pytest.mark.parametrize("name", BASES)
def test_needs_name_blocks_or_roles_and_imports_are_runtime_names(name: str) -> None:
    base = BASES[name]
    roles = {role for rule in base.blocks.values() for role in rule.provides}
    assert {base.module, base.split_type, *(n for names in base.losses.values() for n in names)} <= set(dir(runtime))
    for rule in base.blocks.values():
        assert set(rule.needs_before) <= set(base.blocks) | roles, rule.name
        assert set(rule.imports) <= set(dir(runtime)), rule.name
        assert rule.description.startswith(rule.name)
    assert any(rule.scorer for rule in base.blocks.values())


def test_a_model_lists_only_the_block_defaults_its_own_blocks_read() -> None:
    """NARM's GRU reads gru_layers, not the family's n_layers: the spec does not list n_layers 2 as a default the
    model uses; SASRec's encoder reads n_layers, so its spec does; training settings stay whatever the blocks."""
    sequential = BASES["sequential"]
    narm = needed_defaults(spec_with(sequential, [{"block": "item_embedding"}, {"block": "narm_encoder"},
                                                  {"block": "item_dot_score"}]))
    sasrec = needed_defaults(spec_with(sequential, [{"block": "item_embedding"}, {"block": "self_attention_encoder"},
                                                    {"block": "last_position"}, {"block": "item_dot_score"}]))
    assert "n_layers" not in narm and narm["gru_layers"] == 1
    assert sasrec["n_layers"] == 2
    for defaults in (narm, sasrec):
        assert {"learning_rate", "batch_size", "l2_reg", "negative_samples", "max_seq_length"} <= set(defaults)
    custom = needed_defaults(spec_with(sequential, [{"block": "item_embedding"}, {"block": "custom"},
                                                    {"block": "last_position"}, {"block": "item_dot_score"}]))
    assert {"n_layers", "hidden_size", "dropout"} <= set(custom)  # a custom part may read any of them
    cosrec = needed_defaults(spec_with(sequential, [{"block": "item_embedding"}, {"block": "pairwise_convolution"},
                                                    {"block": "item_dot_score"}]))
    assert cosrec["n_layers"] == 2  # the count of its repeated channel list


def test_scaffolds_cover_the_families_and_render_s_activations() -> None:
    assert LIBRARY.bases[0].families == TOPK_FAMILIES and LIBRARY.bases[0].fill_slot
    assert {family for base in LIBRARY.bases for family in base.families} == {
        "general", "graph", "knowledge", "other", "sequential", "autoencoder", "context"}
    for base in LIBRARY.bases:  # the activation words render turns into modules
        if "mlp_tower" in base.blocks:
            assert base.blocks["mlp_tower"].word_choices["activation"] == tuple(render.ACTIVATIONS)


# --- a broken manifest: one line naming the file and the field ---------------------------------------

def copied_templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, root)
    return root


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("file, change, message", [
    ("blocks/embedding.yaml", lambda d: d["params"][0].update(type="integer"),
     "templates/blocks/embedding.yaml: params[0].type: 'integer' is not a type (int, float, int_list, str, bool)"),
    ("blocks/embedding.yaml", lambda d: d["params"][0].update(default=0),
     "templates/blocks/embedding.yaml: params[0].default: 0 is outside range [1, None]"),
    ("sequential/blocks/gru_encoder.yaml", lambda d: d["params"][2].update(default="half"),
     "templates/sequential/blocks/gru_encoder.yaml: params[2].default: 'half' is not of type float"),
    ("blocks/light_propagation.yaml", lambda d: d.update(needs=["embeding"]),
     "templates/blocks/light_propagation.yaml: needs[0]: 'embeding' is no block or role of this scaffold"),
    ("blocks/gmf.yaml", lambda d: d.update(neds=["mlp_tower"]), "templates/blocks/gmf.yaml: neds: unknown field"),
    ("context/blocks/mlp_tower.yaml", lambda d: d["params"][0].pop("block_param"),
     "templates/context/blocks/mlp_tower.yaml: params[0].block_param: missing"),
    ("autoencoder/family.yaml", lambda d: d.pop("losses"), "templates/autoencoder/family.yaml: losses: missing"),
    ("family.yaml", lambda d: d.update(scaffolds=["sequential", "graph"]),
     "templates/family.yaml: scaffolds: no folder 'graph' in templates"),
    ("family.yaml", lambda d: d["recbole_classes"][1].update(blocks=["embedding", "light_propagaton"]),
     "templates/family.yaml: recbole_classes[1].blocks: 'light_propagaton' is not a block of this scaffold"),
    ("sequential/family.yaml", lambda d: d["recbole_classes"][0].update(match="similar"),
     "templates/sequential/family.yaml: recbole_classes[0].match: 'similar' is not one of exact, contains, telltale"),
])
def test_a_broken_manifest_is_one_line_naming_file_and_field(tmp_path: Path, file: str, change, message: str) -> None:
    root = copied_templates(tmp_path)
    edit_yaml(root / file, change)
    with pytest.raises(ManifestError) as info:
        load_library(root)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    with pytest.raises(StageError, match="^templates/"):  # render passes it on as the stage's one-line error
        render.run(reference_spec("MF-BPR"), {"templates_dir": str(root)})


def test_a_template_without_manifest_and_bad_yaml_are_named(tmp_path: Path) -> None:
    root = copied_templates(tmp_path)
    (root / "blocks" / "gmf.yaml").unlink()
    with pytest.raises(ManifestError, match=r"^templates/blocks/gmf.yaml: block 'gmf' has a template but no manifest"):
        load_library(root)
    other = copied_templates(tmp_path / "other")
    (other / "sequential" / "family.yaml").write_text("families: [sequential\n")
    with pytest.raises(ManifestError, match=r"^templates/sequential/family.yaml: not valid YAML \(line 2\)$"):
        load_library(other)


# --- each value once: hyperparameters, read by render and by the RecBole reference ------------------

def test_render_reads_user_then_block_then_hyperparameter_then_default() -> None:
    base = reference_spec("MF-BPR").model_dump()
    quoted = {"value": 32, "source": "paper", "evidence": "p2: the embedding size is 32"}

    def row(architecture: list[dict], **hyperparameters: dict) -> tuple:
        spec = MethodSpec.model_validate({**base, "architecture": architecture,
                                          "hyperparameters": {**base["hyperparameters"], **hyperparameters}})
        _, rows, _ = render.resolve_block_params(spec, render.base_for(spec).blocks)
        return rows[0]["value"], rows[0]["source"], rows[0]["evidence"]

    hand_written = [{"block": "embedding", "dim": 16}, {"block": "dot_score"}]
    bare = [{"block": "embedding"}, {"block": "dot_score"}]
    assert row(hand_written, embedding_size={"value": 48, "source": "user"}) == (48, "user", "")
    assert row(hand_written, embedding_size=quoted) == (16, "spec block parameter (embedding.dim), no quote", "")
    assert row(bare, embedding_size=quoted) == (32, "paper", "p2: the embedding size is 32")
    assert row(bare) == (64, "default (template; not in spec)", "")


def test_a_hand_edited_hyperparameter_changes_our_model_and_the_reference(tmp_path: Path) -> None:
    """The issue's case: spec.yaml's embedding_size edited (source still paper) reaches both models."""
    bundle = PaperBundle(meta=PaperMeta(key="tinyprop"), pdf=EXAMPLE.name)
    spec = extract.run(parse.run(bundle, EXAMPLE.parent, {"max_pages": 60, "max_mb": 50}), {"name": "rules"})
    assert "dim" not in spec.architecture[0].params  # extract keeps the value in one place: the hyperparameter
    data = yaml.safe_load(yaml.safe_dump(spec.model_dump(mode="json")))
    assert data["hyperparameters"]["embedding_size"]["value"] == 32
    data["hyperparameters"]["embedding_size"]["value"] = 128  # the hand edit
    edited = MethodSpec.model_validate(data)
    files = render.run(edited, {})
    assert yaml.safe_load(files["config.yaml"])["model"]["embedding_size"] == 128
    assert "| embedding_size | `128` | paper |" in files["README.md"]
    assert reference_with_notes(edited)[1]["embedding_size"] == 128


def test_extract_drops_block_parameters_that_copy_a_hyperparameter() -> None:
    """The generic rule (no per-block code): a param with a hyperparameter link leaves the block; words stay."""
    spec = spec_with(BASES["autoencoder"], [
        {"block": "user_row_input", "norm": "none", "dropout": 0.3},
        {"block": "cdae_encoder", "latent": 32, "activation": "sigmoid", "width": 3},
        {"block": "item_decoder"}])
    assert [block.model_dump() for block in drop_copied_hyperparameters(spec).architecture] == [
        {"block": "user_row_input", "norm": "none"},
        {"block": "cdae_encoder", "activation": "sigmoid", "width": 3},  # an unknown word is render's to report
        {"block": "item_decoder"}]


# --- a new block: one template and one manifest, no Python edit --------------------------------------

SCALED_TEMPLATE = """{#- Block `scaled_dot_score`: see scaled_dot_score.yaml. -#}
{% if section == "args" %}
score_scale: float
{% elif section == "init" %}
        self.score_scale = score_scale
{% elif section == "score" %}
        user_table, item_table = state
        return self.score_scale * (lookup(user_table, users) * lookup(item_table, items)).sum(-1)
{% elif section == "full_sort" %}
        user_table, item_table = state
        return self.score_scale * (user_table[users] @ item_table.T)
{% endif %}
"""
SCALED_MANIFEST = """description: >-
  scaled_dot_score: the inner product of the user and item embeddings, times a fixed scale.
params:
  - key: score_scale
    block_param: scale
    hyperparameter: score_scale
    default: 2.0
    type: float
    range: [0, null]
needs: [embedding]
imports: [lookup]
scorer: true
"""


def test_a_new_block_is_picked_up_with_no_python_edit(tmp_path: Path) -> None:
    root = copied_templates(tmp_path)
    (root / "blocks" / "scaled_dot_score.j2").write_text(SCALED_TEMPLATE)
    (root / "blocks" / "scaled_dot_score.yaml").write_text(SCALED_MANIFEST)
    spec = MethodSpec.model_validate({**reference_spec("MF-BPR").model_dump(), "architecture": [
        {"block": "embedding", "dim": 8}, {"block": "scaled_dot_score"}]})
    with pytest.raises(StageError, match="'scaled_dot_score' has no general template"):
        render.run(spec, {})  # not in the shipped library
    files = render.run(spec, {"templates_dir": str(root)})
    config = yaml.safe_load(files["config.yaml"])
    assert config["model"]["score_scale"] == 2.0 and "| score_scale | `2.0` | default" in files["README.md"]
    folder = tmp_path / "model"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    ast.parse(files["model.py"])
    done = ruff_check(folder / "model.py")
    assert done.returncode == 0, done.stdout + done.stderr
    model = build_model(folder, load_config(folder), synthetic_split()).eval()
    with torch.no_grad():
        assert model.full_sort_scores(torch.tensor([0, 1])).shape == (2, 60)
    assert "scaled_dot_score" in {block.name for block in library_blocks("general", root)}  # the LLM prompt's list
    edit_yaml(root / "family.yaml", lambda d: d["recbole_classes"].append(
        {"class": "ScaledMF", "blocks": ["embedding", "scaled_dot_score"]}))  # its RecBole class: a family.yaml line
    read_library.cache_clear()
    general = load_library(root).base_for("general")
    assert general.recbole_class(frozenset({"embedding", "scaled_dot_score"}), "bce") == "ScaledMF"

