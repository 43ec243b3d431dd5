"""Live progress of child processes: one line per epoch, written by the child to its stderr with a marker and
relayed by the parent to the terminal while the child runs (the rest of the child's stderr stays in its log file).

Our trainer (worker/history.py) and RecBole's runner (stages/baselines/runner.py) write the same line, so the
terminal shows our model and every baseline alike: epoch, train loss, the validation metric, seconds, and an
estimate of the time left at most (early stopping may end the run sooner).
"""

from __future__ import annotations

import contextvars
import logging
import math
from collections.abc import Callable

MARKER = "progress| "


def epoch_line(epoch: int, max_epochs: int | None, loss: float, metric: str, value: float, train_s: float,
               eval_s: float, mean_epoch_s: float | None = None) -> str:
    """`progress| epoch 3/20: loss 0.3120, valid ndcg@10 0.2511, 4.1 s + 0.8 s eval, at most 70 s left`.

    `metric` is said alike for both sides: our monitor `valid/ndcg@10` and RecBole's `valid_ndcg@10` both read
    `valid ndcg@10`."""
    of = f"/{max_epochs}" if max_epochs else ""
    metric = metric.replace("valid/", "valid ", 1).replace("valid_", "valid ", 1)
    score = f"{value:.4f}" if math.isfinite(value) else "n/a"
    left = ""
    if max_epochs and mean_epoch_s is not None:
        left = f", at most {max(max_epochs - epoch, 0) * mean_epoch_s:.0f} s left"
    return f"{MARKER}epoch {epoch}{of}: loss {loss:.4f}, {metric} {score}, {train_s:.1f} s + {eval_s:.1f} s eval{left}"


def relay(log: logging.Logger, who: str) -> Callable[[str], None]:
    """A callback for the child's stderr lines: its progress lines, logged as `<who>: epoch ...`.

    It logs in the context it was made in (a fresh copy per line), so a line relayed by the thread that follows
    the child's stderr names the paper its caller works on (commands/config.py CURRENT_PAPER): a new thread
    would otherwise start with an empty context.
    """
    context = contextvars.copy_context()

    def forward(line: str) -> None:
        at = line.find(MARKER)
        if at >= 0:
            context.copy().run(log.info, "%s: %s", who, line[at + len(MARKER):].strip())
    return forward
