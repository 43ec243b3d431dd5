"""What the LLM is asked to return (structured output): a subset of the MethodSpec where every value carries
the exact quote it was read from. Schema-friendly on purpose: no free-form dicts (hyperparameters and block
parameters are lists of named values), no `Any`, closed objects.

`MethodDraft` is read from the abstract and method sections, `ExperimentDraft` from the experiments;
`PaperDraft` is both at once, for a paper short enough to send whole.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from paper_autotrain.schemas import Family, Loss, Task

Value = int | float | str | list[int]
QUOTE = "an exact quote (one sentence or table row) copied from the paper text, no page number"


class _Draft(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NameClaim(_Draft):
    value: str
    evidence: str = Field(description=QUOTE)


class FamilyClaim(_Draft):
    value: Family
    evidence: str = Field(description=QUOTE)


class TaskClaim(_Draft):
    value: Task
    evidence: str = Field(description=QUOTE)


class LossClaim(_Draft):
    value: Loss
    evidence: str = Field(description=QUOTE)


class HyperparameterClaim(_Draft):
    name: str = Field(description="a canonical key (embedding_size, learning_rate, ...) or a snake_case name")
    value: Value = Field(description="as printed: a number, a word (adam), or a list of layer sizes")
    evidence: str = Field(description=QUOTE + " that prints the value")


class BlockParam(_Draft):
    name: str
    value: Value


class BlockClaim(_Draft):
    block: str = Field(description="a block name from the library of the paper's family")
    params: list[BlockParam] = Field(default_factory=list)
    evidence: str = Field(description=QUOTE + " describing this part of the method")


class CustomClaim(_Draft):
    name: str = Field(description="a short snake_case name for the part")
    description: str = Field(description="what it computes, with the equations' meaning, in plain words")
    evidence: str = Field(description=QUOTE)


class ReportedClaim(_Draft):
    dataset: str
    metric: str = Field(description="as printed, e.g. Recall@20")
    value: float = Field(description="the method's own number exactly as printed in the paper")
    table: str = Field(default="", description="the table that prints it, e.g. 'Table 3', or '' for prose")
    evidence: str = Field(description="the table row or sentence that prints the number, copied exactly")


class MethodDraft(_Draft):
    model_name: NameClaim
    family: FamilyClaim
    task: TaskClaim
    loss: LossClaim
    architecture: list[BlockClaim] = Field(default_factory=list)
    custom: list[CustomClaim] = Field(default_factory=list)
    hyperparameters: list[HyperparameterClaim] = Field(default_factory=list)
    unclear: list[str] = Field(default_factory=list)


class ExperimentDraft(_Draft):
    hyperparameters: list[HyperparameterClaim] = Field(default_factory=list)
    datasets: list[NameClaim] = Field(default_factory=list)
    metrics: list[NameClaim] = Field(default_factory=list)
    reported: list[ReportedClaim] = Field(default_factory=list)
    baselines: list[NameClaim] = Field(default_factory=list)
    unclear: list[str] = Field(default_factory=list)


class PaperDraft(MethodDraft):
    """The whole paper in one answer: the method's fields first (the order the LLM writes them in)."""

    datasets: list[NameClaim] = Field(default_factory=list)
    metrics: list[NameClaim] = Field(default_factory=list)
    reported: list[ReportedClaim] = Field(default_factory=list)
    baselines: list[NameClaim] = Field(default_factory=list)


DRAFTS: dict[str, type[_Draft]] = {"paper": PaperDraft, "method": MethodDraft, "experiments": ExperimentDraft}
