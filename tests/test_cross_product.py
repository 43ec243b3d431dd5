"""The context family's `cross_product` block: Wide & Deep's crossed features in the wide part (paper section 3.1)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from paper_autotrain.data.ctr import CTRSplit
from paper_autotrain.errors import StageError
from paper_autotrain.runtime.ctr import FieldCrossProducts, ctr_batch
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages import render, validate
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.loading import build_model, load_config
from paper_autotrain.worker.train import train as train_rows
from tests.model_fixtures import reference_spec

WIDE_DEEP_CROSSED = [{"block": "field_embedding", "dim": 8}, {"block": "linear"}, {"block": "cross_product"},
                     {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1}, {"block": "sum_logits"}]
NO_CROSS_NOTE = "RecBole's WideDeep has no cross-product features (its wide part is linear over the raw fields)"


def crossed_spec(architecture: list[dict[str, Any]] = WIDE_DEEP_CROSSED, **hyperparameters: Any) -> MethodSpec:
    """The WideDeep reference spec with another architecture (by default the paper's: crosses in the wide part)."""
    data = reference_spec("WideDeep", batch_size=64, **hyperparameters).model_dump()
    return MethodSpec.model_validate({**data, "architecture": architecture})


def rendered(spec: MethodSpec, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(spec, {}).items():
        (folder / name).write_text(text)
    return folder


def token_split(columns: list[np.ndarray], vocab_sizes: list[int], labels: np.ndarray) -> CTRSplit:
    """An in-memory split of token fields only, every part holding the same rows."""
    fields = tuple(f"f{i}" for i in range(len(columns)))
    vocab = {f: np.array([""] + [f"{f}_{v}" for v in range(1, n)]) for f, n in zip(fields, vocab_sizes, strict=True)}
    tokens = np.stack(columns, axis=1).astype(np.int64)
    parts = ("train", "valid", "test")
    return CTRSplit(token_fields=fields, seq_fields=(), vocab=vocab, tokens={p: tokens for p in parts},
                    seqs={p: {} for p in parts}, labels={p: labels.astype(np.float32) for p in parts},
                    users={p: np.zeros(len(labels), dtype=str) for p in parts},
                    items={p: np.zeros(len(labels), dtype=str) for p in parts})


# --- rendering, gates, training --------------------------------------------------------------------

def test_wide_deep_with_crosses_renders_ruff_clean(tmp_path):
    folder = rendered(crossed_spec(), tmp_path)
    source = (folder / "model.py").read_text()
    assert "self.cross_products = FieldCrossProducts(split, cross_buckets)" in source
    assert "parts.append(self.cross_products(batch))" in source and "self.first_order(batch)" in source
    assert "import FieldCrossProducts" in source or "FieldCrossProducts," in source
    assert "cross_buckets: 10000" in (folder / "config.yaml").read_text()
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "120",
                           str(folder / "model.py")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_buckets_come_from_the_block_and_bad_compositions_are_refused(tmp_path):
    blocks = [dict(block) for block in WIDE_DEEP_CROSSED]
    blocks[2]["buckets"] = 64
    assert "cross_buckets: 64" in render.run(crossed_spec(blocks), {})["config.yaml"]
    blocks[2]["buckets"] = 0
    with pytest.raises(StageError, match="buckets"):
        render.run(crossed_spec(blocks), {})
    no_linear = [b for b in WIDE_DEEP_CROSSED if b["block"] != "linear"]
    with pytest.raises(StageError, match="'cross_product' needs linear before it"):
        render.run(crossed_spec(no_linear), {})


def test_wide_deep_with_crosses_passes_validates_gates(rows, tmp_path):
    report = validate.run(rendered(crossed_spec(), tmp_path), rows, {"overfit_steps": 30})
    assert report["ok"]
    assert [gate["name"] for gate in report["gates"]][-4:] == ["build", "shapes", "overfit", "leakage"]


def test_wide_deep_with_crosses_trains_and_its_loss_falls(rows, tmp_path):
    folder = rendered(crossed_spec(learning_rate=0.01), tmp_path / "model")
    result = train_rows(folder, Path(rows.path), tmp_path / "out", ["trainer.max_epochs=4", "trainer.patience=4",
                                                                    "trainer.csv_logger=false"])
    with open(tmp_path / "out" / "history.csv", newline="") as handle:
        losses = [float(row["train_loss"]) for row in csv.DictReader(handle)]
    assert losses[-1] < losses[0], losses
    assert result.test["auc"] > 0.6


# --- the crossed index ------------------------------------------------------------------------------

def test_crossed_index_is_exact_when_the_pair_fits_else_hashed_in_range_and_deterministic():
    rng = np.random.default_rng(0)
    sizes = [5, 7, 900]  # pairs (0,1): 35 values, exact; (0,2), (1,2): 4,500 and 6,300, hashed into 100
    columns = [rng.integers(0, n, 2000) for n in sizes]
    split = token_split(columns, sizes, np.zeros(2000))
    crosses = FieldCrossProducts(split, buckets=100)
    tokens = torch.from_numpy(split.tokens["train"])
    index = crosses.index(tokens)
    assert index.shape == (2000, 3) and index.dtype == torch.long
    assert crosses.sizes.tolist() == [35, 100, 100] and crosses.offsets.tolist() == [0, 35, 135]
    assert crosses.weights.num_embeddings == 235
    assert torch.equal(index[:, 0], tokens[:, 0] * 7 + tokens[:, 1])  # no collisions when the values fit
    for pair, (low, size) in enumerate(zip(crosses.offsets.tolist(), crosses.sizes.tolist(), strict=True)):
        assert int(index[:, pair].min()) >= low and int(index[:, pair].max()) < low + size
    assert torch.equal(index, FieldCrossProducts(split, buckets=100).index(tokens))  # a fresh module: same buckets
    assert torch.equal(index[:7], crosses.index(tokens[:7]))  # a row's buckets do not depend on its batch
    assert len(torch.unique(index[:, 2])) > 90  # the hash spreads a pair over (nearly) all its buckets


def test_a_single_token_field_has_no_cross_and_adds_nothing():
    split = token_split([np.arange(1, 9)], [9], np.zeros(8))
    crosses = FieldCrossProducts(split, buckets=10)
    batch = ctr_batch(split, "train", slice(0, 8))
    assert crosses.n_pairs == 0 and torch.equal(crosses(batch), torch.zeros(8))


# --- a cross changes the logit ------------------------------------------------------------------------

def xor_split() -> CTRSplit:
    """Clicks are the XOR of two fields' parities: no weight per single value can tell them, a crossed one can."""
    rng = np.random.default_rng(1)
    left, right = rng.integers(1, 5, 512), rng.integers(1, 5, 512)
    return token_split([left, right], [5, 5], (left % 2) ^ (right % 2))


def fitted_logloss(folder: Path, split: CTRSplit, steps: int = 150) -> float:
    """Train log loss after full-batch Adam steps on the rendered model (no dropout: none in these blocks)."""
    torch.manual_seed(0)
    model = build_model(folder, load_config(folder), split)
    batch = ctr_batch(split, "train", slice(None))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    with torch.no_grad():
        return float(F.binary_cross_entropy_with_logits(model.logit(batch), batch["label"]))


def test_a_pair_interaction_is_fit_with_crosses_and_not_by_the_linear_part_alone(tmp_path):
    split = xor_split()
    linear = rendered(crossed_spec([{"block": "linear"}, {"block": "sum_logits"}]), tmp_path / "linear")
    crossed = rendered(crossed_spec([{"block": "linear"}, {"block": "cross_product"}, {"block": "sum_logits"}]),
                       tmp_path / "crossed")
    linear_loss, crossed_loss = fitted_logloss(linear, split), fitted_logloss(crossed, split)
    assert linear_loss > 0.65  # ~log 2: the raw fields say nothing about an XOR
    assert crossed_loss < 0.05, crossed_loss


# --- the RecBole reference -------------------------------------------------------------------------

def test_reference_is_widedeep_with_a_note_that_it_has_no_crosses():
    model, overrides, notes = reference_with_notes(crossed_spec(learning_rate=0.005))
    assert model == "WideDeep"
    assert overrides["mlp_hidden_size"] == [32, 16] and overrides["embedding_size"] == 8
    assert overrides["learning_rate"] == 0.005 and not any("cross" in key for key in overrides)
    assert notes == [NO_CROSS_NOTE]
