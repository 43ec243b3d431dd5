"""The parity scripts' own logic, without training: scripts/session_parity.py's `--set` (a block option put on the
run's spec.yaml between the extraction and the render stage) and scripts/seed_pairs.py's pooling of seeds."""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from paper_autotrain.pipeline import dump_spec, load_spec
from tests.fixture_papers import spec_of
from tests.test_bert_graph_session_papers import GCSAN_PAPER

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # the scripts import each other by name
    return {name: importlib.import_module(name) for name in ("parity", "session_parity", "seed_pairs")}


@pytest.fixture(scope="module")
def gcsan_spec(tmp_path_factory: pytest.TempPathFactory):
    return spec_of(tmp_path_factory.mktemp("gcsan"), GCSAN_PAPER)


def fake_pipeline(monkeypatch: pytest.MonkeyPatch, parity, spec) -> list[list[str]]:
    """The pipeline's subprocess replaced: `until=extract` writes the run's spec.yaml as the extract stage does;
    every command is recorded."""
    commands: list[list[str]] = []

    def run(command, **_kwargs):
        commands.append(list(command))
        if "until=extract" in command:
            root = Path(next(arg for arg in command if arg.startswith("paths.root=")).partition("=")[2])
            (root / "generated" / "gcsan").mkdir(parents=True, exist_ok=True)
            (root / "generated" / "gcsan" / "spec.yaml").write_text(dump_spec(spec))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(parity.subprocess, "run", run)
    return commands


