"""Papers' term features in the database and in recommendations: the lexicon fitted when due and kept
as papers arrive, changed texts described again, a refit replacing every row, and the reasons of the
"For you" picks naming the shared words."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from dailypapers.recommend import terms as rec_terms
from dailypapers.recommend.lexical import Lexicon, unpack
from dailypapers.search.embed import get_backend
from dailypapers.search.semantic import embed_missing
from dailypapers.store import terms as store
from dailypapers.store.importer import Importer
from dailypapers.store.models import Paper, PaperTerms
from tests.support.community import clients, community_settings
from tests.test_recommend_service import PER_TOPIC, arxiv_of, corpus, recommendations, upvote


def fit_small(db) -> int:
    """A lexicon for the 42-paper corpus (each topic's words are in a third of it: above the default
    ``MAX_DF``, so the default fit keeps no term on so few papers)."""
    with db.session() as session:
        texts = [rec_terms.text_of(t, a) for _, t, a in store.iter_texts(session)]
    lexicon = Lexicon.fit(texts, min_df=2, max_df=0.5)
    assert len(lexicon) > 30
    with db.transaction() as session:
        return store.add_lexicon(session, lexicon.to_json(), lexicon.papers)


def test_a_small_corpus_gets_an_empty_lexicon_and_recommendations_still_work(settings, db):
    Importer(db).run(corpus()[:20])
    summary = rec_terms.update_terms(db)
    assert summary.fitted and summary.vocabulary == 0 and summary.described == 20
    # more papers: refitted while under FIT_AT_LEAST, each paper described under the new lexicon
    Importer(db).run(corpus()[20:])
    again = rec_terms.update_terms(db)
    assert again.fitted and again.described == 3 * PER_TOPIC
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(PaperTerms)) == 3 * PER_TOPIC
        assert len(set(session.scalars(select(PaperTerms.lexicon_id)))) == 1


def test_terms_are_kept_described_again_on_change_and_replaced_on_refit(db):
    Importer(db).run(corpus())
    lexicon_id = fit_small(db)
    first = rec_terms.update_terms(db)
    assert not first.fitted and first.described == 3 * PER_TOPIC and first.vocabulary > 30
    assert rec_terms.update_terms(db).described == 0  # nothing changed: nothing to do
    with db.session() as session:
        row = session.execute(
            select(PaperTerms.terms, PaperTerms.lexicon_id)
            .join(Paper, Paper.id == PaperTerms.paper_id)
            .where(Paper.arxiv_id == arxiv_of("speech", 0))
        ).one()
        ids, weights = unpack(row.terms)
        assert row.lexicon_id == lexicon_id and 0 < len(ids) <= 64
        assert abs(float((weights**2).sum()) - 1.0) < 1e-2
    with db.transaction() as session:
        session.execute(
            update(Paper).where(Paper.arxiv_id == arxiv_of("robots", 2)).values(abstract="robot gripper arm")
        )
    changed = rec_terms.update_terms(db)
    assert changed.described == 1 and changed.skipped == 3 * PER_TOPIC - 1
    refit = rec_terms.update_terms(db, refit=True)
    assert refit.fitted and refit.described == 3 * PER_TOPIC
    with db.session() as session:
        assert store.current_lexicon_id(session) != lexicon_id
        assert set(session.scalars(select(PaperTerms.lexicon_id))) == {store.current_lexicon_id(session)}


@pytest.fixture
def site_with_terms(settings, db):
    Importer(db).run(corpus())
    embed_missing(db, get_backend("hashing"))
    fit_small(db)
    rec_terms.update_terms(db)
    with clients(community_settings(settings, embedding_backend="hashing"), db) as made:
        yield made


def test_for_you_reasons_name_the_words_shared_with_the_likes(site_with_terms, db):
    reader = site_with_terms.account(db, "listener")
    upvote(reader, *(arxiv_of("speech", i) for i in (0, 3, 6)))
    picks = recommendations(reader, 10)
    assert len(picks) == 10
    speech_words = set(
        "speech recognition acoustic audio spoken phoneme transcription speaker utterance waveform prosody "
        "vocoder".split()
    )
    for item in picks[:5]:
        assert item["paper"]["id"].startswith("2606.9"), item["paper"]["id"]  # speech papers first
        assert item["words"], item
        assert all(set(w.split()) <= speech_words | {"study"} for w in item["words"]), item["words"]
        assert "; shares the words “" in item["reason"]
    page = reader.get("/for-you")
    assert page.status_code == 200 and "shares the words" in page.text
