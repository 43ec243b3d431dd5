"""Atomic writes, content hashes and stage manifests: a corrupt cache entry is a miss."""

from pathlib import Path

import pytest

from paper_autotrain.artifacts import ArtifactStore, atomic_write_text, hash_obj, replace_dir, staged_dir


def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path, Path("generated"), Path("results"), "paper")


def test_fresh_only_with_same_inputs_and_intact_outputs(tmp_path):
    s = store(tmp_path)
    out = s.stage_dir("parse") / "doc.json"
    atomic_write_text(out, "{}")
    s.commit("parse", "h1", [out])
    assert s.is_fresh("parse", "h1")
    assert not s.is_fresh("parse", "h2")
    out.write_text('{"changed": 1}')
    assert not s.is_fresh("parse", "h1")
    atomic_write_text(out, "{}")
    assert s.is_fresh("parse", "h1")
    out.unlink()
    assert not s.is_fresh("parse", "h1")


def test_corrupt_manifest_is_a_miss(tmp_path):
    s = store(tmp_path)
    out = s.stage_dir("fetch") / "paper.pdf"
    atomic_write_text(out, "%PDF-")
    s.commit("fetch", "h", [out])
    s.manifest_path("fetch").write_text("{not json")
    assert s.load_manifest("fetch") is None
    assert not s.is_fresh("fetch", "h")
    assert s.output_hash("fetch") == ""


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "a" / "b.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["b.txt"]


def test_replace_dir_swaps_whole_folders(tmp_path):
    final = tmp_path / "train"
    final.mkdir()
    (final / "old.json").write_text("old")
    staging = tmp_path / ".staging"
    staging.mkdir()
    (staging / "result.json").write_text("new")
    replace_dir(staging, final)
    assert sorted(p.name for p in final.iterdir()) == ["result.json"]
    assert not staging.exists()


def test_hash_obj_is_order_independent_for_mappings():
    assert hash_obj({"a": 1, "b": [1, 2]}) == hash_obj({"b": [1, 2], "a": 1})
    assert hash_obj({"a": 1}) != hash_obj({"a": 2})


def test_a_failed_staged_folder_is_kept_as_failed_and_a_success_replaces_it(tmp_path):
    final = tmp_path / "train"
    final.mkdir()
    (final / "result.json").write_text("old")
    with pytest.raises(RuntimeError), staged_dir(final) as staging:
        (staging / "train.stderr.log").write_text("the loss became nan")
        raise RuntimeError("training failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train", "train.failed"]  # no staging folder left
    assert (final / "result.json").read_text() == "old"  # what was there is untouched
    assert (tmp_path / "train.failed" / "train.stderr.log").read_text() == "the loss became nan"
    with staged_dir(final) as staging:
        (staging / "result.json").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]
    assert (final / "result.json").read_text() == "new"
    with pytest.raises(RuntimeError), staged_dir(final, keep_failed=False):
        raise RuntimeError("fetch failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]
