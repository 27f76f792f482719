"""``_cli/console``: the live progress line on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import io
import logging

from sparkdeps._cli.console import ConsoleHandler, LiveLine, live_progress
from sparkdeps._core.progress import Step


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _record(name: str, text: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, text, None, None)
    record.__dict__.update(extra)
    return record


def test_the_line_shows_the_count_the_bytes_and_the_item() -> None:
    step = Step("download", done=3, total=21, current="numpy-2.2.1", bytes_done=40_200_000,
                seconds=4.0)  # fmt: skip
    text = LiveLine.render(step)
    assert text.startswith("download 3/21  40.2 MB")
    assert "/s)" in text and "numpy-2.2.1" in text and text.endswith("4s")


def test_on_a_terminal_per_item_lines_give_way_to_the_live_line() -> None:
    stream = _Terminal()
    handler = ConsoleHandler(stream)
    with live_progress(handler, stream, enabled=True):
        assert handler.live is not None
        handler.emit(_record("sparkdeps._core.progress", "downloaded numpy"))
        handler.emit(_record("sparkdeps._core.progress", "download: 21 wheels", phase_end=True))
        handler.emit(_record("sparkdeps._build.publish", "published"))
    assert handler.live is None
    shown = stream.getvalue()
    assert "downloaded numpy" not in shown
    assert "download: 21 wheels" in shown and "published" in shown


def test_anywhere_else_every_line_goes_through() -> None:
    stream = io.StringIO()  # a log file, CI: no terminal
    handler = ConsoleHandler(stream)
    with live_progress(handler, stream, enabled=True):
        assert handler.live is None
        handler.emit(_record("sparkdeps._core.progress", "downloaded numpy"))
    assert "downloaded numpy" in stream.getvalue()
