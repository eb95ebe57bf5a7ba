"""The bundled demo corpus: three months of real Hugging Face daily papers (see README.md here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from dailypapers.ingest.hf_daily import iter_file
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer, ImportSummary
from dailypapers.store.models import Paper

DEMO_FILE = Path(__file__).with_name("hf_daily_demo.jsonl.gz")


def load_demo(
    db: Database, *, only_if_empty: bool = True, on_progress: Callable[[int], None] | None = None
) -> ImportSummary | None:
    """Import the demo papers; with ``only_if_empty`` (the first start) do nothing if any paper exists."""
    if only_if_empty:
        with db.session() as session:
            if session.scalar(select(func.count()).select_from(Paper)):
                return None
    return Importer(db, on_progress=on_progress).run(iter_file(DEMO_FILE, source="hf"))
