"""Every artifact that crosses a stage boundary, as pydantic models.

Stages never import each other; they meet only through these schemas and the files
written by :mod:`paper_autotrain.artifacts`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Family = Literal["general", "graph", "sequential", "context", "autoencoder", "knowledge", "other"]
Task = Literal["topk", "ctr", "rating"]
# The spec's `loss` is DESIGN.md's vocabulary (what annotations and tools score against); a loss a template trains
# that the vocabulary has no word for is `loss: other` with its name in `loss_name` (SimpleX's cosine contrastive
# loss, GRU4Rec's TOP1 and BPR-max).
CanonicalLoss = Literal["bpr", "bce", "ce", "multinomial", "mse", "other"]
NamedLoss = Literal["ccl", "top1", "bpr_max"]
Loss = Literal["bpr", "bce", "ce", "multinomial", "mse", "ccl", "top1", "bpr_max", "other"]  # any loss, by name
NAMED_LOSSES: tuple[str, ...] = get_args(NamedLoss)
ValueSource = Literal["paper", "default", "user"]
# What is trained, and what RecBole's reference uses, when a paper's loss is "other" (no template, e.g. a hinge loss
# in a sequential paper): a stand-in the spec keeps saying is not the paper's, and the README and report name.
STAND_IN_LOSSES: dict[str, str] = {"sequential": "ce"}
# `approximation`: our model, built from a spec whose fidelity verdict is partial (fidelity=allow_partial); it never
# counts as a reproduction
Role = Literal["reproduced", "approximation", "baseline", "paper"]
Verdict = Literal["faithful", "partial"]
APPROXIMATION = "approximation"


def approximation_label(missing: list[str] | None) -> str:
    """How every output names an approximation: `approximation: <the components it leaves out>`."""
    return f"{APPROXIMATION}: {', '.join(missing)}" if missing else APPROXIMATION
FIDELITY_MODES = ("strict", "allow_partial")  # cfg `fidelity`: refuse a partial spec at render, or build it and say so

CANONICAL_HYPERPARAMETERS = (
    "embedding_size", "learning_rate", "batch_size", "n_layers", "l2_reg", "dropout",
    "max_seq_length", "n_heads", "hidden_size", "negative_samples", "epochs", "optimizer", "mlp_layers",
)
# The canonical hyperparameters only a model's blocks read (no training loop, sampler or data window does)
BLOCK_ONLY_HYPERPARAMETERS = frozenset({"n_layers", "dropout", "n_heads", "hidden_size", "mlp_layers"})
# The canonical hyperparameters a training loop reads (its optimiser, batches, sampler and epochs): a regime names
# the ones it reads (regimes.Regime.training_hyperparameters; a fit reads none), a block may read one itself (iALS's
# sweeps: epochs)
TRAINING_HYPERPARAMETERS = ("optimizer", "learning_rate", "batch_size", "l2_reg", "negative_samples", "epochs")
# An optimiser's own parameters a paper may state (RMSProp's decay and momentum, Adam's betas and epsilon), as spec
# hyperparameters: extract reads them, render writes the chosen optimiser's into optim.optimizer_settings, the
# runtime passes them on as torch's arguments (runtime.losses.make_optimizer); torch's defaults where none is stated
OPTIMIZER_SETTINGS: dict[str, tuple[str, ...]] = {
    "rmsprop": ("rmsprop_decay", "momentum"),
    "sgd": ("momentum",),
    "adam": ("adam_beta1", "adam_beta2", "adam_eps"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- fetch / parse -------------------------------------------------------------------------------

class PaperMeta(_Strict):
    """Who wrote what, and where it came from."""

    key: str
    title: str = ""
    arxiv_id: str | None = None
    version: int | None = None  # the arXiv version read (vN)
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    source: str = ""  # what the user passed, resolved (a path, a URL, arxiv:ID)
    abstract: str = ""
    published: str | None = None  # ISO date of the version's first submission
    categories: list[str] = Field(default_factory=list)


class PaperBundle(_Strict):
    """What fetch leaves behind: the paper's metadata and the files beside it (relative names)."""

    meta: PaperMeta
    pdf: str | None = None  # the PDF, beside bundle.json
    latex_dir: str | None = None  # the LaTeX source folder, beside bundle.json (preferred to the PDF)
    html: str | None = None  # arXiv's HTML rendering, fetched only when neither PDF text nor source is usable


