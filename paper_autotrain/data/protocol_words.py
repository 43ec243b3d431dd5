"""The words data/split.py and data/sequential.py write into a split's protocol line (SplitInfo.protocol) and
compare/protocol.py and the report read back: kept apart so that reading them loads neither pandas nor scipy."""

FULL_WORDS = "full ranking over all items, seen items masked"  # the line's ranking, replaced where a run samples
SEQUENCE_FULL_WORDS = "full ranking over all items, history not masked"  # the sequences' (data/sequential.py)
LEAVE_ONE_OUT_WORDS = "per-user leave-one-out split"  # split.leave_one_out=true
