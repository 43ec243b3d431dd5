"""The top-k metrics the evaluator (data/evaluator.py) computes, by name: kept apart from it so that the command
line checks `eval.main_metric` without loading torch."""

TOPK_METRICS = ("recall", "ndcg", "hit", "mrr", "precision")
