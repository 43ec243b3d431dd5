"""CPU seconds of a model's sampled-ranking evaluation scored two ways: the full sort then the candidates kept (the
only path before candidate scoring) and the candidates alone (`candidate_score_fn` = the model's candidate_scores),
with both results' NDCG@10 / HR@10, whether every user's metrics are identical, and the model's candidate_pair_cost
(runtime/phases.py: its evaluate() scores the candidates alone where a user's most candidates times it is under
n_items). The measured ratio of the two ways' CPU seconds per pair is what a block states as its cost.

    PYTHONPATH=. python scripts/candidate_scoring_bench.py SPLIT_DIR (--spec SPEC_YAML | --fixture MODULE:MODEL |
        --reference MODEL)
        [--checkpoint CKPT] [--set key=value ...] [--negatives 100] [--seed 0] [--phases valid test] [--repeats 1]
        [--threads 1]

The spec (a run's spec.yaml; a fixture paper's: `tests.test_classic_papers:ConvNCF` reads PAPERS["ConvNCF"] of
that module; or a reference architecture of tests/model_fixtures.py: MF-BPR, NeuMF ...) is rendered with this
checkout's templates into a temporary folder, `--set` values replace its hyperparameters, the checkpoint's weights
are loaded where given (else the initial weights: the time does not depend on them), and the split's saved
candidates of (negatives, seed) are read (data/candidates.py). The cost ratio counts a target a user (a
leave-one-out split).
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from paper_autotrain.data.candidates import load_candidates
from paper_autotrain.data.evaluator import full_sort_evaluate
from paper_autotrain.data.split import load_split
from paper_autotrain.pipeline import load_spec
from paper_autotrain.stages import render
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import parse_values, spec_of, with_settings
from tests.model_fixtures import reference_spec


def read_spec(args: argparse.Namespace, folder: Path):
    if args.spec:
        spec = load_spec(args.spec)
    elif args.reference:
        spec = reference_spec(args.reference)
    else:
        module, model = args.fixture.split(":")
        spec = spec_of(folder / "paper", importlib.import_module(module).PAPERS[model][0])
    return with_settings(spec, parse_values(args.set)) if args.set else spec


def rendered_model(spec, split, folder: Path):
    for name, text in render.run(spec, {}).items():
        (folder / name).write_text(text)
    return build_model(folder, load_config(folder), split)


def timed_evaluation(model, split, phase: str, candidate_score_fn):
    """(CPU seconds, EvalResult) of one pass, the encoded state held as the model's evaluate() holds it."""
    with model.eval_mode():
        start = time.process_time()
        model._scoring_state, model._has_scoring_state = model.encode(), True
        try:
            result = full_sort_evaluate(model.full_sort_scores, split, phase, ks=model.ks,
                                        batch_size=model.eval_batch_size, candidates=model.candidates,
                                        candidate_score_fn=candidate_score_fn)
        finally:
            model._scoring_state, model._has_scoring_state = None, False
        return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split_dir", type=Path)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", type=Path)
    source.add_argument("--fixture", help="MODULE:MODEL, a fixture paper of that test module's PAPERS")
    source.add_argument("--reference", help="a reference architecture of tests/model_fixtures.py")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--set", nargs="*", default=[], help="hyperparameters, key=value")
    parser.add_argument("--negatives", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phases", nargs="+", default=["valid", "test"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = load_split(args.split_dir)
    with tempfile.TemporaryDirectory() as folder:
        model = rendered_model(read_spec(args, Path(folder)), split, Path(folder))
    if args.checkpoint:
        model.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=False)["state_dict"])
    model.candidates = load_candidates(args.split_dir, split, args.negatives, args.seed)
    print(f"{type(model).__name__}: candidate_pair_cost {model.pair_cost()}; {split.n_users} users x "
          f"{split.n_items} items, sampled-{args.negatives} seed {args.seed}, {args.threads} thread(s)")
    for phase in args.phases:
        for repeat in range(args.repeats):
            full_s, full = timed_evaluation(model, split, phase, None)
            alone_s, alone = timed_evaluation(model, split, phase, model.candidate_scores)
            same = all(np.array_equal(full.per_user[name], alone.per_user[name]) for name in full.per_user)
            pairs = model.candidates.matrices[phase].nnz + len(full.users)
            ratio = (alone_s / pairs) / (full_s / (len(full.users) * split.n_items))
            print(f"{phase} #{repeat}: full sort then candidates {full_s:.2f} CPU s (ndcg@10 "
                  f"{full.mean['ndcg@10']:.4f}, hit@10 {full.mean['hit@10']:.4f}); candidates alone {alone_s:.2f} "
                  f"CPU s (ndcg@10 {alone.mean['ndcg@10']:.4f}, hit@10 {alone.mean['hit@10']:.4f}); every user's "
                  f"metrics identical: {same}; a candidate pair costs {ratio:.1f} full-sort pairs", flush=True)


if __name__ == "__main__":
    main()
