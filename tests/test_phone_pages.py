"""What keeps the first screen of a phone for the papers: the header's links folded into a <details>
menu (no script), and a long author list folded after three names ("and 37 more")."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store.importer import Importer
from tests.support.community import clients, community_settings


def _entry(arxiv_id: str, authors: int) -> DailyEntryRecord:
    paper = PaperRecord(
        arxiv_id=arxiv_id,
        title=f"A paper by {authors}",
        abstract="Text.",
        authors=[f"Person <b>{i}</b>" for i in range(1, authors + 1)],
        published_at=datetime(2026, 6, 28, tzinfo=UTC),
    )
    return DailyEntryRecord(paper=paper, day=date(2026, 6, 29), upvotes=1)


def test_long_author_lists_fold_after_a_few_names_and_the_menu_needs_no_script(settings, db):
    Importer(db).run([_entry("2606.90040", 40), _entry("2606.90005", 5), _entry("2606.90006", 6)])
    with clients(community_settings(settings), db) as made:
        for who in (made.new(), made.account(db, "alice")):
            crowd = who.client.get("/papers/2606.90040").text
            start = crowd.index('<ul class="author-list">')
            folded = crowd[start : crowd.index("</header>", start)]
            shown, rest = folded.split('<li class="author-more">')
            assert re.findall(r">(Person &lt;b&gt;\d+&lt;/b&gt;)</a>", shown) == [
                f"Person &lt;b&gt;{i}&lt;/b&gt;" for i in (1, 2, 3)
            ]
            assert "<summary>and 37 more</summary>" in rest
            assert len(re.findall(r'href="/authors/', rest)) == 37  # every name is still there, folded
            few = who.client.get("/papers/2606.90005").text
            assert "author-more" not in few and few.count('href="/authors/Person') == 5
            assert "<summary>and 3 more</summary>" in who.client.get("/papers/2606.90006").text
            home = who.client.get("/").text
            menu = home[
                home.index('<details class="site-menu">') : home.index("</details>", home.index("site-menu"))
            ]
            assert '<nav class="site-nav" aria-label="Main">' in menu and 'href="/papers/trending"' in menu
            assert "<script>" not in home and "style=" not in home and " onclick" not in home
