"""Progress of long loops: a tqdm bar on a terminal, periodic log lines in log files.

Snakemake, SLURM and DVC send a step's stderr to a file, where a redrawn bar is noise and the
old behaviour (a line per checkpoint, or nothing until the step ends) left a log silent for
hours. :func:`progress_bar` therefore returns a tqdm bar when stderr is a terminal and
otherwise a :class:`LogBar`: the same tqdm object (counting, rates, ETA, throttling are
tqdm's), whose display is a ``logging`` line (logger ``faceoff.progress``, INFO) at the start,
at most every :func:`log_interval` seconds, and at the end::

    train A2B-baseline-s0: 120/360 step (33%) in 00:41, 2.93step/s, 0.34s/step, ETA 01:22

``FACEOFF_PROGRESS_INTERVAL`` (seconds, default 20) sets the interval: a line comes at the first
update after it, so a loop whose iterations last under 10 s logs at least every 30 s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger("faceoff.progress")

ENV_INTERVAL = "FACEOFF_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 20.0
LOG_FORMAT = (
    "{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) in {elapsed}, {rate_noinv_fmt}, "
    "{rate_inv_fmt}, ETA {remaining}{postfix}"
)
LOG_FORMAT_OPEN = "{desc}: {n_fmt} {unit} in {elapsed}, {rate_noinv_fmt}, {rate_inv_fmt}{postfix}"  # no total


def log_interval() -> float:
    """Seconds between two log lines of a bar (``FACEOFF_PROGRESS_INTERVAL``, default 20)."""
    value = os.environ.get(ENV_INTERVAL, "")
    try:
        return max(0.0, float(value)) if value else DEFAULT_INTERVAL
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %g", ENV_INTERVAL, value, DEFAULT_INTERVAL)
        return DEFAULT_INTERVAL


class _Discard:
    """Where a LogBar's tqdm writes its (unused) terminal control output."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class LogBar(tqdm):
    """A tqdm bar displayed as log lines instead of a redrawn terminal line."""

    monitor_interval = 0  # no tqdm monitor thread: with miniters=1 every update checks the clock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("mininterval", log_interval())
        super().__init__(*args, file=_Discard(), miniters=1, dynamic_ncols=False, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        """Log the bar's line, once per count (the closing call repeats the last update's);
        tqdm's clearing (``msg`` given) has nothing to clear in a log."""
        if msg is None and self.n != getattr(self, "_logged_n", None):
            self._logged_n = self.n
            self.bar_format = LOG_FORMAT if self.total else LOG_FORMAT_OPEN
            log.info(" ".join(str(self).split()))
        return True

    # A log line comes from progress (update) only: new text waits for the next line.
    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description(desc, refresh=False)

    def set_description_str(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description_str(desc, refresh=False)

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        super().set_postfix_str(s, refresh=False)


def on_terminal() -> bool:
    """Whether stderr is a terminal (a bar can be redrawn there)."""
    return sys.stderr.isatty()


def bars_and_logging() -> contextlib.AbstractContextManager[None]:
    """Around a command: on a terminal, log records are printed above the bars instead of through
    them (tqdm's ``logging_redirect_tqdm``); elsewhere nothing changes."""
    return logging_redirect_tqdm() if on_terminal() else contextlib.nullcontext()


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    total: float | None = None,
    unit: str = "it",
    enabled: bool = True,
    initial: float = 0,
    nested: bool = False,
) -> tqdm:
    """A tqdm bar over ``iterable`` (or updated by hand up to ``total``), shown as a bar on a terminal
    and as log lines otherwise; silent when not ``enabled``.

    ``nested`` marks an inner loop (per batch inside a per-frame bar, say): it shows only once it
    has run for a while (a log interval, or 2 s on a terminal) and is removed at its end, so short
    inner loops add no lines.
    """
    options: dict[str, Any] = {"desc": desc, "total": total, "unit": unit, "initial": initial}
    options["disable"] = not enabled
    if nested:
        options["leave"] = False
    if on_terminal():
        return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, delay=2.0 if nested else 0.0, **options)
    return LogBar(iterable, delay=log_interval() if nested else 0.0, **options)
