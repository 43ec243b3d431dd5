"""Is this a recommender-systems paper at all? A cheap vocabulary test before any extractor runs: a paper on
protein folding or a thesis on compilers would otherwise be read into some MethodSpec and fail later, far from
the cause (or, worse, train a made-up model)."""

from __future__ import annotations

import re

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import PaperDoc

# Phrases that, on their own, mark the field: one mention is enough (a real paper has dozens)
# Generous on purpose: refusing a real recsys paper costs more than reading an odd one.
FIELD_TERMS = re.compile(
    r"recommend\w*|collaborative filtering|click[- ]through|clicks?\b|\bctr\b|implicit feedback|user[- ]item|"
    r"top-?\s?[kn]\b|next[- ]item|sessions?\b|matrix factori[sz]ation|factori[sz]ation machines?|\bbpr\b|"
    r"ndcg|\bhr@|hit ratio|hit@|recall@|precision@|\bmrr\b|\bratings?\b|impressions?\b|personali[sz]\w*",
    re.IGNORECASE)
USER_ITEM = (re.compile(r"\busers?\b", re.IGNORECASE), re.compile(r"\bitems?\b", re.IGNORECASE))
MIN_FIELD_MENTIONS = 1
MIN_USER_ITEM_MENTIONS = 3


def looks_like_recsys(text: str) -> bool:
    """A mention of the field's vocabulary, or users and items each mentioned a few times."""
    if len(FIELD_TERMS.findall(text)) >= MIN_FIELD_MENTIONS:
        return True
    return all(len(pattern.findall(text)) >= MIN_USER_ITEM_MENTIONS for pattern in USER_ITEM)


def check_topic(doc: PaperDoc) -> None:
    if not looks_like_recsys(doc.full_text):
        raise UserError(f"{doc.meta.title or 'the paper'!r} does not read as a recommender-systems paper (no "
                        "mention of recommendation, users and items, ratings or clicks); paper_autotrain "
                        "reproduces recommender models. To try anyway: extractor.require_recsys=false")
