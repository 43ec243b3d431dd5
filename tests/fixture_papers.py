"""A fixture paper (pages of prose) read, rendered and given small values: shared by the tests that read a model's
paper end to end (graph, CTR, metric-learning papers)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
import yaml

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.module import TopKModule
from paper_autotrain.schemas import Block, MethodSpec, SplitInfo
from paper_autotrain.stages import extract, parse, render, validate
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.train import train as train_in_process
from tests.model_fixtures import write_synthetic_split
from tests.pdf_fixtures import bundle_for, write_pdf

RULES = {"name": "rules", "hparams": {}}
PARSE = {"max_pages": 60, "max_mb": 50}


def spec_of(folder: Path, pages: list[list[str]]) -> MethodSpec:
    """The spec the rules extractor reads from a PDF written with these pages."""
    folder.mkdir(parents=True, exist_ok=True)
    bundle, where = bundle_for(write_pdf(folder / "paper.pdf", pages))
    return extract.run(parse.run(bundle, where, PARSE), RULES)


def assert_read_faithful(spec: MethodSpec, family: str, model: str, blocks: list[str], loss: str,
                         recbole: str) -> None:
    """The paper was read as its own model: these blocks and loss, faithful, nothing custom, and its RecBole class
    both the composition's and the reference."""
    assert (spec.family, spec.loss, spec.model_name) == (family, loss, model)
    assert [block.block for block in spec.architecture] == blocks
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert composition_class(family, blocks, spec.loss) == recbole
    assert reference_with_notes(spec)[0] == recbole
    assert not spec.custom


def rendered(spec: MethodSpec, folder: Path) -> Path:
    """The model folder render writes for `spec` (model.py, config.yaml, README.md)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(spec, {}).items():
        (folder / name).write_text(text)
    return folder


def with_values(spec: MethodSpec, **values: object) -> MethodSpec:
    """The spec with user overrides (small sizes for the synthetic split)."""
    hyperparameters = {**spec.hyperparameters}
    for key, value in values.items():
        hyperparameters[key] = {"value": value, "source": "user"}
    return MethodSpec.model_validate({**spec.model_dump(), "hyperparameters": hyperparameters})


def with_block_params(spec: MethodSpec, name: str, **params: object) -> MethodSpec:
    """`spec` with structural words or values set on its block `name` (as a user edits spec.yaml)."""
    blocks = [Block(block=b.block, **{**b.params, **params}) if b.block == name else b for b in spec.architecture]
    return spec.model_copy(update={"architecture": blocks})


def with_settings(spec: MethodSpec, values: Sequence[tuple[str, Any]]) -> MethodSpec:
    """`--set` on a spec (scripts/bench.py, the parity scripts): NAME=VALUE a stated hyperparameter, BLOCK.WORD=VALUE a
    structural word of the spec's block BLOCK (a block option giving RecBole's choice, e.g.
    kgat_propagation.attention=epoch; a model without the block keeps its spec)."""
    hyperparameters = {name: value for name, value in values if "." not in name}
    spec = with_values(spec, **hyperparameters) if hyperparameters else spec
    present = {block.block for block in spec.architecture}
    for name, value in values:
        block, _, word = name.partition(".")
        if word and block in present:
            spec = with_block_params(spec, block, **{word: value})
    return spec


def yaml_value(text: str) -> Any:
    value = yaml.safe_load(text)
    try:  # YAML 1.1 reads 1e-3 (no dot) as a string
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def parse_values(items: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """`--set name=value` pairs, each value read as YAML (16 -> int, 1e-3 -> float, [64, 32] -> list)."""
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"--set takes NAME=VALUE, got {item!r}")
        pairs.append((name.strip(), yaml_value(value)))
    return tuple(pairs)


def synthetic_split_info(folder: Path, split_id: str) -> SplitInfo:
    """A small synthetic top-k split saved in `folder`, described as the pipeline describes a split."""
    data = write_synthetic_split(folder)
    return SplitInfo(dataset="synthetic", split_id=split_id, path=str(folder), n_users=data.n_users,
                     n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                     protocol="synthetic")


def passes_the_gates_and_trains(spec: MethodSpec, split_info: SplitInfo, folder: Path, epochs: int = 2) -> Path:
    """Render `spec`, pass validate's gates (their default 40 overfit steps) and train `epochs` epochs on the split,
    scored by our evaluator: the model folder."""
    model = rendered(spec, folder / "model")
    report = validate.run(model, split_info, {"overfit_steps": 40})
    assert report["ok"], report
    result = train_in_process(model, Path(split_info.path), folder / "out",
                              [f"trainer.max_epochs={epochs}", "trainer.csv_logger=false"])
    assert result.status == "ok" and result.epochs_run == epochs
    assert 0.0 <= result.test["ndcg@10"] <= 1.0
    return model


def batch_loss_is_the_whole_states(model: torch.nn.Module, users: torch.Tensor, pos_items: torch.Tensor,
                                   neg_items: torch.Tensor) -> None:
    """The model's training loss through its rendered batch_state (the batch's rows alone) equals, in value and in
    every parameter's gradient, the loss through the base class's batch_state (the whole encode, indexed by ids)."""
    assert type(model).batch_state is not TopKModule.batch_state  # the model restricts its state to the batch
    batch = {"users": users, "pos_items": pos_items, "neg_items": neg_items}
    parameters = [p for p in model.parameters() if p.requires_grad]
    loss = model.loss(batch)
    grads = torch.autograd.grad(loss, parameters, allow_unused=True)
    model.batch_state = partial(TopKModule.batch_state, model)  # the whole state, on this instance only
    try:
        whole = model.loss(batch)
        whole_grads = torch.autograd.grad(whole, parameters, allow_unused=True)
    finally:
        del model.batch_state
    torch.testing.assert_close(loss, whole)
    assert any(grad is not None and grad.abs().sum() > 0 for grad in grads)
    for got, expected in zip(grads, whole_grads, strict=True):
        assert (got is None) == (expected is None)
        if got is not None:
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)
