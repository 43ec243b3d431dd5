"""Numbers as papers print them ("0.001", "1e-3", "10^-3", "1 × 10-3", "five"), and the range of values each
hyperparameter can plausibly take: one home for the readers of settings (hparams, grids, settings tables)."""

from __future__ import annotations

import re

from .lexicon import NUMBER_WORDS

# a number, "1e-4", or a power of ten whose superscript the text layer flattened: "10-4", "1 × 10-4", "10^-4"; never
# the mantissa alone of an exponent it cannot read ("1e?3", "1 × 10?4": a glyph the text layer lost), which would be
# a wrong value (1), not a missing one
UNREAD_EXPONENT = r"\s?[eE]\s?[-−–]?\s?\S?\d|\s?[×x]\s?10"
NUM = (r"(?P<v>(?:\d+(?:\.\d+)?\s?[×x]\s?)?10\s?\^?\{?[-−]\s?\d{1,2}\}?(?!\d|\.\d)"
       rf"|\d+(?:\.\d+)?(?:\s?[eE]\s?[-−]?\s?\d+)?)(?!\.?\d|\s*%|{UNREAD_EXPONENT})")
INT = r"(?P<v>\d{1,6})(?!\.?\d|\s*%)"
INTW = r"(?P<v>\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|single)"

# the hyperparameters whose values are counts (read as int)
INT_KEYS = frozenset({"embedding_size", "batch_size", "n_layers", "max_seq_length", "n_heads", "hidden_size",
                      "negative_samples", "epochs", "relation_embedding_size", "n_iter", "neighbor_sample_size",
                      "n_hop", "n_memory", "n_subgraphs",
                      "neighbors"})
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "embedding_size": (2, 4096),
    "learning_rate": (1e-7, 1.0),
    "batch_size": (1, 10**6),
    "n_layers": (0, 24),
    "l2_reg": (0, 10),
    "dropout": (0, 1),
    "message_dropout": (0, 1),
    "node_dropout": (0, 1),
    "margin": (-1, 100),
    "covariance_weight": (0, 10**4),
    "alpha": (0, 1),
    "confidence_alpha": (0, 10**4),
    "epsilon": (0, 1),
    "beta": (0, 1),
    "attention_size": (1, 4096),
    "missing_weight": (0, 1),
    "conv_channels": (1, 4096),
    "l2_weight": (0, 10**7),
    "l1_weight": (0, 10**7),
    "neighbors": (1, 10**6),
    "shrink": (0, 10**6),
    "mask_ratio": (0, 1),
    "max_seq_length": (2, 10**5),
    "n_heads": (1, 64),
    "hidden_size": (2, 10**5),
    "negative_samples": (1, 10**4),
    "epochs": (1, 10**5),
    "relation_embedding_size": (2, 4096),
    "n_iter": (1, 8),
    "neighbor_sample_size": (1, 1024),
    "n_hop": (1, 8),
    "n_memory": (1, 4096),
    "n_subgraphs": (1, 64),
    "cause_weight": (0, 10),
    "discrepancy_weight": (0, 10),
    "curriculum_decay": (0, 1),
    "grad_clip": (0, 1000),
    "rmsprop_decay": (0, 0.9999), "momentum": (0, 0.9999), "adam_beta1": (0, 0.9999), "adam_beta2": (0, 0.9999),
    "adam_eps": (0, 1),
}

def parse_number(text: str) -> float | int:
    text = re.sub(r"\s", "", text)
    if text.lower() in NUMBER_WORDS:
        return NUMBER_WORDS[text.lower()]
    text = text.replace("−", "-")
    power = re.fullmatch(r"(?:(\d+(?:\.\d+)?)[×x])?10\^?\{?-(\d{1,2})\}?", text)
    if power:  # "1×10-4" -> 1e-4
        return float(power.group(1) or 1) * 10 ** -int(power.group(2))
    value = float(text)
    return int(value) if value.is_integer() and "e" not in text.lower() and "." not in text else value


def plausible(key: str, value: object) -> bool:
    if key not in PLAUSIBLE or not isinstance(value, int | float):
        return True
    low, high = PLAUSIBLE[key]
    return low <= value <= high
