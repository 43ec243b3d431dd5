"""What every family's reference mapping shares: reading spec values as numbers, the optimiser settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paper_autotrain.library import block_rule, resolve_param, stated_param
from paper_autotrain.schemas import Block, MethodSpec

LEARNERS = {"adam", "adamw", "sgd", "adagrad", "rmsprop", "sparse_adam"}

# (model, RecBole config overrides, notes on what was not mapped)
Reference = tuple[str, dict[str, Any], list[str]]


def number(value: Any, integral: bool) -> int | float | None:
    """A scalar hyperparameter as a number, or None (lists, dicts, words are not mapped)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    if integral:
        if float(value) != int(value) or value <= 0:
            return None
        return int(value)
    return float(value)


def int_list(value: Any) -> list[int] | None:
    if isinstance(value, list | tuple) and value:
        items = [number(v, integral=True) for v in value]
        if all(isinstance(v, int) for v in items):
            return [int(v) for v in items]
    return None


@dataclass
class SpecMapping:
    """Collects RecBole overrides for one spec, and notes on every value it could not carry over."""

    spec: MethodSpec
    overrides: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def blocks(self) -> dict[str, dict[str, Any]]:
        return {b.block.lower(): dict(b.params) for b in self.spec.architecture}

    def word(self, block: str, word: str, default: Any) -> str:
        """A block's word as the spec sets it (`default` when the block or the word is unset), lower-cased."""
        return str(self.blocks.get(block, {}).get(word, default)).lower()

    def scalar(self, key: str, integral: bool) -> int | float | None:
        entry = self.spec.hyperparameters.get(key)
        if entry is None or entry.value is None:
            return None
        value = number(entry.value, integral)
        if value is None:
            self.notes.append(f"{key}={entry.value!r} is not a single {'integer' if integral else 'number'}; "
                              "not mapped")
        return value

    def stated(self, block: str, key: str) -> Any:
        """What the spec gives for config key `key` of `block`, read as render reads it (paper_autotrain.library:
        a user's override, else the block's own parameter, else the hyperparameter it reads); None: RecBole's
        default then."""
        found = self._param(block, key)
        value = None if found is None else stated_param(self.spec, *found)
        return None if value is None else value.value

    def model_value(self, block: str, key: str) -> Any:
        """The value our rendered model uses for `key` of `block`: what the spec gives, else the manifest default."""
        found = self._param(block, key)
        return None if found is None else resolve_param(self.spec, *found).value

    def _param(self, block: str, key: str) -> tuple[Block, Any] | None:
        spec_block = next((b for b in self.spec.architecture if b.block.lower() == block), None)
        rule = block_rule(self.spec.family, block)
        param = rule.param(key) if rule is not None else None
        return None if spec_block is None or param is None else (spec_block, param)

    def block_value(self, block: str, key: str, integral: bool) -> int | float | None:
        """`stated` as a number; a value that is not one is noted and not mapped."""
        value = self.stated(block, key)
        found = number(value, integral)
        if found is None and value is not None:
            self.notes.append(f"{block} {key}={value!r} is not a single {'integer' if integral else 'number'}; "
                              "not mapped")
        return found

    def tower_layers(self) -> list[int] | None:
        """The mlp_tower's hidden sizes (as render reads them); noted if unusable."""
        layers_value = self.stated("mlp_tower", "mlp_layers")
        layers = int_list(layers_value)
        if layers is None and layers_value is not None:
            self.notes.append(f"mlp_tower layers={layers_value!r} is not a list of integers; not mapped")
        return layers

    def put(self, recbole_key: str, value: Any) -> None:
        if value is not None:
            self.overrides[recbole_key] = value

    def not_mapped(self, key: str, why: str) -> None:
        entry = self.spec.hyperparameters.get(key)
        if entry is not None and entry.value not in (None, 0, 0.0):  # a zero changes nothing
            self.notes.append(f"{key}={entry.value!r} not mapped: {why}")

    def optimisation(self, negatives: bool = True) -> None:
        """learning rate, batch size, optimiser and (for pairwise/pointwise models) sampled negatives."""
        self.put("learning_rate", self.scalar("learning_rate", integral=False))
        self.put("train_batch_size", self.scalar("batch_size", integral=True))
        if negatives:
            count = self.scalar("negative_samples", integral=True)
            if count is not None:
                self.overrides["train_neg_sample_args"] = {"distribution": "uniform", "sample_num": count}
        optimizer = self.spec.hyperparameters.get("optimizer")
        if optimizer is not None and optimizer.value is not None:
            learner = str(optimizer.value).strip().lower()
            if learner in LEARNERS:
                self.overrides["learner"] = learner
            else:
                self.notes.append(f"optimizer={optimizer.value!r} has no RecBole learner; "
                                  "RecBole's default (adam) is used")

    def result(self, model: str) -> Reference:
        return model, self.overrides, self.notes
