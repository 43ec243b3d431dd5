"""Merging the LLM's drafts into the rules extractor's MethodSpec.

Policy (extractor=llm):

- Every LLM value needs its quote found in the paper (:mod:`.quotes`); a hyperparameter's or a reported
  number's quote must also print the value. A value that fails is not used: a note in `unclear` says
  "LLM value X for Y dropped: ...". Reported numbers therefore always come from the paper's text or tables,
  never from the LLM's memory, and carry the page or table they were found on.
- Where only one side found a value, that one is used. Where both did and they differ, `prefer` decides
  (extractor.prefer, default `llm`: the LLM saw the rules' reading in its prompt and contradicted it with a
  quote that was checked) and the disagreement is recorded in `spec.disagreements` with both values and
  quotes. With prefer=rules the rules' reading stands and the LLM's is only recorded.
- Blocks must come from the library of the spec's family (templates/); any other block the LLM names becomes
  a `custom` part (description and evidence), placed where it stood by a `custom` marker block in the
  families whose scaffold has the fill-in slot. The LLM's architecture is taken whole or not at all: one
  block without a found quote keeps the rules' architecture.
- Baselines are the union of both readings; the LLM's own notes join `unclear` prefixed "LLM:".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from paper_autotrain.recbole_models import recbole_class
from paper_autotrain.schemas import (
    BaselineRef,
    Block,
    CustomPart,
    Disagreement,
    HyperParameter,
    MethodSpec,
    Reported,
)

from .drafts import BlockClaim, ExperimentDraft, HyperparameterClaim, MethodDraft, NameClaim, ReportedClaim
from .fidelity import reconcile
from .lexicon import METRIC_PATTERN
from .library import CUSTOM_BLOCK, has_fill_slot, library_blocks
from .names import canonical_metric
from .quotes import Located, PaperText, states_value
from .text import name_key

HYPERPARAMETER_ALIASES = {
    "lr": "learning_rate", "learning_rates": "learning_rate", "embedding_dim": "embedding_size",
    "embedding_dimension": "embedding_size", "dim": "embedding_size", "latent_dim": "embedding_size",
    "num_layers": "n_layers", "layers": "n_layers", "number_of_layers": "n_layers", "weight_decay": "l2_reg",
    "l2": "l2_reg", "l2_regularization": "l2_reg", "regularization": "l2_reg", "reg_weight": "l2_reg",
    "dropout_rate": "dropout", "dropout_ratio": "dropout", "num_heads": "n_heads", "heads": "n_heads",
    "max_sequence_length": "max_seq_length", "max_len": "max_seq_length", "num_epochs": "epochs",
    "negative_sampling_ratio": "negative_samples", "num_negatives": "negative_samples",
    "hidden_layers": "mlp_layers", "layer_sizes": "mlp_layers",
}
QUOTE_SHOWN = 80
RULES_ARCHITECTURE_NOTE = "architecture of "
NO_REPORTED_NOTE = "no results table with the method's numbers was read"


def merge(rules: MethodSpec, method: MethodDraft | None, experiments: Sequence[ExperimentDraft], paper: PaperText,
          prefer: str = "llm") -> MethodSpec:
    """The rules' spec, corrected and completed by the LLM's verified values (module docstring: the policy)."""
    if prefer not in ("llm", "rules"):
        raise ValueError(f"prefer must be 'llm' or 'rules', not {prefer!r}")
    merger = Merger(paper, prefer)
    return merger.run(rules, method, list(experiments))


@dataclass
class Merger:
    paper: PaperText
    prefer: str
    unclear: list[str] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)

    def run(self, rules: MethodSpec, method: MethodDraft | None, experiments: list[ExperimentDraft]) -> MethodSpec:
        update: dict[str, Any] = {}
        if method is not None:
            update["model_name"] = self.choose_name(rules, method.model_name)
            update["family"] = self.choose_claim("family", rules.family, None, method.family)
            update["task"] = self.choose_claim("task", rules.task, None, method.task)
            update["loss"] = self.choose_claim("loss", rules.loss, None, method.loss)
            if update["family"] == "context" and update["task"] == "rating":  # as the rules extractor does
                update["task"] = "ctr"
                self.unclear.append("task: the paper predicts ratings; the spec targets the CTR protocol")
            architecture, custom = self.choose_architecture(rules, method, update["family"])
            update |= {"architecture": architecture, "custom": custom}
            if rules.fidelity is not None:  # the inventory follows the composition the merge kept
                name = update["model_name"] or None
                update["fidelity"] = reconcile(rules.fidelity, architecture, custom)
                update["reference"] = recbole_class(name, rules.paper.title) if name != rules.model_name \
                    else rules.reference
        claims = [claim for draft in experiments for claim in draft.hyperparameters]
        claims += method.hyperparameters if method is not None else []
        update["hyperparameters"] = self.merge_hyperparameters(rules.hyperparameters, claims)
        update["datasets"] = self.choose_names("datasets", rules.datasets,
                                               [c for d in experiments for c in d.datasets], same_dataset)
        update["metrics"] = self.choose_names("metrics", rules.metrics,
                                              [c for d in experiments for c in d.metrics], same_metric, metric_name)
        update["reported"] = self.merge_reported(rules.reported, [c for d in experiments for c in d.reported])
        update["baselines_in_paper"] = self.merge_baselines(
            rules.baselines_in_paper, [c for d in experiments for c in d.baselines],
            update.get("model_name", rules.model_name))
        notes = [f"LLM: {note}" for draft in [*([method] if method else []), *experiments] for note in draft.unclear]
        update["unclear"] = unique([*self.kept_rules_notes(rules, update), *self.unclear, *notes])
        update["disagreements"] = [*rules.disagreements, *self.disagreements]
        return MethodSpec.model_validate({**rules.model_dump(), **{k: dump(v) for k, v in update.items()}})

    # --- verification ---------------------------------------------------------------------------------

    def verified(self, what: str, value: Any, quote: str, must_state_value: bool = False) -> Located | None:
        """Where the quote stands in the paper; None (and a note in `unclear`) when it is not there."""
        located = self.paper.locate(quote)
        if located is None:
            self.drop(what, value, f"its quote is not in the paper: {shown(quote)}")
            return None
        if must_state_value and not states_value(located.quote, value):
            self.drop(what, value, f"its quote does not state it: {shown(quote)}")
            return None
        return located

    def drop(self, what: str, value: Any, why: str) -> None:
        self.unclear.append(f"LLM value {value!r} for {what} dropped: {why}")

    def decide(self, item: str, rules_value: Any, llm_value: Any, rules_evidence: str | None,
               llm_evidence: str | None, equal: Callable[[Any, Any], bool] = lambda a, b: a == b) -> str:
        """Which side's value the spec keeps ("rules" or "llm"), recording a disagreement when they differ."""
        if llm_value is None:
            return "rules"
        if empty(rules_value):
            return "llm"
        if equal(rules_value, llm_value):
            return "rules"
        self.disagreements.append(Disagreement(
            item=item, rules=text_of(rules_value), llm=text_of(llm_value), kept=self.prefer,  # type: ignore[arg-type]
            rules_evidence=rules_evidence, llm_evidence=llm_evidence,
            reason=("the LLM's quote was found in the paper" if self.prefer == "llm"
                    else "extractor.prefer=rules"),
        ))
        return self.prefer

    # --- method -----------------------------------------------------------------------------------------

    def choose_name(self, rules: MethodSpec, claim: NameClaim) -> str:
        located = self.verified("model_name", claim.value, claim.evidence)
        if located is not None and not states_value(located.quote, claim.value):
            self.drop("model_name", claim.value, f"its quote does not name it: {shown(claim.evidence)}")
            located = None
        llm_value = claim.value.strip() if located else None
        side = self.decide("model_name", rules.model_name, llm_value, None, located and located.evidence,
                           lambda a, b: name_key(a) == name_key(b))
        return llm_value if side == "llm" and llm_value else rules.model_name

    def choose_claim(self, item: str, rules_value: str, rules_evidence: str | None, claim: Any) -> str:
        located = self.verified(item, claim.value, claim.evidence)
        llm_value = claim.value if located else None
        side = self.decide(item, rules_value, llm_value, rules_evidence, located and located.evidence)
        return llm_value if side == "llm" and llm_value else rules_value

    def choose_architecture(self, rules: MethodSpec, method: MethodDraft, family: str
                            ) -> tuple[list[Block], list[CustomPart]]:
        custom = [part for part in (self.custom_part(claim) for claim in method.custom) if part is not None]
        blocks = self.llm_blocks(method.architecture, family, custom)
        if blocks is None or not (blocks or custom):
            return rules.architecture, rules.custom
        if not blocks and not rules.custom:  # custom parts only: they join the rules' composition
            blocks = list(rules.architecture)
        if custom and has_fill_slot(family) and blocks and CUSTOM_BLOCK not in [b.block for b in blocks]:
            blocks.insert(len(blocks) - 1, Block(block=CUSTOM_BLOCK))  # the parts act before the scorer
        rules_names = [block.block for block in rules.architecture] if rules.architecture else None
        side = self.decide("architecture", rules_names, [block.block for block in blocks] + [
            f"custom:{part.name}" for part in custom], None, None)
        return (blocks, custom) if side == "llm" else (rules.architecture, rules.custom)

    def llm_blocks(self, claims: list[BlockClaim], family: str, custom: list[CustomPart]) -> list[Block] | None:
        """The LLM's blocks, unknown ones turned into custom parts; None when a block's quote is not found."""
        known = {block.name for block in library_blocks(family)}
        blocks: list[Block] = []
        for claim in claims:
            located = self.verified(f"architecture block {claim.block}", claim.block, claim.evidence)
            if located is None:
                self.unclear.append("architecture: the LLM's composition was not used (a block's quote is not in "
                                    "the paper); the rules' reading stands")
                return None
            params = {param.name: param.value for param in claim.params if param.name != "block"}
            if claim.block in known or (claim.block == CUSTOM_BLOCK and has_fill_slot(family)):
                blocks.append(Block(block=claim.block, **params))
                continue
            custom.append(CustomPart(name=claim.block, description=(
                f"the paper's {claim.block.replace('_', ' ')} (no {family} library block covers it)"
                + (f"; parameters {params}" if params else "")), evidence=located.evidence))
            if has_fill_slot(family) and CUSTOM_BLOCK not in [b.block for b in blocks]:
                blocks.append(Block(block=CUSTOM_BLOCK))
        return blocks

    def custom_part(self, claim: Any) -> CustomPart | None:
        located = self.verified(f"custom part {claim.name}", claim.name, claim.evidence)
        if located is None:
            return None
        return CustomPart(name=identifier(claim.name), description=claim.description.strip(),
                          evidence=located.evidence)

    # --- hyperparameters ------------------------------------------------------------------------------

    def merge_hyperparameters(self, rules: dict[str, HyperParameter], claims: list[HyperparameterClaim]
                              ) -> dict[str, HyperParameter]:
        merged = dict(rules)
        decided: set[str] = set()
        for claim in claims:
            name = HYPERPARAMETER_ALIASES.get(identifier(claim.name), identifier(claim.name))
            value = plain_value(name, claim.value)
            located = self.verified(f"hyperparameter {name}", value, claim.evidence, must_state_value=True)
            if located is None or name in decided or not name:  # the first verified claim of a name counts
                continue
            decided.add(name)
            entry = rules.get(name)
            side = self.decide(f"hyperparameters.{name}", entry.value if entry else None, value,
                               entry.evidence if entry else None, located.evidence, same_value)
            if side == "llm":
                merged[name] = HyperParameter(value=value, source="paper", evidence=located.evidence)
        return merged

    # --- experiments ----------------------------------------------------------------------------------

    def choose_names(self, item: str, rules_names: list[str], claims: list[NameClaim],
                     same: Callable[[str, str], bool], normalise: Callable[[str], str] = str.strip) -> list[str]:
        """A list of names (datasets, metrics): the LLM's verified ones, or the rules', as `prefer` says."""
        found: list[str] = []
        evidence: list[str] = []
        for claim in claims:
            name = normalise(claim.value)
            if any(same(name, other) for other in found):
                continue
            if not self.paper.mentions(claim.value):
                self.drop(item, claim.value, "the paper never prints that name")
                continue
            located = self.verified(item, claim.value, claim.evidence)
            if located is not None:
                found.append(name)
                evidence.append(located.evidence)
        if not found:
            return rules_names
        same_sets = len(found) == len(rules_names) and all(any(same(a, b) for b in rules_names) for a in found)
        side = self.decide(item, rules_names, found, None, "; ".join(evidence), lambda a, b: same_sets)
        return found if side == "llm" else rules_names

    def merge_reported(self, rules: list[Reported], claims: list[ReportedClaim]) -> list[Reported]:
        """The rules' table numbers, with the LLM's verified ones added or (per `prefer`) replacing them."""
        merged = list(rules)
        for claim in claims:
            what = f"reported {claim.metric} on {claim.dataset}"
            if not self.paper.mentions(claim.dataset):
                self.drop(what, claim.value, f"the paper never prints the dataset name {claim.dataset!r}")
                continue
            located = self.verified(what, claim.value, claim.evidence, must_state_value=True)
            if located is None:
                continue
            metric = metric_name(claim.metric)
            table = located.table or (claim.table.strip() if claim.table and self.paper.mentions(claim.table)
                                      else None)
            entry = Reported(dataset=claim.dataset.strip(), metric=metric, value=claim.value, table=table,
                             evidence=located.evidence)
            index = next((i for i, r in enumerate(merged) if same_dataset(r.dataset, entry.dataset)
                          and same_metric(r.metric, metric) and not r.variant), None)
            if index is None:
                merged.append(entry)
                continue
            old = merged[index]
            side = self.decide(f"reported.{old.dataset}.{metric}", old.value, entry.value, old.evidence,
                               entry.evidence, same_value)
            if side == "llm":
                merged[index] = entry
        return merged

    def merge_baselines(self, rules: list[BaselineRef], claims: list[NameClaim], model_name: str
                        ) -> list[BaselineRef]:
        merged = list(rules)
        for claim in claims:
            name = claim.value.strip()
            if name_key(name) == name_key(model_name) or any(name_key(b.name) == name_key(name) for b in merged):
                continue
            if not self.paper.mentions(name):
                self.drop("baselines_in_paper", name, "the paper never prints that name")
                continue
            if self.verified("baselines_in_paper", name, claim.evidence) is not None:
                merged.append(BaselineRef(name=name, recbole=recbole_class(name)))
        return merged

    def kept_rules_notes(self, rules: MethodSpec, update: dict[str, Any]) -> list[str]:
        """The rules' notes that still hold after the merge."""
        notes = list(rules.unclear)
        if update.get("architecture") not in (None, rules.architecture):
            notes = [note for note in notes if not note.startswith(RULES_ARCHITECTURE_NOTE)]
        if update.get("reported"):
            notes = [note for note in notes if not note.startswith(NO_REPORTED_NOTE)]
        return notes


