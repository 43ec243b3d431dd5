"""The two kinds of failure a user sees: each is printed as one line, never a traceback."""


class UserError(Exception):
    """A problem with the user's input, shown as one line, exit code 2."""


class StageError(Exception):
    """A stage could not produce its artifact (training diverged, a gate failed...), exit code 1."""


def tag_stage(exc: BaseException, stage: str) -> None:
    """Mark which pipeline stage raised `exc` (the innermost wins); the one-line message stays as it was."""
    if stage_of(exc) is not None:
        return
    try:
        exc.paper_autotrain_stage = stage  # type: ignore[attr-defined]
        exc.add_note(f"(raised in the {stage} stage)")  # shown in tracebacks only, never in the one line
    except (AttributeError, TypeError):  # an exception type with __slots__: the stage stays unknown
        pass


def stage_of(exc: BaseException) -> str | None:
    """The stage `tag_stage` recorded on `exc`, if any."""
    stage = getattr(exc, "paper_autotrain_stage", None)
    return stage if isinstance(stage, str) else None