class Page(_Strict):
    number: int  # 1-based order; printed in evidence quotes ("p6: ...") unless the page has a label
    text: str
    label: str = ""  # where the text stands when it has no printed page (LaTeX, HTML): "§4.1 Settings"

    @property
    def where(self) -> str:
        return self.label or f"p{self.number}"


class Section(_Strict):
    title: str
    page: int
    text: str


class Table(_Strict):
    page: int
    caption: str = ""
    rows: list[list[str]] = Field(default_factory=list)
    label: str = ""  # where it stands without a printed page: "§4.2", or LaTeX's \label

    @property
    def where(self) -> str:
        return self.label or f"p{self.page}"


class PaperDoc(_Strict):
    """The paper as text: pages, sections and tables, each with the page it stands on."""

    meta: PaperMeta
    pages: list[Page]
    sections: list[Section] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)

    @property
    def full_text(self) -> str:
        return "\n".join(p.text for p in self.pages)


# --- extract: the MethodSpec IR --------------------------------------------------------------------

class HyperParameter(_Strict):
    """One value with its provenance. A value without evidence is never `paper`.

    A paper that states one value per dataset gives a mapping `{dataset: value}` (names as printed); a run uses the
    value of its own dataset (`MethodSpec.for_dataset`)."""

    value: Any
    source: ValueSource = "paper"
    evidence: str | None = None

    @property
    def per_dataset(self) -> bool:
        return isinstance(self.value, dict) and bool(self.value)

    @model_validator(mode="after")
    def _paper_needs_evidence(self) -> HyperParameter:
        if self.source == "paper" and not (self.evidence and self.evidence.strip()):
            raise ValueError("a hyperparameter with source 'paper' needs an evidence quote")
        return self


class Block(BaseModel):
    """One library block and its parameters, e.g. {block: light_propagation, layers: 3, combine: mean}."""

    model_config = ConfigDict(extra="allow")
    block: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class CustomPart(_Strict):
    """A part no block covers; the LLM fill-in writes it into a slot (templates/slots/<slot>.yaml)."""

    name: str
    description: str
    evidence: str | None = None
    slot: str | None = None  # the slot (or its kind, e.g. loss_term); None: chosen by the slots' cues, else the first
    params: dict[str, Any] = Field(default_factory=dict)  # the slot's part parameters, e.g. a loss term's weight


class Reported(_Strict):
    dataset: str
    metric: str
    value: float | str
    unit: str | None = None
    variant: str | None = None
    table: str | None = None
    evidence: str | None = None


class BaselineRef(_Strict):
    name: str
    recbole: str | None = None


class Component(_Strict):
    """One part of the paper's OWN method, read from its method section(s), with the block that builds it."""

    name: str  # as the literature names it: "attention network over pairwise interactions"
    evidence: str | None = None  # page-numbered quote of the method section
    block: str | None = None  # the architecture block that implements it; None: nothing built does


class Deviation(_Strict):
    """Where a built block differs from what the paper describes."""

    component: str
    paper: str  # what the paper says (a quote)
    ours: str  # what the built model does instead


