"""What the stages that run code in a child process share: its environment and its error line."""

from __future__ import annotations

import os
import re

from paper_autotrain.paths import child_pythonpath


def subprocess_env(**extra: str) -> dict[str, str]:
    """Our environment with the package importable (from a source checkout too: paths.child_pythonpath)."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = child_pythonpath(env.get("PYTHONPATH"))
    return env


OWN_ERROR_CLASS = re.compile(r"^paper_autotrain(\.\w+)+: ")
"""Our own exceptions carry actionable messages: their qualified class name is noise in a one-line error."""


def last_meaningful_line(stderr: str) -> str:
    """The last line that says something (a traceback's exception line), warnings skipped."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Warning" not in line and not line.startswith(("warnings.warn", "^", "~")):
            return OWN_ERROR_CLASS.sub("", line)[:500]
    return lines[-1][:500] if lines else "no error output"
