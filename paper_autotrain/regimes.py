"""The data regimes: one table of what each regime's split, runtime, probe, leakage gate and baselines use.

A data regime is how a model meets the data: `topk` (interaction pairs, full ranking), `user_rows` (the top-k
split trained on whole user rows: autoencoders), `sequential` (time-ordered histories, leave-one-out),
`context` (labelled CTR rows), `behaviour` (those rows with each user's earlier items: DIN), `fit` (the top-k
split, models fitted once on it: the item-item EASE, SLIM, ItemKNN and iALS's factors) and `user_batches` (the
top-k split trained on batches of users, each with all its train pairs: ENMF). Every place that used to branch on
the regime reads its `Regime` entry instead:
the pipeline's split and baselines config, the worker's training batches, model loading, probe and leakage
gate, the baselines' RecBole config, default models and scorer. Adding a regime is one entry here (plus the
functions it names); adding a family is a templates folder whose family.yaml names a regime of this table.

A family's regime is read from its family.yaml (`regime`, and `train_regime` where training batches differ)
through the block library (library.py), never restated here.

Torch-free: an entry names its parts as "package.module:attribute" strings, imported only when a consumer
resolves one (`resolve`), so the pipeline reads the table without importing torch or RecBole. code_hash.py
counts those strings as edges, so stage code hashes cover the modules the table names.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paper_autotrain.errors import StageError
from paper_autotrain.library import load_library
from paper_autotrain.schemas import TRAINING_HYPERPARAMETERS

if TYPE_CHECKING:
    from paper_autotrain.schemas import MethodSpec

DEFAULT_REGIME = "topk"  # what a config.yaml without data.regime (an older render) trains in
REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
NAME = re.compile(r"[a-z][a-z0-9_]*")


class RegimeError(StageError, ValueError):
    """A regime the table does not hold, or an entry it cannot use: one line, naming the known regimes."""


def reference(*, optional: bool = False) -> Any:
    """A field naming a function or class as "package.module:attribute" (None allowed when `optional`)."""
    metadata = {"reference": True}
    return field(default=None, metadata=metadata) if optional else field(metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class Regime:
    """One data regime: every decision that depends on it, each named once."""

    name: str
    """the regime's name, as config.yaml's data.regime and family.yaml's regime/train_regime write it"""
    prepare_split: str = reference()
    """(dataset_cfg, datasets_root, **split_hyperparameters) -> SplitInfo: computes (or reuses) the saved split"""
    load_split: str = reference()
    """(split_dir) -> the split the model's constructor receives (SplitData, SequenceSplit, CTRSplit)"""
    base_module: str = reference()
    """the runtime base class a generated model of this regime extends (the worker accepts these only)"""
    training_batches: str = reference()
    """(split, config, seed) -> the DataLoader of an epoch's training batches, as config.yaml asks for them"""
    probe_batch: str = reference()
    """(split, config, size) -> one small training batch, for the probe's shapes, overfit and leakage gates"""
    shape_check: str = reference()
    """(model, batch) -> the shapes gate's detail line; raises ValueError on a wrong shape or a non-finite loss"""
    decoy_split: str = reference()
    """(split) -> the split with other validation/test data, train untouched (the leakage gate's twin build)"""
    baseline_scorer: str = reference()
    """(trained, split_path, ks) -> Scores: a trained RecBole model scored by our evaluator (runner subprocess)"""
    default_baselines: tuple[str, ...]
    """the RecBole models `baselines=[auto]` compares a model of this regime with (the reference joins them)"""
    split_hyperparameters: Mapping[str, int] = field(default_factory=dict, hash=False)
    """spec hyperparameters the split is cut with -> their default when the spec states none; the baselines'
    config carries them too (RecBole's MAX_ITEM_LIST_LENGTH reads max_seq_length)"""
    default_loss: str | None = None
    """the loss the base module applies when config.yaml names none; None: the model's own rendered loss()"""
    training_data_leak: str | None = reference(optional=True)
    """(config, split_dir, split) -> what held-out data the training batches hold, or None when clean;
    None: the loader reads the train part by construction"""
    structure_leak: str | None = reference(optional=True)
    """(model, split) -> which interaction structure the model keeps holds held-out data, or None when clean;
    None: the regime has no user x item structure to inspect"""
    recbole_config: str | None = reference(optional=True)
    """(baselines cfg) -> what the regime changes in RecBole's config beyond the shared top-k protocol"""
    reference_mapping: str = reference()
    """(spec) -> (model, overrides, notes) | None: RecBole's class that the spec's blocks build, with every stated
    hyperparameter mapped onto its config (notes name what the class has no place for)"""
    negative_sampling: bool = False
    """the regime's models train on sampled negatives: a reference's train_neg_sample_args follow the spec's
    negative_samples"""
    sampled_ranking: bool = False
    """its evaluation can rank each held-out item among sampled negatives (eval.ranking=sampled-N,
    data/candidates.py) besides the full ranking"""
    configured_split: bool = False
    """its split is cut as dataset.split says (ratios, order, leave_one_out: data/split.py), so eval.ranking=paper
    can take a leave-one-out split the paper states; False: the regime's split is its own (the sequences are
    leave-one-out already, the CTR rows a random split)"""
    our_protocol: str = reference()
    """(split, run) -> Ours: the evaluation protocol our run followed, item by item, for the report's comparison"""
    ranking: str | None = reference(optional=True)
    """(model, split) -> how a trained model of this regime ranks every item for a user (trained.py's load,
    recommend and export); None: its models score labelled rows and rank nothing"""
    fit: str | None = reference(optional=True)
    """(model) -> None: fits the model once on its train split (closed form, coordinate descent) instead of
    training it by epochs; None: Lightning trains it by epochs on `training_batches`"""
    training_hyperparameters: tuple[str, ...] = TRAINING_HYPERPARAMETERS
    """the training hyperparameters its training reads (optimiser, batches, sampler, epochs); the others are listed
    in a spec, written in config.yaml and accepted as overrides only where a block reads them (iALS's sweeps read
    epochs, its lambda l2_reg): a fit reads none"""

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise RegimeError(f"regime {self.name!r}: name: lower-case letters, digits and _ only")
        for name, value in self.references():
            if value is not None and not REFERENCE.fullmatch(value):
                raise RegimeError(f"regime {self.name!r}: {name}: {value!r} is not 'package.module:attribute'")
        if not self.default_baselines or not all(isinstance(m, str) and m for m in self.default_baselines):
            raise RegimeError(f"regime {self.name!r}: default_baselines: names no RecBole model")
        for key, default in self.split_hyperparameters.items():
            if not isinstance(default, int) or isinstance(default, bool):
                raise RegimeError(f"regime {self.name!r}: split_hyperparameters.{key}: {default!r} is not an int")

    def references(self) -> Iterator[tuple[str, str | None]]:
        """(field, "module:attribute") of every field naming code, optional ones included (None when unset)."""
        for item in dataclasses.fields(self):
            if item.metadata.get("reference"):
                yield item.name, getattr(self, item.name)

    def split_settings(self, spec: MethodSpec) -> dict[str, int]:
        """The split's hyperparameters for `spec`: the spec's values, the regime's defaults where it states none."""
        return {key: int(spec.hp(key) or default) for key, default in self.split_hyperparameters.items()}

    def prepare(self, dataset_cfg: Mapping[str, Any], datasets_root: str | Path, spec: MethodSpec) -> Any:
        """The saved split of the dataset in this regime, cut with `spec`'s split hyperparameters."""
        return resolve(self.prepare_split)(dataset_cfg, datasets_root=datasets_root, **self.split_settings(spec))


