"""What every command shares: the conf/ folder, exit statuses, logging, composing and checking overrides, one-line
errors. Imports nothing of the commands themselves, so run, batch, ledger and leaderboard depend on it, not on
each other."""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
from collections.abc import Sequence
from contextvars import ContextVar
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from paper_autotrain import paths
from paper_autotrain.errors import UserError

CONF_DIR = str(paths.CONF_DIR)
EXIT_USER, EXIT_STAGE, EXIT_INTERNAL = 2, 1, 3
QUIET_LOGGERS = ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning_fabric", "torch", "recbole")


CURRENT_PAPER: ContextVar[str] = ContextVar("paper", default="-")
"""The paper key a run works on: every log line names it, so the jobs of a --multirun can be told apart."""
LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(paper)s] %(message)s"


class PaperKey(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.paper = CURRENT_PAPER.get()
        return True


def setup_logging() -> None:
    """Log lines on stderr, each naming its paper: rich's coloured columns on a terminal, plain lines otherwise
    (a pipe, a file, CI, NO_COLOR set), so logs and greps see the same text."""
    level = os.environ.get("PAPER_AUTOTRAIN_LOG", "INFO").upper()
    if on_terminal(sys.stderr):
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=Console(file=sys.stderr), show_path=False,
                                               log_time_format="%H:%M:%S", markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("[%(paper)s] %(message)s"))
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, stream=sys.stderr, format=LOG_FORMAT, datefmt="%H:%M:%S", force=True)
    for handler in logging.root.handlers:
        handler.addFilter(PaperKey())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    enable_our_loggers()


def on_terminal(stream: object) -> bool:
    """Whether log lines go to a person's terminal (not a pipe or file; NO_COLOR and TERM=dumb opt out)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def enable_our_loggers() -> None:
    """Hydra's logging configs (disable_existing_loggers) switch off the loggers that exist when a --multirun
    job starts or ends; ours must keep talking."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("paper_autotrain") and isinstance(logger, logging.Logger):
            logger.disabled = False


def one_line(exc: BaseException) -> str:
    """The first meaningful line of an error, with Hydra's boilerplate stripped."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Set the environment variable", "full_key", "object_type"))]
    return " ".join(useful[:2]) if useful else exc.__class__.__name__


def explain_override_error(exc: BaseException, overrides: Sequence[str]) -> str:
    text = one_line(exc)
    missing = re.search(r"Could not (?:find|load) '?baselines/([^'\s]+)", text)
    if missing:
        choices = sorted(p.stem for p in (Path(CONF_DIR) / "baselines").glob("*.yaml") if p.stem != "auto")
        return f"unknown baseline {missing.group(1)!r} in baselines=[...]; choose from {', '.join(choices)} (or auto)"
    stray = re.match(r"Error parsing override '([^']*)'", text)
    if stray and "=" not in stray.group(1):
        return (f"{stray.group(1)!r}: one SOURCE per run (the first argument); for several papers use "
                "papers=LIST or --multirun paper=a.pdf,b.pdf")
    group = re.search(r"Could not (?:find|load) '([\w-]+)/([^'\s]+)'", text)
    if group and (Path(CONF_DIR) / group.group(1)).is_dir():
        options = sorted(p.stem for p in (Path(CONF_DIR) / group.group(1)).glob("*.yaml"))
        return f"{group.group(1)}={group.group(2)} is not an option; choose one of: {', '.join(options)}"
    if "Could not find" in text:
        return f"{text} (see conf/ for the available choices)"
    if "not in struct" in text or "Could not override" in text:
        return f"{text}; check the spelling (python -m paper_autotrain --help lists the settings)"
    return text


def check_overrides(overrides: Sequence[str]) -> None:
    """Compose once up front so a bad override is one line on stderr, not Hydra's multi-line report."""
    if any(a in ("-m", "--multirun") or a.startswith("-") for a in overrides):
        return  # Hydra's own flags and sweeps: let Hydra handle them
    compose_config(overrides)


def compose_config(overrides: Sequence[str]) -> dict:
    """The resolved config for `overrides`, composed without running anything; a bad override is a UserError."""
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=[o for o in overrides if not o.startswith("hydra")])
            container = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise UserError(explain_override_error(exc, overrides)) from None
    assert isinstance(container, dict)
    return container


DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def describe_os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in DISK_FULL:
        return (f"no room to write{where}: {exc.strerror}; free some space or set paths.root to a bigger disk, "
                "then rerun (completed stages are kept)")
    if exc.errno in NOT_WRITABLE:
        return f"cannot write{where}: {exc.strerror}; set paths.root to a writable folder"
    return f"{exc.strerror or exc}{where}; completed stages are kept, rerun to resume"


def print_error(exc: BaseException) -> None:
    print(f"error: {exc}", file=sys.stderr)
