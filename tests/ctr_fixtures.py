"""A small CTR dataset in RecBole atomic files: ratings, user features, items with multi-valued genres.

Clicks follow a pattern the models can learn: users of group "a" like genre "g1" items, users of group
"b" like "g2" items (with noise), so AUC well above 0.5 is reachable in a few epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_ctr_dataset(folder: Path, name: str = "tinyctr", n_users: int = 60, n_items: int = 40,
                      per_user: int = 25, seed: int = 0) -> dict:
    """Write <name>.inter/.user/.item into `folder`; return the dataset config prepare_ctr takes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    groups = ["a" if u % 2 else "b" for u in range(n_users)]
    genres = [("g1" if i % 2 else "g2") + (" g3" if i % 5 == 0 else "") for i in range(n_items)]
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(n_users):
        for item in rng.choice(n_items, size=per_user, replace=False):
            liked = (groups[user] == "a") == genres[item].startswith("g1")
            rating = rng.choice([4, 5]) if liked != (rng.random() < 0.15) else rng.choice([1, 2, 3])
            inter.append(f"u{user}\ti{item}\t{rating}\t{user * 100 + item}")
    users = ["user_id:token\tgroup:token\tage:token"] + [f"u{u}\t{groups[u]}\t{20 + u % 3}" for u in range(n_users)]
    items = ["item_id:token\tclass:token_seq\trelease_year:token"] + [
        f"i{i}\t{genres[i]}\t{1990 + i % 4}" for i in range(n_items)]
    for suffix, lines in (("inter", inter), ("user", users), ("item", items)):
        (folder / f"{name}.{suffix}").write_text("\n".join(lines) + "\n")
    return {"name": name, "path": str(folder), "split": {"ratios": [0.8, 0.1, 0.1], "seed": 7},
            "ctr": {"fields": ["user_id", "item_id", "group", "age", "class", "release_year"]}}
