"""Reading what the command line prints: the rich summary tables (a header row and one row of counts)."""

from __future__ import annotations

import re


def summary_tables(stdout: str) -> list[dict[str, int]]:
    """Every summary table in ``stdout``, in order: its header cells matched to the counts in its row."""
    rows = [
        [cell.strip() for cell in re.split(r"[┃│]", line)[1:-1]]
        for line in stdout.splitlines()
        if line.startswith(("┃", "│"))
    ]
    assert rows and len(rows) % 2 == 0, stdout
    return [
        dict(zip(header, (int(v.replace(",", "")) for v in values), strict=True))
        for header, values in zip(rows[::2], rows[1::2], strict=True)
    ]


def summary_table(stdout: str) -> dict[str, int]:
    """The one summary table in ``stdout``."""
    tables = summary_tables(stdout)
    assert len(tables) == 1, stdout
    return tables[0]
