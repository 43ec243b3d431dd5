"""Every artifact that crosses a stage boundary, as pydantic models.

Stages never import each other; they meet only through these schemas and the files
written by :mod:`paper_autotrain.artifacts`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Family = Literal["general", "graph", "sequential", "context", "autoencoder", "knowledge", "other"]
Task = Literal["topk", "ctr", "rating"]
Loss = Literal["bpr", "bce", "ce", "multinomial", "mse", "other"]
ValueSource = Literal["paper", "default", "user"]
# What is trained, and what RecBole's reference uses, when a paper's loss is "other" (no template, e.g. GRU4Rec's
# TOP1): a stand-in the spec keeps saying is not the paper's, and the README and report name.
STAND_IN_LOSSES: dict[str, str] = {"sequential": "ce"}
Role = Literal["reproduced", "baseline", "paper"]

CANONICAL_HYPERPARAMETERS = (
    "embedding_size", "learning_rate", "batch_size", "n_layers", "l2_reg", "dropout",
    "max_seq_length", "n_heads", "hidden_size", "negative_samples", "epochs", "optimizer", "mlp_layers",
)


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
    """One value with its provenance. A value without evidence is never `paper`."""

    value: Any
    source: ValueSource = "paper"
    evidence: str | None = None

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
    name: str
    description: str
    evidence: str | None = None


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
    model_name: str
    loss: Loss
    architecture: list[Block] = Field(default_factory=list)
    custom: list[CustomPart] = Field(default_factory=list)
    hyperparameters: dict[str, HyperParameter] = Field(default_factory=dict)
    datasets: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    reported: list[Reported] = Field(default_factory=list)
    baselines_in_paper: list[BaselineRef] = Field(default_factory=list)
    unclear: list[str] = Field(default_factory=list)
    disagreements: list[Disagreement] = Field(default_factory=list)  # rules vs LLM readings (extractor=llm)

    def hp(self, name: str, default: Any = None) -> Any:
        """The value of a hyperparameter, or `default` when the spec has none."""
        entry = self.hyperparameters.get(name)
        return default if entry is None else entry.value


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
    role: Literal["reproduced", "baseline"]
    dataset: str
    split_id: str
    seed: int = 0
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