def resolve(ref: str) -> Any:
    """The object a "package.module:attribute" string names, imported now; RegimeError when there is none."""
    module_name, _, attribute = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise RegimeError(f"regime table: {ref}: no module {exc.name}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise RegimeError(f"regime table: {ref}: {module_name} has no {attribute!r}") from None


# --- the table ---------------------------------------------------------------------------------------

TOPK = Regime(
    name="topk",
    prepare_split="paper_autotrain.data.split:prepare_configured_split",  # ratios from dataset.split
    load_split="paper_autotrain.data.split:load_split",
    base_module="paper_autotrain.runtime.module:TopKModule",
    training_batches="paper_autotrain.worker.batches:pair_batches",
    probe_batch="paper_autotrain.worker.batches:first_pair_batch",
    shape_check="paper_autotrain.worker.shapes:check_topk_shapes",
    decoy_split="paper_autotrain.worker.leakage:decoy_interactions",
    baseline_scorer="paper_autotrain.stages.baselines.runner:score_topk",
    default_baselines=("Pop", "ItemKNN", "BPR", "LightGCN"),
    training_data_leak="paper_autotrain.worker.leakage:interaction_batch_leak",
    structure_leak="paper_autotrain.worker.leakage:structure_leak",
    reference_mapping="paper_autotrain.stages.baselines.references.topk:reference",
    negative_sampling=True,
    sampled_ranking=True,
    configured_split=True,
    our_protocol="paper_autotrain.stages.compare.protocol:ratio_split_protocol",
    ranking="paper_autotrain.trained:PairRanking",
)
SEQUENTIAL = Regime(
    name="sequential",
    prepare_split="paper_autotrain.data.sequential:prepare_sequences",
    load_split="paper_autotrain.data.sequential:load_sequences",
    base_module="paper_autotrain.runtime.sequential:SequentialModule",
    training_batches="paper_autotrain.worker.batches:sequence_batches",
    probe_batch="paper_autotrain.worker.batches:first_sequence_positions",
    shape_check="paper_autotrain.worker.shapes:check_sequence_shapes",
    decoy_split="paper_autotrain.worker.leakage:decoy_sequences",
    baseline_scorer="paper_autotrain.stages.baselines.runner:score_sequential",
    default_baselines=("Pop", "GRU4Rec", "SASRec"),
    split_hyperparameters={"max_seq_length": 50},  # RecBole's MAX_ITEM_LIST_LENGTH
    default_loss="ce",
    training_data_leak="paper_autotrain.worker.leakage:sequence_leak",
    recbole_config="paper_autotrain.stages.baselines:sequential_config",
    reference_mapping="paper_autotrain.stages.baselines.references.sequential:reference",
    sampled_ranking=True,  # the next item among N negatives the user never met (SASRec's, BERT4Rec's protocol)
    our_protocol="paper_autotrain.stages.compare.protocol:leave_one_out_protocol",
    ranking="paper_autotrain.trained:SequenceRanking",
)
# autoencoders: the top-k split, evaluation and scorer, trained on whole user rows of the interaction matrix
USER_ROWS = dataclasses.replace(
    TOPK,
    name="user_rows",
    base_module="paper_autotrain.runtime.autoencoder:AutoEncoderModule",
    training_batches="paper_autotrain.worker.batches:user_row_batches",
    probe_batch="paper_autotrain.worker.batches:first_user_rows",
    shape_check="paper_autotrain.worker.shapes:check_row_shapes",
    default_baselines=("Pop", "ItemKNN", "MultiVAE", "EASE"),
    default_loss="multinomial",
    reference_mapping="paper_autotrain.stages.baselines.references.autoencoder:reference",
    negative_sampling=False,
    ranking="paper_autotrain.trained:UserRanking",
)
# ENMF's user-based batches: the top-k split, evaluation, gates and scorer, trained on batches of users, each with all
# its train pairs (its whole-data loss counts each batch user's missing entries once); no sampled negatives
USER_BATCHES = dataclasses.replace(
    TOPK,
    name="user_batches",
    training_batches="paper_autotrain.worker.batches:user_pair_batches",
    probe_batch="paper_autotrain.worker.batches:first_user_pairs",
    negative_sampling=False,
)
# models fitted once on the train split (EASE, SLIM, ItemKNN, iALS): the top-k split, evaluation and scorer,
# no epochs; the probe's rows are user rows (the shapes and leakage gates), its overfit gate the fit itself
FIT = dataclasses.replace(
    TOPK,
    name="fit",
    base_module="paper_autotrain.runtime.closed_form:ClosedFormModule",
    training_batches="paper_autotrain.worker.batches:user_row_batches",
    probe_batch="paper_autotrain.worker.batches:first_user_rows",
    shape_check="paper_autotrain.worker.shapes:check_row_shapes",
    negative_sampling=False,
    fit="paper_autotrain.runtime.closed_form:fit_on_train",
    training_hyperparameters=(),  # no optimiser, batches or epochs
)
CONTEXT = Regime(
    name="context",
    prepare_split="paper_autotrain.data.ctr:prepare_ctr",
    load_split="paper_autotrain.data.ctr:load_ctr",
    base_module="paper_autotrain.runtime.ctr:CTRModule",
    training_batches="paper_autotrain.worker.batches:ctr_row_batches",
    probe_batch="paper_autotrain.worker.batches:first_ctr_rows",
    shape_check="paper_autotrain.worker.shapes:check_ctr_shapes",
    decoy_split="paper_autotrain.worker.leakage:decoy_ctr_rows",
    baseline_scorer="paper_autotrain.stages.baselines.runner:score_ctr",
    default_baselines=("LR", "FM", "DeepFM", "WideDeep"),
    default_loss="bce",
    recbole_config="paper_autotrain.stages.baselines.scoring:context_config",
    reference_mapping="paper_autotrain.stages.baselines.references.context:reference",
    our_protocol="paper_autotrain.stages.compare.protocol:labelled_rows_protocol",
)
# CTR over a behaviour sequence (DIN, DIEN): the context regime's rows, each with the user's earlier training items
# (data/behaviour.py); a block names it (manifest `regime: behaviour`: DIN's behaviour_attention), the family stays
# context. RecBole's DIN and DIEN read the history column of the same benchmark files; its other context models
# leave it unloaded (scoring.py behaviour_config)
BEHAVIOUR = dataclasses.replace(
    CONTEXT,
    name="behaviour",
    prepare_split="paper_autotrain.data.behaviour:prepare_behaviour",
    load_split="paper_autotrain.data.behaviour:load_behaviour",
    decoy_split="paper_autotrain.worker.leakage:decoy_behaviour_rows",
    baseline_scorer="paper_autotrain.stages.baselines.runner:score_behaviour",
    split_hyperparameters={"max_seq_length": 50},  # RecBole's MAX_ITEM_LIST_LENGTH
    recbole_config="paper_autotrain.stages.baselines.scoring:behaviour_config",
)
# knowledge-aware models: the top-k split (the same split id: the baselines compare on the same data), evaluation,
# training batches and scorer, with the dataset's knowledge graph linked onto the items (data/knowledge.py)
KNOWLEDGE = dataclasses.replace(
    TOPK,
    name="knowledge",
    prepare_split="paper_autotrain.data.knowledge:prepare_knowledge_split",
    load_split="paper_autotrain.data.knowledge:load_knowledge_split",
    default_baselines=("Pop", "ItemKNN", "BPR", "CKE"),
    recbole_config="paper_autotrain.data.knowledge:knowledge_config",
    reference_mapping="paper_autotrain.stages.baselines.references.knowledge:reference",
)
# by name; consumers look an entry up when they run, so a test can add one (monkeypatch.setitem)
REGIMES: dict[str, Regime] = {regime.name: regime for regime in (TOPK, SEQUENTIAL, USER_ROWS, CONTEXT, KNOWLEDGE, FIT,
                                                                  BEHAVIOUR, USER_BATCHES)}


# --- looking an entry up -------------------------------------------------------------------------------

def regime(name: str) -> Regime:
    """The entry named `name`; RegimeError naming the known ones otherwise."""
    found = REGIMES.get(str(name))
    if found is None:
        raise RegimeError(f"unknown data regime {name!r} (known: {', '.join(sorted(REGIMES))})")
    return found


def config_regime(config: Mapping[str, Any]) -> Regime:
    """The regime a model folder's config.yaml trains in (data.regime; top-k when it names none)."""
    return regime(str((config.get("data") or {}).get("regime") or DEFAULT_REGIME))


def family_regime(family: str, templates_root: Path | None = None) -> Regime:
    """The regime of `family`'s split, evaluation and baselines: its family.yaml's `regime`."""
    return regime(load_library(templates_root).base_for(family).regime)


def family_training_regime(family: str, templates_root: Path | None = None) -> Regime:
    """The regime `family`'s models train in, as config.yaml names it: family.yaml's `train_regime`, else
    its `regime`."""
    base = load_library(templates_root).base_for(family)
    return regime(base.train_regime or base.regime)


def spec_regime(spec: MethodSpec, templates_root: Path | None = None) -> Regime:
    """The regime of `spec`'s split, evaluation and baselines: the one a block of its architecture names
    (manifest `regime`: EASE's `fit`, DIN's `behaviour`), else its family's."""
    blocks = load_library(templates_root).base_for(spec.family).blocks
    own = next((blocks[b.block].regime for b in spec.architecture if b.block in blocks and blocks[b.block].regime),
               None)
    return regime(own) if own else family_regime(spec.family, templates_root)


def fitted_once(name: str | None) -> bool:
    """Whether a block whose manifest names the regime `name` is fitted once (EASE) rather than trained by epochs
    (ENMF's user batches, DIN's behaviour rows); False for None, the scaffold's own regime."""
    return name is not None and regime(name).fit is not None


def base_modules() -> tuple[type, ...]:
    """Every regime's runtime base class, in table order, each once (imports the runtime)."""
    return tuple(dict.fromkeys(resolve(entry.base_module) for entry in REGIMES.values()))
