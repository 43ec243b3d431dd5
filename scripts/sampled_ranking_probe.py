"""Full vs sampled-N ranking of one RecBole baseline, scored by our evaluator, beside RecBole's own uniN.

    PYTHONPATH=. python scripts/sampled_ranking_probe.py --model BPR --negatives 100 --out /tmp/probe.json \
        [--leave-one-out] [--order TO] [--max-epochs 100] [--seed 0]
    PYTHONPATH=. python scripts/sampled_ranking_probe.py --model SASRec --sequential --max-epochs 10 --out ...

Trains the model twice on the same ml-100k split through the baselines stage (one thread): once with
eval.ranking=full, once with sampled-N. `--sequential`: the sequential regime's split (time-ordered
leave-one-out histories of at most 50 items, data/sequential.py) and config, for RecBole's sequential models.
Each run records our evaluator's test figures and RecBole's own test evaluation of the same trained model
(`recbole_test`: full ranking, or uniN on RecBole's own negatives, which agree with ours in distribution only;
for sequential models RecBole's may also draw the user's own history). Writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from paper_autotrain.data.candidates import candidates_identity
from paper_autotrain.data.sequential import prepare_sequences
from paper_autotrain.data.split import prepare_split
from paper_autotrain.stages import baselines

METRICS = ("hit@10", "ndcg@10")
MAX_SEQ_LENGTH = 50  # the sequential regime's default history length (RecBole's MAX_ITEM_LIST_LENGTH)


def run(model: str, ranking: str, split, args: argparse.Namespace, cache: Path) -> dict:
    cfg = {"ranking": ranking, "max_epochs": args.max_epochs, "patience": 10, "seed": args.seed, "ks": [10],
           "device": "cpu", "timeout_s": 3000,
           **({"regime": "sequential", "max_seq_length": MAX_SEQ_LENGTH} if args.sequential else {})}
    drawn = baselines.prepare_candidates_of(split, cfg)
    config = baselines.recbole_config({}, cfg)
    started = time.process_time()
    identity = candidates_identity(drawn[args.seed]) if drawn else None
    result, _ = baselines.run_one(model, config, split, cfg, {"reference": False}, cache, threads=1,
                                  candidates=identity)
    if result.status != "ok":
        raise SystemExit(f"{model} {ranking}: {result.error}")
    return {"ranking": result.ranking, "ours": {m: result.test[m] for m in METRICS},
            "recbole": {m: result.config["recbole_test"][m] for m in METRICS},
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
            "parent_cpu_s": round(time.process_time() - started, 1), "runner_cpu_s": result.config.get("cpu_s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="BPR")
    parser.add_argument("--negatives", type=int, default=100)
    parser.add_argument("--leave-one-out", action="store_true")
    parser.add_argument("--order", default="RO")
    parser.add_argument("--sequential", action="store_true", help="the sequential regime's split and config")
    parser.add_argument("--sampled-only", action="store_true", help="train the sampled-N run alone")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", type=Path, default=Path(tempfile.gettempdir()) / "sampled_probe")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    split_cfg = {"ratios": [0.8, 0.1, 0.1], "order": args.order, "seed": 2020, "leave_one_out": args.leave_one_out}
    split = prepare_sequences({"name": "ml-100k"}, MAX_SEQ_LENGTH, args.datasets) if args.sequential else \
        prepare_split({"name": "ml-100k"}, split_cfg, args.datasets)
    figures = {"model": args.model, "split": split.protocol, "split_id": split.split_id, "seed": args.seed,
               "runs": [run(args.model, ranking, split, args, args.datasets / "cache")
                        for ranking in ([] if args.sampled_only else ["full"]) + [f"sampled-{args.negatives}"]]}
    args.out.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