class Fidelity(_Strict):
    """Is the rendered model the paper's model? `faithful` only when every component is built."""

    verdict: Verdict = "partial"
    components: list[Component] = Field(default_factory=list)
    deviations: list[Deviation] = Field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """The components nothing in the architecture builds."""
        return [component.name for component in self.components if component.block is None]

    @property
    def label(self) -> str:
        """`approximation: <missing components>` (what every output of a partial spec says)."""
        return approximation_label(self.missing)

    @model_validator(mode="after")
    def _faithful_means_built(self) -> Fidelity:
        if self.verdict == "faithful" and self.missing:
            raise ValueError(f"fidelity.verdict is faithful but component {self.missing[0]!r} is not built "
                             "(block: null); set verdict: partial or name the block that builds it")
        return self


class ProtocolItem(_Strict):
    """One fact of the paper's evaluation protocol, as the paper states it."""

    value: str  # "leave-one-out", "random 80/10/10 per user", "full", "sampled-100", "10-core"
    evidence: str | None = None  # page-numbered quote


class Protocol(_Strict):
    """How the paper evaluates (each item quoted), to set beside ours in the report."""

    split: ProtocolItem | None = None  # ratio / leave-one-out / temporal
    ranking: ProtocolItem | None = None  # full | sampled-N
    filters: ProtocolItem | None = None  # k-core, rating threshold
    metric_definition: ProtocolItem | None = None  # where it matters (HR vs Recall, NDCG's gain)
    early_stopping: ProtocolItem | None = None


class Disagreement(_Strict):
    """Where the rules extractor and the LLM read the paper differently (extractor=llm), and which reading the
    spec keeps. Values are shown as text; a side that found nothing is None."""

    item: str  # what they disagree on: "family", "hyperparameters.embedding_size", "reported.Gowalla.Recall@20"
    rules: str | None = None
    llm: str | None = None
    kept: Literal["rules", "llm"]
    rules_evidence: str | None = None
    llm_evidence: str | None = None
    reason: str = ""


