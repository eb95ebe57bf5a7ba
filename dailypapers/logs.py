"""One logging configuration for every process: ``dailypapers serve`` (and each of its uvicorn worker
processes), ``dailypapers worker`` and every other command.

Records go to standard error at ``log_level`` (default INFO), as text (``time level logger: message``)
or, with ``log_format=json``, as one JSON object per line (``time``, ``level``, ``logger``, ``message``,
``exception`` when there is one; uvicorn's access lines also carry ``client``, ``method``, ``path`` and
``status``). In-process, :func:`configure_logging` installs it; for uvicorn, which configures logging in
each process it starts, :func:`logging_config` gives the same configuration as a ``dictConfig`` mapping
(``uvicorn.run(log_config=...)``), so ``--workers N`` and ``--reload`` log the same way.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from dailypapers.config import Settings

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# chatty below WARNING: alembic says which dialect it uses on every start (DEBUG shows everything)
QUIET = ("alembic", "httpx", "httpcore")


class TextFormatter(logging.Formatter):
    """``2026-01-31 12:00:00,123 INFO dailypapers.mail: message`` (times in local time)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in the message are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _version, status = record.args
            data.update(client=client, method=method, path=path, status=status)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not when the handler was made), so
    a redirected or replaced stderr still gets the log."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def make_handler(fmt: str = "text") -> logging.Handler:
    """The handler every process logs through: standard error, in ``fmt`` (``text`` or ``json``). Python's
    warnings go through the log too (made here, as this runs in every process uvicorn starts)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    logging.captureWarnings(True)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def _levels(level: str) -> dict[str, str]:
    """The level of each logger we set: uvicorn's own at ``level``, chatty libraries at WARNING or above."""
    quiet = level if level == "DEBUG" else max(level, "WARNING", key=LEVELS.index)
    return {
        "uvicorn": level,
        "uvicorn.error": level,
        "uvicorn.access": level,
        **{name: quiet for name in QUIET},
    }


def logging_config(settings: Settings) -> dict[str, Any]:
    """The configuration as a :func:`logging.config.dictConfig` mapping, for ``uvicorn.run(log_config=…)``:
    one handler on the root logger; uvicorn's loggers hand their records to it."""
    level = settings.log_level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"default": {"()": "dailypapers.logs.make_handler", "fmt": settings.log_format}},
        "loggers": {
            name: {"level": value, "handlers": [], "propagate": True}
            for name, value in _levels(level).items()
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def configure_logging(settings: Settings) -> None:
    """Log this process as :func:`logging_config` says. Idempotent: a second call replaces the handler the
    first one added; handlers that others put on the root logger are left alone."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    root.addHandler(make_handler(settings.log_format))
    root.setLevel(settings.log_level)
    for name, value in _levels(settings.log_level).items():
        logging.getLogger(name).setLevel(value)
