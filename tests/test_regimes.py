"""The regime table (paper_autotrain/regimes.py): every entry resolves, every family's regime has one, and a new
entry reaches the split, the worker, the baselines, the references, the report's protocol and the trained-model
API without editing them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from paper_autotrain import regimes
from paper_autotrain.errors import UserError
from paper_autotrain.library import load_library
from paper_autotrain.regimes import REGIMES, TOPK, Regime, RegimeError, regime, resolve
from paper_autotrain.stages import baselines
from paper_autotrain.stages.baselines import runner
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.stages.compare.protocol import Ours, our_protocol
from paper_autotrain.trained import TrainedModel
from paper_autotrain.worker import loading
from paper_autotrain.worker.train import load_training_data
from tests import report_fixtures
from tests.model_fixtures import reference_spec

FAMILIES = ("general", "graph", "knowledge", "other", "sequential", "autoencoder", "context")


# --- the entries -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGIMES))
def test_every_entry_names_real_functions_and_classes(name):
    entry = regime(name)
    assert entry.name == name
    for field, reference in entry.references():
        if reference is not None:
            assert callable(resolve(reference)), f"{name}.{field}: {reference}"
    assert issubclass(resolve(entry.base_module), torch.nn.Module)


def test_every_family_yaml_regime_has_an_entry_that_agrees_with_it():
    for base in load_library().bases:
        split_regime = regime(base.regime)
        trained_in = regime(base.train_regime or base.regime)
        assert resolve(trained_in.base_module).__name__ == base.module, base.folder  # family.yaml's module
        assert (trained_in.prepare_split, trained_in.load_split) == (split_regime.prepare_split,
                                                                      split_regime.load_split), base.folder


def test_a_block_the_reading_counts_as_fitted_once_is_one_of_a_fitted_regime_and_back():
    """The extractor reads `fitted_once` from a block's manifest (its loss is `fit`) without importing this table;
    the two agree for every block of every family."""
    library = load_library()
    blocks = {name: rule for base in library.bases for name, rule in base.blocks.items()}
    fitted = {name for name, rule in blocks.items() if rule.fitted_once}
    assert fitted >= {"ease", "slim", "item_knn", "ials"}
    assert fitted == {name for name, rule in blocks.items() if regimes.fitted_once(rule.regime)}


def test_families_keep_their_regimes_and_default_baselines():
    """The mapping the if-chains used to spell out: context and sequential split their own way, the rest top-k;
    autoencoders train on user rows and compare with MultiVAE/EASE; knowledge models add the KG to the top-k split."""
    split = {family: regimes.family_regime(family).name for family in FAMILIES}
    assert split == {**dict.fromkeys(FAMILIES, "topk"), "sequential": "sequential", "context": "context",
                     "knowledge": "knowledge"}
    trained = {family: regimes.family_training_regime(family).name for family in FAMILIES}
    assert trained == {**split, "autoencoder": "user_rows"}
    general = ("Pop", "ItemKNN", "BPR", "LightGCN")
    defaults = {family: regimes.family_training_regime(family).default_baselines for family in FAMILIES}
    assert defaults == {**dict.fromkeys(FAMILIES, general), "sequential": ("Pop", "GRU4Rec", "SASRec"),
                        "autoencoder": ("Pop", "ItemKNN", "MultiVAE", "EASE"),
                        "context": ("LR", "FM", "DeepFM", "WideDeep"), "knowledge": ("Pop", "ItemKNN", "BPR", "CKE")}


def test_an_unknown_regime_is_one_line_naming_the_known_ones():
    with pytest.raises(RegimeError) as caught:
        regimes.config_regime({"data": {"regime": "graphs"}})
    assert str(caught.value) == ("unknown data regime 'graphs' (known: behaviour, context, fit, knowledge, "
                                 "sequential, topk, user_batches, user_rows)")
    assert isinstance(caught.value, ValueError)  # the runner and the probe report it as any bad value


def test_a_config_without_a_regime_trains_top_k():
    assert regimes.config_regime({}) is TOPK and regimes.config_regime({"data": {}}) is TOPK


def test_entries_are_checked_when_written():
    with pytest.raises(RegimeError, match=r"regime 'bad': load_split: 'data/split.py' is not"):
        dataclasses.replace(TOPK, name="bad", load_split="data/split.py")
    with pytest.raises(RegimeError, match="name"):
        dataclasses.replace(TOPK, name="Top K")
    with pytest.raises(RegimeError, match="default_baselines"):
        dataclasses.replace(TOPK, name="bad", default_baselines=())
    with pytest.raises(RegimeError, match=r"no module paper_autotrain\.nowhere"):
        resolve("paper_autotrain.nowhere:thing")
    with pytest.raises(RegimeError, match="has no 'nothing'"):
        resolve("paper_autotrain.data.split:nothing")


def test_the_table_imports_neither_torch_nor_recbole():
    code = ("import sys; import paper_autotrain.regimes as r; r.family_regime('sequential'); "
            "print(sorted(m for m in ('torch', 'recbole', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- a new entry reaches every consumer ---------------------------------------------------------------------


def fake_prepare(dataset_cfg, datasets_root, window):
    return ("prepared", dataset_cfg["name"], str(datasets_root), window)


def fake_load(split_dir):
    return ("split", str(split_dir))


def fake_batches(split, config, seed):
    return ("batches", split, seed)


def fake_recbole(cfg):
    return {"FAKE_FIELD": cfg.get("window")}


def fake_scorer(trained, split_path, ks):
    return ("scores", split_path, ks)


class FakeSpec:
    def hp(self, name):
        return {"window": 9}.get(name)


@pytest.fixture
def fake_regime(monkeypatch) -> Regime:
    here = __name__
    fake = dataclasses.replace(
        TOPK, name="fake", prepare_split=f"{here}:fake_prepare", load_split=f"{here}:fake_load",
        training_batches=f"{here}:fake_batches", recbole_config=f"{here}:fake_recbole",
        baseline_scorer=f"{here}:fake_scorer", default_loss="fake_loss", split_hyperparameters={"window": 5},
        default_baselines=("Pop",))
    monkeypatch.setitem(REGIMES, "fake", fake)
    return fake


def test_a_new_entry_cuts_its_split_with_the_spec_values(fake_regime, tmp_path):
    assert fake_regime.prepare({"name": "ml"}, tmp_path, FakeSpec()) == ("prepared", "ml", str(tmp_path), 9)
    assert fake_regime.split_settings(FakeSpec()) == {"window": 9}


def test_a_new_entry_reaches_the_worker(fake_regime, tmp_path):
    config = {"model": {"class_name": "Fake"}, "data": {"regime": "fake"}}
    split, loader = load_training_data(config, tmp_path, 3)
    assert split == ("split", str(tmp_path)) and loader == ("batches", split, 3)
    assert loading.model_kwargs(config)["loss"] == "fake_loss"  # its base module applies the loss itself


def test_a_new_entry_reaches_the_baselines(fake_regime):
    config = baselines.recbole_config({}, {"regime": "fake", "window": 9})
    assert config["FAKE_FIELD"] == 9 and config["eval_args"]["mode"] == "full"  # the shared protocol, then its own
    assert runner.regime_scorer("fake") is fake_scorer
    with pytest.raises(RegimeError, match="known: behaviour, context, fake, fit, knowledge, sequential"):
        runner.regime_scorer("missing")


def fake_reference(spec):
    return ("FakeClass", {"fake": spec.family}, ["mapped by the fake entry"])


def fake_protocol(split, run):
    return Ours(split=f"our protocol on {split.split_id}", ranking="-", filters="-", metric_definition="-",
                early_stopping="-")


class FakeRanking:
    def __init__(self, model, split):
        self.model, self.split = model, split


def test_an_entry_s_reference_protocol_and_ranking_reach_their_consumers(monkeypatch):
    here = __name__
    changed = dataclasses.replace(TOPK, reference_mapping=f"{here}:fake_reference",
                                  our_protocol=f"{here}:fake_protocol", ranking=f"{here}:FakeRanking")
    monkeypatch.setitem(REGIMES, "topk", changed)
    assert reference_with_notes(reference_spec("LightGCN")) == ("FakeClass", {"fake": "graph"},
                                                                 ["mapped by the fake entry"])
    split = report_fixtures.SPLIT
    ours = our_protocol(split, report_fixtures.spec(), None)
    assert ours.split == f"our protocol on {split.split_id}" and ours.dataset == split.dataset
    trained = TrainedModel(model="m", split="s", config={"data": {"regime": "topk"}}, folder=None)
    assert isinstance(trained.ranking, FakeRanking) and trained.ranking.split == "s"


def test_a_regime_that_ranks_nothing_refuses_recommendations_in_one_line():
    trained = TrainedModel(model="m", split="s", config={"data": {"regime": "context"}}, folder=None)
    with pytest.raises(UserError, match=r"^a context model scores labelled rows"):
        trained.recommend("1")