class MethodSpec(_Strict):
    """The single contract between reading a paper and building its model."""

    paper: PaperMeta
    family: Family
    task: Task = "topk"
    model_name: str | None = None  # the name the paper gives its own method; None when it gives none (see unclear)
    loss: CanonicalLoss
    loss_name: NamedLoss | None = None  # the paper's loss by name when `loss` is `other` and a template trains it
    architecture: list[Block] = Field(default_factory=list)
    custom: list[CustomPart] = Field(default_factory=list)
    hyperparameters: dict[str, HyperParameter] = Field(default_factory=dict)
    datasets: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    reported: list[Reported] = Field(default_factory=list)
    baselines_in_paper: list[BaselineRef] = Field(default_factory=list)
    unclear: list[str] = Field(default_factory=list)
    disagreements: list[Disagreement] = Field(default_factory=list)  # rules vs LLM readings (extractor=llm)
    # the component inventory and its verdict; None only in a spec written by hand without one (its architecture
    # is then the author's, and nothing is claimed about a paper)
    fidelity: Fidelity | None = None
    reference: str | None = None  # the RecBole 1.2.1 class implementing the paper's own model; None: none
    protocol: Protocol = Field(default_factory=Protocol)  # the paper's evaluation protocol, each item quoted

    @model_validator(mode="before")
    @classmethod
    def _named_loss_is_other(cls, data: Any) -> Any:
        """`loss: top1` (an older spec, an LLM's answer) is `loss: other, loss_name: top1`."""
        if isinstance(data, dict) and data.get("loss") in NAMED_LOSSES:
            data = {**data, "loss": "other", "loss_name": data.get("loss_name") or data["loss"]}
        return data

    @model_validator(mode="after")
    def _loss_name_only_for_other(self) -> MethodSpec:
        if self.loss_name is not None and self.loss != "other":
            raise ValueError(f"loss_name {self.loss_name!r} names a loss the vocabulary lacks: loss must be 'other', "
                             f"not {self.loss!r}")
        return self

    @property
    def trained_loss(self) -> str:
        """The loss our model trains: the named one (top1, ccl, ...) or the vocabulary's."""
        return self.loss_name or self.loss

    def with_trained_loss(self, loss: str) -> MethodSpec:
        """This spec training `loss` (any name), written the vocabulary's way."""
        named = loss in NAMED_LOSSES
        return self.model_copy(update={"loss": "other" if named else loss, "loss_name": loss if named else None})

    @model_validator(mode="after")
    def _components_name_built_blocks(self) -> MethodSpec:
        if self.fidelity is None:
            return self
        built = {block.block for block in self.architecture}
        for component in self.fidelity.components:
            if component.block is not None and component.block not in built:
                raise ValueError(f"fidelity component {component.name!r} is marked built by block "
                                 f"{component.block!r}, which the architecture does not have; set block: null "
                                 f"or add the block")
        return self

    @property
    def approximation(self) -> bool:
        """Whether the model built from this spec leaves out parts of the paper's method."""
        return self.fidelity is not None and self.fidelity.verdict == "partial"

    @property
    def display_name(self) -> str:
        """What outputs call the model: the paper's name for it, else the paper's key."""
        return self.model_name or self.paper.key

    def hp(self, name: str, default: Any = None) -> Any:
        """The value of a hyperparameter, or `default` when the spec has none (of a per-dataset value not yet
        bound to a dataset, the first dataset's)."""
        entry = self.hyperparameters.get(name)
        if entry is None:
            return default
        return next(iter(entry.value.values())) if entry.per_dataset else entry.value

    @property
    def per_dataset(self) -> list[str]:
        """The hyperparameters whose value the paper states per dataset."""
        return [key for key, entry in self.hyperparameters.items() if entry.per_dataset]

    def for_dataset(self, dataset: str) -> MethodSpec:
        """The spec a run on `dataset` uses: each per-dataset value resolved to that dataset's (names compared
        without case and punctuation, MovieLens as ml), else the first dataset's, noted in `unclear`."""
        if not self.per_dataset:
            return self
        hyperparameters = dict(self.hyperparameters)
        notes = list(self.unclear)
        for key in self.per_dataset:
            entry = hyperparameters[key]
            values: dict[str, Any] = entry.value
            name = next((n for n in values if same_dataset_name(n, dataset)), None)
            stated = ", ".join(f"{n}: {v}" for n, v in values.items())
            if name is None:
                name = next(iter(values))
                notes.append(f"{key} is stated per dataset ({stated}), none of them {dataset}: the {name} value "
                             f"{values[name]} is used")
            hyperparameters[key] = entry.model_copy(update={"value": values[name]})
        return self.model_copy(update={"hyperparameters": hyperparameters, "unclear": notes})


def dataset_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower().replace("movielens", "ml"))


def same_dataset_name(printed: str, ours: str) -> bool:
    """'MovieLens-100K' (as a paper prints it) and 'ml-100k' (our dataset config) name the same dataset."""
    return bool(dataset_key(printed)) and dataset_key(printed) == dataset_key(ours)


# --- data, train, baselines -------------------------------------------------------------------------

class SplitInfo(_Strict):
    """A saved split: the same files feed the generated model and every RecBole baseline."""

    dataset: str
    split_id: str  # content hash of (dataset files, split config)
    path: str  # folder holding split.npz and <dataset>/<dataset>.{train,valid,test}.inter
    n_users: int
    n_items: int
    n_train: int
    n_valid: int
    n_test: int
    protocol: str  # e.g. "RS 0.8/0.1/0.1 per user, random order, full ranking"


class RunResult(_Strict):
    """One trained model scored by our evaluator on the test split."""

    model: str
    role: Literal["reproduced", "approximation", "baseline"]
    dataset: str
    split_id: str
    seed: int = 0
    ranking: str = "full"  # what produced the numbers: full, or sampled-N (data/candidates.py)
    test: dict[str, float]  # "ndcg@10" -> value, lower-case metric names
    valid: dict[str, float] = Field(default_factory=dict)
    best_epoch: int | None = None
    epochs_run: int | None = None
    train_time_s: float | None = None
    eval_time_s: float | None = None
    n_params: int | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