# --- values and names --------------------------------------------------------------------------------

def plain_value(name: str, value: Any) -> Any:
    """A claimed value as the spec stores it: numbers as numbers, a list of sizes as ints, words lower case."""
    if isinstance(value, str):
        text = value.strip()
        number = as_number(text)
        if number is not None:
            return number
        sizes = re.fullmatch(r"\[?\s*(\d+(?:\s*[,x×]\s*\d+)+)\s*\]?", text)
        if sizes:
            return [int(size) for size in re.split(r"\s*[,x×]\s*", sizes.group(1))]
        return text.lower() if name == "optimizer" else text
    if isinstance(value, float) and value.is_integer() and name not in ("learning_rate", "l2_reg", "dropout"):
        return int(value)
    return value


def as_number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def metric_name(printed: str) -> str:
    """'recall@20' -> 'Recall@20', as the rules extractor spells metrics."""
    match = re.fullmatch(rf"\s*{METRIC_PATTERN}\s*", printed, re.I)
    return canonical_metric(match.group(1), match.group(2)) if match else printed.strip()


def same_metric(a: str, b: str) -> bool:
    return name_key(metric_name(a)) == name_key(metric_name(b))


def same_dataset(a: str, b: str) -> bool:
    return name_key(a) == name_key(b)


def identifier(name: str) -> str:
    """A snake_case name: "Layer Attention" -> "layer_attention"."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def text_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def shown(quote: str) -> str:
    quote = " ".join(quote.split())
    return f'"{quote[:QUOTE_SHOWN]}{"..." if len(quote) > QUOTE_SHOWN else ""}"'


def unique(notes: list[str]) -> list[str]:
    return list(dict.fromkeys(notes))


def dump(value: Any) -> Any:
    """Pydantic models inside an update, as data, so MethodSpec.model_validate sees one kind of input."""
    if isinstance(value, list):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    return value.model_dump() if hasattr(value, "model_dump") else value
