"""The shared gates: static gates refuse hostile code before it runs; dynamic gates run the probe in the
sandbox, pass a rendered model, report a hostile one, and catch a model that sees held-out interactions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from paper_autotrain.sandbox import gates
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages import render
from paper_autotrain.worker import probe
from tests.model_fixtures import REFERENCE_ARCHITECTURES, reference_spec, write_synthetic_split


@pytest.fixture(scope="module")
def split_info(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    folder = tmp_path_factory.mktemp("split")
    data = write_synthetic_split(folder)
    return SplitInfo(dataset="synthetic", split_id="gates", path=str(folder), n_users=data.n_users,
                     n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                     protocol="synthetic")


def rendered(model_name: str, folder: Path, edit: tuple[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(reference_spec(model_name, batch_size=128, embedding_size=16), {}).items():
        (folder / name).write_text(text)
    if edit is not None:
        source = (folder / "model.py").read_text()
        assert edit[0] in source
        (folder / "model.py").write_text(source.replace(*edit))
    return folder


# --- static gates ----------------------------------------------------------------------------------

@pytest.mark.parametrize("snippet, gate, says", [
    ("import socket", "imports", "import of 'socket'"),
    ("import os.path", "imports", "import of 'os.path'"),
    ("from subprocess import run", "imports", "import of 'subprocess'"),
    ("import ctypes", "imports", "import of 'ctypes'"),
    ("from torch import hub", "imports", "import of 'torch.hub'"),
    ("import torch.utils.cpp_extension", "imports", "import of 'torch.utils.cpp_extension'"),
    ("from paper_autotrain.worker.loading import importlib", "imports", "paper_autotrain.worker.loading"),
    ("data = open('/etc/passwd').read()", "calls", "call to 'open'"),
    ("x = eval('1 + 1')", "calls", "call to 'eval'"),
    ("exec('import os')", "calls", "call to 'exec'"),
    ("os = __import__('os')", "calls", "call to '__import__'"),
    ("run = eval", "calls", "use of 'eval'"),
    ("f = getattr(__builtins__, 'eval')", "calls", "use of '__builtins__'"),
    ("import torch\nf = getattr(torch, 'lo' + 'ad')", "calls", "getattr with a computed attribute name"),
    ("import torch\nf = getattr(torch, 'load')", "calls", "getattr(..., 'load')"),
    ("import torch\ntorch.os.system('id')", "calls", "call to 'torch.os.system'"),
    ("import numpy as np\nnp.save('x.npy', np.zeros(2))", "calls", "call to 'np.save'"),
    ("from torch import load\nstate = load('weights.pt')", "calls", "call to 'load'"),
    ("import torch\nsave = torch.save", "calls", "use of 'torch.save'"),
    ("classes = ().__class__.__bases__[0].__subclasses__()", "calls", "attribute '__subclasses__'"),
    ("def f():\n    return globals()", "calls", "call to 'globals'"),
    ("import torch\ntorch.zeros(3).numpy().tofile('x')", "calls", "call to '.tofile'"),
    ("def broken(:\n    pass", "parse", "code line 1"),
])
def test_static_gates_refuse_hostile_code_before_it_runs(snippet: str, gate: str, says: str) -> None:
    results = gates.check_snippet(snippet)
    failed = gates.first_failure(results)
    assert failed is not None and failed["name"] == gate, results
    assert says in failed["detail"] and "\n" not in failed["detail"]
    assert results[-1] is failed  # the gates stop at the first failure


def test_a_method_body_is_checked_as_the_body_it_is() -> None:
    body = textwrap.indent("hidden = torch.relu(user_table @ self.weight)\nreturn hidden, item_table\n", "        ")
    assert gates.first_failure(gates.check_snippet(body)) is None
    assert [g["name"] for g in gates.check_snippet(body)] == ["parse", "imports", "calls"]
    hostile = gates.first_failure(gates.check_snippet("x = 1\nreturn open('x')"))
    assert hostile is not None and hostile["detail"].startswith("call to 'open' on line 2")


def test_ordinary_model_code_passes() -> None:
    code = """
        import math
        from typing import Any
        import torch
        import torch.nn.functional as F
        from torch import nn

        class Part(nn.Module):
            def __init__(self, dim: int, **hparams: Any) -> None:
                super().__init__()
                self.layer = nn.Linear(dim, dim)
                self.scale = getattr(self, "scale", 1.0) / math.sqrt(dim)

            def forward(self, input: torch.Tensor) -> torch.Tensor:
                signal = F.relu(self.layer(input)) * self.scale
                window = torch.signal.windows.hann(signal.shape[-1])
                return signal.sum(-1) * window.mean(), type(self).__name__
    """
    assert gates.first_failure(gates.check_snippet(code)) is None


@pytest.mark.parametrize("model_name", sorted(REFERENCE_ARCHITECTURES))
def test_every_rendered_reference_model_passes_the_static_gates(model_name: str, tmp_path: Path) -> None:
    folder = rendered(model_name, tmp_path)
    results = gates.static_gates((folder / "model.py").read_text(), folder)
    assert [g["name"] for g in results] == ["parse", "imports", "calls", "config"]
    assert gates.first_failure(results) is None, results


def test_without_a_model_folder_there_is_no_config_gate() -> None:
    assert [g["name"] for g in gates.static_gates("import torch\n")] == ["parse", "imports", "calls"]


# --- dynamic gates (sandboxed probe) ---------------------------------------------------------------

def test_dynamic_gates_pass_a_rendered_model(split_info: SplitInfo, tmp_path: Path) -> None:
    results = gates.dynamic_gates(rendered("MF-BPR", tmp_path / "m"), split_info, {})
    assert [(g["name"], g["ok"]) for g in results] == [("build", True), ("shapes", True), ("overfit", True),
                                                       ("leakage", True)], results


def test_dynamic_gates_report_a_model_the_sandbox_stops(split_info: SplitInfo, tmp_path: Path) -> None:
    """Code that got past the static gates (here: they were skipped) is still stopped at run time."""
    folder = rendered("MF-BPR", tmp_path / "m", ("        super().__init__(split, **optim)\n",
                                                 "        super().__init__(split, **optim)\n"
                                                 "        import socket\n"
                                                 "        try:\n"
                                                 "            socket.socket().connect(('10.0.0.1', 80))\n"
                                                 "        except OSError:\n"
                                                 "            pass\n"))
    results = gates.dynamic_gates(folder, split_info, {"timeout_s": 120})
    failed = gates.first_failure(results)
    assert failed is not None and failed["name"] == "sandbox", results
    assert failed["detail"] == "blocked: network access (socket.connect to ('10.0.0.1', 80))"


@pytest.mark.parametrize("edit, says", [
    (("normalized_adjacency(split.train,",
      "normalized_adjacency(__import__('numpy').concatenate([split.train, split.valid, split.test]),"),
     "the model's 'adjacency' [100, 100] holds"),
    (("loss = bpr_loss(scores[:, 0], scores[:, 1:])",
      "loss = bpr_loss(scores[:, 0], scores[:, 1:])"
      " + self.item_embedding(torch.as_tensor(self.split.test[:, 1])).sum()"),
     "uses validation/test interactions while it trains"),
], ids=["graph-from-all-interactions", "loss-reads-test"])
def test_a_model_that_sees_held_out_interactions_fails_the_leakage_gate(edit: tuple[str, str], says: str,
                                                                        split_info: SplitInfo, tmp_path: Path) -> None:
    model_name = "LightGCN" if "adjacency" in edit[0] else "MF-BPR"
    folder = rendered(model_name, tmp_path / "m", edit)
    results = probe.probe(str(folder), split_info.path, steps=40, lr=0.01, batch_size=64)  # in process: fast
    failed = gates.first_failure(results)
    assert failed is not None and failed["name"] == "leakage", results
    assert says in failed["detail"]


# --- the overfit check, in process on one-parameter models ------------------------------------------------------

class DrawnTarget(torch.nn.Module):
    """A loss whose target is drawn at every call, as a cloze task's masks or dropout are: (w - s)^2, s = +-1."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(8))

    def loss(self, batch: dict) -> torch.Tensor:
        return ((self.w - torch.randn(8).sign()) ** 2).mean()


