"""The two kinds of failure a user sees: each is printed as one line, never a traceback."""


class UserError(Exception):
    """A problem with the user's input, shown as one line, exit code 2."""


class StageError(Exception):
    """A stage could not produce its artifact (training diverged, a gate failed...), exit code 1."""
