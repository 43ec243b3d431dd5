"""Fixtures several test modules share."""

from __future__ import annotations

import pytest
import torch

from paper_autotrain.data.ctr import prepare_ctr
from paper_autotrain.data.sequential import prepare_sequences
from paper_autotrain.schemas import SplitInfo
from tests.ctr_fixtures import write_ctr_dataset
from tests.fixture_papers import synthetic_split_info
from tests.model_fixtures import write_walks

# The tests' tensors are tiny: a second intra-op thread only spins. Measured 2026-12-05 (load 5-7): DCN-V2's 20 Adam
# steps on 256 rows, 0.35 CPU s with one thread, 8.8-12.9 s with torch's default two. Subprocesses are not affected.
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    """60 users walking 30 items in short cycles with noise: learnable, small, with timestamps."""
    folder = tmp_path_factory.mktemp("seqdata")
    write_walks(folder)
    return prepare_sequences({"name": "walks", "path": str(folder)}, 5, tmp_path_factory.mktemp("datasets"))


@pytest.fixture(scope="module")
def split_info(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    """A saved synthetic top-k split with its split.json (the train, logger and fixture-paper tests; a module may
    define its own)."""
    folder = tmp_path_factory.mktemp("split")
    (folder / "split.json").write_text(synthetic_split_info(folder, "abc123").model_dump_json())
    return SplitInfo.model_validate_json((folder / "split.json").read_text())


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    """The small CTR dataset (tests/ctr_fixtures.py) prepared as labelled rows (the CTR tests; a module may define
    its own)."""
    dataset = write_ctr_dataset(tmp_path_factory.mktemp("ctrdata"))
    return prepare_ctr(dataset, tmp_path_factory.mktemp("datasets"))