class NarrowMinimum(torch.nn.Module):
    """|w - 0.002| / 0.002: Adam's first steps (about lr each) jump over a minimum nearer than the rate."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(4))

    def loss(self, batch: dict) -> torch.Tensor:
        return ((self.w - 0.002).abs() / 0.002).mean()


def test_the_overfit_check_draws_the_same_random_numbers_at_every_step() -> None:
    """Re-drawn targets average out (the loss stays near 1 whatever w is); the same draw each step is a fixed
    objective the model fits."""
    torch.manual_seed(0)
    detail = probe.check_overfit(DrawnTarget(), {}, steps=40, lr=0.01)
    first, last = (float(value) for value in detail.split()[1:4:2])
    assert detail.endswith("at lr 0.01") and last < 0.5 * first


def test_the_overfit_check_tries_lower_rates_from_the_same_initial_weights() -> None:
    model = NarrowMinimum()
    detail = probe.check_overfit(model, {}, steps=40, lr=0.01)
    assert detail.startswith("loss 1.0000 -> ") and detail.endswith("at lr 0.003")  # restarted from w = 0
    frozen = NarrowMinimum()
    frozen.loss = lambda batch: 1.0 + 0.0 * frozen.w.sum()  # no rate makes it fall: the gate still fails
    with pytest.raises(ValueError, match="did not fall") as info:
        probe.check_overfit(frozen, {}, steps=40, lr=0.01)
    assert [rate in str(info.value) for rate in ("lr 0.01", "lr 0.003", "lr 0.001")] == [True] * 3
