"""Log lines: rich's columns on a terminal, plain greppable lines elsewhere; the paper key in both."""

from __future__ import annotations

import io
import logging
import re
import sys

import pytest

from paper_autotrain.commands import config as command_config
from paper_autotrain.commands.config import CURRENT_PAPER, on_terminal, setup_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging():
    handlers, level = list(logging.root.handlers), logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def test_a_terminal_gets_rich_columns_and_a_pipe_plain_lines(monkeypatch, restore_logging):
    from rich.logging import RichHandler

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    token = CURRENT_PAPER.set("tinyprop")
    try:
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        setup_logging()
        assert isinstance(logging.root.handlers[0], RichHandler)
        logging.getLogger("paper_autotrain.test").info("train ours (seed 0): epoch 1/2: loss 0.5000")
        shown = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())  # the colours off
        assert "\x1b[" in terminal.getvalue() and "[tinyprop] train ours (seed 0): epoch 1/2: loss 0.5000" in shown

        pipe = io.StringIO()
        monkeypatch.setattr(sys, "stderr", pipe)
        setup_logging()
        assert not isinstance(logging.root.handlers[0], RichHandler)
        logging.getLogger("paper_autotrain.test").info("train ours (seed 0): epoch 2/2: loss 0.4000")
        line = pipe.getvalue().strip()
        assert line.endswith("INFO    [tinyprop] train ours (seed 0): epoch 2/2: loss 0.4000") and "\x1b[" not in line
    finally:
        CURRENT_PAPER.reset(token)


def test_no_color_and_a_dumb_terminal_opt_out(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not on_terminal(Terminal())
    monkeypatch.delenv("NO_COLOR")
    assert on_terminal(Terminal()) and not on_terminal(io.StringIO())
    monkeypatch.setenv("TERM", "dumb")
    assert not command_config.on_terminal(Terminal())