def test_set_puts_block_words_on_the_extracted_spec_then_renders_from_it(scripts, gcsan_spec, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    commands = fake_pipeline(monkeypatch, scripts["parity"], gcsan_spec)
    scripts["session_parity"].main(["--models", "GCSAN", "--epochs", "1", "--out", str(tmp_path),
                                    "--set", "graph_self_attention.layer_form=transformer",
                                    "--set", "session_graph_encoder.gate=gru", "--set", "learning_rate=1e-3",
                                    "seeds=[1]"])
    extract, rest = commands
    assert extract[-1] == "until=extract" and "seeds=[1]" in extract and "trainer.max_epochs=1" in extract
    assert rest == [*extract[:-1], "from_stage=render"]
    spec = load_spec(tmp_path / "runs" / "generated" / "gcsan" / "spec.yaml")
    words = {block.block: block.params for block in spec.architecture}
    assert words["graph_self_attention"] == {"layer_form": "transformer"}
    assert words["session_graph_encoder"] == {"gate": "gru"} and words["item_embedding"] == {}
    assert spec.hp("learning_rate") == 1e-3 and spec.hyperparameters["learning_rate"].source == "user"
    assert spec.hp("embedding_size") == gcsan_spec.hp("embedding_size")
    row = json.loads((tmp_path / "parity.json").read_text())[0]
    assert row["set"] == ["graph_self_attention.layer_form=transformer", "session_graph_encoder.gate=gru",
                          "learning_rate=0.001"]


def test_set_on_a_block_the_spec_lacks_stops_before_training(scripts, gcsan_spec, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """with_settings leaves a model without the block as it is (bench sets one word on many models); a parity run
    of one model with a misspelt block would silently train the paper's form."""
    commands = fake_pipeline(monkeypatch, scripts["parity"], gcsan_spec)
    assert scripts["session_parity"].main(["--models", "GCSAN", "--out", str(tmp_path),
                                           "--set", "graph_attention.layer_form=transformer"]) == 1
    assert len(commands) == 1 and commands[0][-1] == "until=extract"
    row = json.loads((tmp_path / "parity.json").read_text())[0]
    assert "no block graph_attention" in row["error"]


def write_run(results: Path, model: str, seeds: dict[int, tuple[np.ndarray, np.ndarray, list[float], list[float]]],
              users: np.ndarray) -> None:
    """A run's results/<model> folder as session_parity.py leaves it: per seed our and RecBole's per-user test
    values and validation histories."""
    (results / "baselines" / "per_user").mkdir(parents=True)
    (results / "baselines" / "history").mkdir(parents=True)
    for seed, (ours, theirs, valid_ours, valid_theirs) in seeds.items():
        (results / "train" / f"seed{seed}").mkdir(parents=True)
        np.savez(results / "train" / f"seed{seed}" / "per_user_test.npz", users=users, ndcg_at_10=ours)
        np.savez(results / "baselines" / "per_user" / f"{model}-seed{seed}.npz", users=users, ndcg_at_10=theirs)
        for path, valid in ((results / "train" / f"seed{seed}" / "history.csv", valid_ours),
                            (results / "baselines" / "history" / f"{model}-seed{seed}.csv", valid_theirs)):
            path.write_text("epoch,train_loss,valid_ndcg@10\n"
                            + "".join(f"{epoch + 1},1.0,{value}\n" for epoch, value in enumerate(valid)))
    (results / "train" / "results.json").write_text(json.dumps([{"seed": seed} for seed in seeds]))


def test_seed_pairs_pools_two_runs_seeds_as_a_hand_computation(scripts, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    users = np.arange(1, 41)
    values = {seed: (rng.random(40), rng.random(40) * 0.8, [0.02, 0.03 + seed / 100], [0.025 + seed / 200])
              for seed in (0, 1, 2)}
    write_run(tmp_path / "a", "GCSAN", {0: values[0]}, users)
    write_run(tmp_path / "b", "GCSAN", {1: values[1], 2: values[2]}, users)
    assert scripts["seed_pairs"].main(["GCSAN", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    ours = (values[0][0] + values[1][0] + values[2][0]) / 3  # each user's value averaged over the three seeds
    theirs = (values[0][1] + values[1][1] + values[2][1]) / 3
    relative = ours.mean() / theirs.mean() - 1
    t_p = stats.ttest_rel(ours, theirs).pvalue
    valid = np.mean([0.03, 0.04, 0.05]) / np.mean([0.025, 0.03, 0.035]) - 1  # each side's best epoch
    pooled = scripts["seed_pairs"].pooled(sum((scripts["seed_pairs"].seed_rows("GCSAN", tmp_path / run)
                                               for run in ("a", "b")), []))
    assert pooled["relative"] == pytest.approx(relative) and pooled["t_p"] == pytest.approx(t_p)
    assert pooled["wilcoxon_p"] == pytest.approx(stats.wilcoxon(ours, theirs).pvalue)
    assert pooled["valid"] == pytest.approx(valid)
    assert pooled["error"] == pytest.approx(stats.sem(ours - theirs) / theirs.mean())
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == ["seed 0", "seed 1", "seed 2", "seeds [0, 1, 2]", "seed level"]
    assert f"{100 * relative:+.1f}% (paired t-test p = {t_p:.3f}" in printed[-2]
    per_seed = [values[seed][0].mean() / values[seed][1].mean() - 1 for seed in (0, 1, 2)]  # ours ahead at each
    level = scripts["seed_pairs"].seed_level(sum((scripts["seed_pairs"].seed_rows("GCSAN", tmp_path / run)
                                                  for run in ("a", "b")), []))
    assert level["mean"] == pytest.approx(np.mean(per_seed)) and level["behind"] == 0
    assert level["t_p"] == pytest.approx(stats.ttest_1samp(per_seed, 0.0).pvalue) and level["sign_p"] == 0.25
    assert (level["low"], level["high"]) == pytest.approx(stats.t.interval(0.90, 2, np.mean(per_seed),
                                                                          stats.sem(per_seed)))
    assert f"[{100 * level['low']:+.1f}%, {100 * level['high']:+.1f}%]" in printed[-1]


def test_seed_interval_by_hand_and_what_it_shows_about_five_percent(scripts) -> None:
    """Four seeds at -10, 0, +10, +20%: mean 5%, sd sqrt(0.05 / 3), t(0.95, 3 df) = 2.3534 from the t table."""
    seed_pairs = scripts["seed_pairs"]
    low, high = seed_pairs.mean_interval(np.array([-0.10, 0.0, 0.10, 0.20]))
    half = 2.353363 * np.sqrt(0.05 / 3) / 2
    assert (low, high) == pytest.approx((0.05 - half, 0.05 + half), abs=1e-6)
    assert (low, high) == pytest.approx((-0.1019, 0.2019), abs=1e-4)
    assert seed_pairs.verdict(-0.04, 0.049, 0.0) == "shown within"
    assert seed_pairs.verdict(-0.06, 0.04, -0.01) == "only the mean within"
    assert seed_pairs.verdict(-0.12, -0.01, -0.065) == "the mean outside"


def test_seed_pairs_refuses_two_sides_scored_on_different_users(scripts, tmp_path: Path) -> None:
    write_run(tmp_path / "a", "GCSAN", {0: (np.ones(3), np.ones(3), [0.1], [0.1])}, np.arange(3))
    np.savez(tmp_path / "a" / "baselines" / "per_user" / "GCSAN-seed0.npz", users=np.arange(1, 4),
             ndcg_at_10=np.ones(3))
    with pytest.raises(SystemExit, match="different users"):
        scripts["seed_pairs"].main(["GCSAN", str(tmp_path / "a")])


def test_seed_pairs_from_recorded_figures_is_the_seed_level_of_their_ratios(scripts, capsys) -> None:
    """Four seeds recorded as 0.09:0.10, 0.10:0.10, 0.11:0.10, 0.13:0.10: per-seed -10, 0, +10, +30%, mean 7.5%; the
    sign test over the seeds that differ (a tie is no evidence); a figure that is not a number, or RecBole's 0, stops
    with a one-line usage error."""
    seed_pairs = scripts["seed_pairs"]
    assert seed_pairs.main(["X", "--figures", "0.09:0.10", "0.10:0.10", "0.11:0.10", "0.13:0.10"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "X, 4 seeds: -10.0%, +0.0%, +10.0%, +30.0%"
    low, high = stats.t.interval(0.90, 3, 0.075, stats.sem([-0.1, 0.0, 0.1, 0.3]))
    assert "+7.5% (sd 17.1%" in printed[1] and "behind at 1 of 4 (sign test p = 1.000, 1 tied)" in printed[1]
    assert seed_pairs.seeds_as_units(np.array([-0.1, 0.0, -0.2, -0.1]))["sign_p"] == pytest.approx(0.25)  # 3 of 3
    assert seed_pairs.seeds_as_units(np.zeros(8))["sign_p"] == 1.0  # identical figures: no evidence either way
    assert f"[{100 * low:+.1f}%, {100 * high:+.1f}%]: the mean outside ±5%" in printed[1]
    for bad in (["0.1:x"], ["0.1:0"], ["0.1"], []):
        with pytest.raises(SystemExit, match="OURS:RECBOLE"):
            seed_pairs.main(["X", "--figures", *bad])


ROOT = Path(__file__).resolve().parents[1]
SEED_TABLE = ("<!-- seed-level table: printed by `python scripts/seed_pairs.py --table docs/parity_seeds.yaml` -->\n",
              "<!-- end of the seed-level table -->\n")


def test_readmes_seed_level_table_is_the_one_printed_from_the_recorded_figures(scripts) -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(SEED_TABLE[0]) + len(SEED_TABLE[0]), readme.index(SEED_TABLE[1])
    assert readme[start:end] == scripts["seed_pairs"].table(ROOT / "docs" / "parity_seeds.yaml")


def test_every_recorded_row_names_a_measurements_section(scripts) -> None:
    import yaml

    headings = [line[3:] for line in (ROOT / "docs" / "measurements.md").read_text().splitlines()
                if line.startswith("## ")]
    rows = yaml.safe_load((ROOT / "docs" / "parity_seeds.yaml").read_text())["rows"]
    assert rows and all(any(h.startswith(row["section"]) for h in headings) for row in rows), \
        [row["section"] for row in rows if not any(h.startswith(row["section"]) for h in headings)]


def test_table_from_figures_and_from_recorded_differences_by_hand(scripts, tmp_path: Path) -> None:
    path = tmp_path / "seeds.yaml"
    path.write_text("rows:\n"
                    "  - {row: A, draws: common, section: s, seeds: [0, 1, 2, 3], ours: [0.9, 1.0, 1.1, 1.15],"
                    " recbole: [1, 1, 1, 1]}\n"
                    "  - {row: B, draws: independent, section: s, seeds: [0, 2], relative: [1.0, 3.0], note: n}\n")
    lines = scripts["seed_pairs"].table(path).splitlines()
    # A: -10, 0, +10, +15%: mean 3.75%, sd sqrt(368.75/3) = 11.09%, t(0.95, 3) = 2.3534: 3.75% +- 13.05%
    assert lines[2] == ("| A | common (RecBole's weights and batches) | 0-3 | +3.8% (11.1%) | −9.3% to +16.8% |"
                        " mean only |")
    # B: +1%, +3%: mean 2%, sd 1.414%, t(0.95, 1) = 6.3138: 2% +- 6.31%
    assert lines[3] == "| B | independent | 0, 2 | +2.0% (1.4%) | −4.3% to +8.3% | mean only (n) |"


def test_recorded_rows_with_a_figure_missing_are_refused(scripts) -> None:
    with pytest.raises(SystemExit, match="3 figures of ours, 2 of RecBole's"):
        scripts["seed_pairs"].recorded_differences({"row": "X", "seeds": [0, 1], "ours": [1, 2, 3], "recbole": [1, 2]})
    with pytest.raises(SystemExit, match="one figure per seed"):
        scripts["seed_pairs"].recorded_differences({"row": "X", "seeds": [0, 1, 2], "relative": [1, 2]})
