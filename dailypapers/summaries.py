"""What a long job (an import, an embedding backfill, a digest run) reports at its end: counts in a
dataclass, printed by the CLI and stored with a worker's job as one plain dict."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


class Summary:
    """A dataclass of counts whose :meth:`as_dict` holds every field in order, but those named in
    ``UNREPORTED`` (details kept for the caller, not the report), ``seconds`` rounded to milliseconds."""

    UNREPORTED: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The reported fields by name."""
        report = {}
        for f in fields(self):
            if f.name in self.UNREPORTED:
                continue
            value = getattr(self, f.name)
            report[f.name] = round(value, 3) if f.name == "seconds" else value
        return report
