"""Recommendations through the site: the reader's profile read from votes, collections, marks and picked
interests, the JSON API and the "For you" page, on a small corpus of three clearly separate topics
embedded with the hashing backend; and the worker's periodic schedule."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from dailypapers.ingest.records import DailyEntryRecord, Organization, PaperRecord
from dailypapers.search.embed import get_backend
from dailypapers.search.semantic import embed_missing
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import Job, Schedule
from dailypapers.tasks import parse_schedule, queue_due
from tests.support.community import clients, community_settings

PER_TOPIC = 14
TOPICS = {
    "speech": {
        "words": (
            "speech recognition acoustic audio spoken phoneme transcription speaker utterance "
            "waveform prosody vocoder"
        ).split(),
        "categories": ["eess.AS", "cs.SD"],
        "organization": Organization("voicelab", "Voice Lab"),
        "author": "Zoë Ångström",
    },
    "robots": {
        "words": (
            "robot manipulation grasping gripper embodied arm dexterous tactile locomotion "
            "kinematics actuator teleoperation"
        ).split(),
        "categories": ["cs.RO"],
        "organization": Organization("robolab", "Robot Lab"),
        "author": "Rosa Motor",
    },
    "molecules": {
        "words": (
            "molecule protein binding chemistry ligand docking enzyme crystal synthesis "
            "solvent conformer catalyst"
        ).split(),
        "categories": ["q-bio.BM", "physics.chem-ph"],
        "organization": Organization("chemlab", "Chem Lab"),
        "author": "Carl Bond",
    },
}
ORDER = list(TOPICS)


def arxiv_of(topic: str, i: int) -> str:
    return f"2606.{9 - ORDER.index(topic)}{i:04d}"


def topic_of(arxiv_id: str) -> str:
    return ORDER[9 - int(arxiv_id[5])]


def corpus() -> list[DailyEntryRecord]:
    """``PER_TOPIC`` papers per topic, each written from its topic's words (so their vectors cluster),
    listed over the last days of June 2026."""
    rng = random.Random(7)
    records = []
    for topic, spec in TOPICS.items():
        words = spec["words"]
        for i in range(PER_TOPIC):
            title = " ".join(rng.sample(words, 5)).title() + f" {topic.title()} Study {i}"
            abstract = " ".join(rng.choice(words) for _ in range(60)) + "."
            day = date(2026, 6, 20) + timedelta(days=i % 10)
            paper = PaperRecord(
                arxiv_id=arxiv_of(topic, i),
                title=title,
                abstract=abstract,
                authors=[spec["author"], f"Coauthor {topic} {i}"],
                categories=list(spec["categories"]),
                primary_category=spec["categories"][0],
                published_at=datetime(day.year, day.month, day.day, tzinfo=UTC),
                organization=spec["organization"],
                upvotes=100 - i,
            )
            listed = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            records.append(DailyEntryRecord(paper=paper, day=day, upvotes=100 - i, submitted_at=listed))
    return records


@pytest.fixture
def rec_settings(settings):
    return community_settings(settings, embedding_backend="hashing")


@pytest.fixture
def site(rec_settings, db):
    summary = Importer(db).run(corpus())
    assert summary.new == 3 * PER_TOPIC
    embed_missing(db, get_backend("hashing"))
    with clients(rec_settings, db) as made:
        yield made


def recommendations(api, limit: int = 20) -> list[dict]:
    r = api.get(f"/api/recommendations?limit={limit}")
    assert r.status_code == 200, r.text
    return r.json()


def titles_of(site, arxiv_ids) -> dict[str, str]:
    found = {}
    for arxiv in arxiv_ids:
        r = site.new().get(f"/api/papers/{arxiv}")
        assert r.status_code == 200
        found[arxiv] = " ".join(r.json()["title"].split())
    return found


def upvote(api, *arxiv_ids: str) -> None:
    for arxiv in arxiv_ids:
        r = api.put(f"/api/papers/{arxiv}/upvote")
        assert r.status_code == 200, r.text


# --- the API and the page ----------------------------------------------------------------------------


def test_recommendations_and_interests_need_a_login(site):
    anonymous = site.new()
    for method, url in (
        ("GET", "/api/recommendations"),
        ("GET", "/api/me/interests"),
        ("PUT", "/api/me/interests"),
    ):
        r = anonymous.client.request(method, url, json={} if method == "PUT" else None)
        assert r.status_code == 401, (url, r.status_code)
        assert r.json()["error"]
    page = anonymous.client.get("/for-you", follow_redirects=False)
    assert page.status_code in (302, 303, 307)
    assert page.headers["location"].startswith("/account/login")
    assert "next=%2Ffor-you" in page.headers["location"]


def test_a_new_reader_gets_nothing_until_they_vote_or_pick(site, db):
    reader = site.account(db, "newcomer")
    assert recommendations(reader) == []
    page = reader.get("/for-you")
    assert page.status_code == 200 and "Nothing to recommend yet" in page.text


def test_upvotes_steer_recommendations_with_reasons_and_touched_papers_are_left_out(site, db):
    reader = site.account(db, "listener")
    liked = [arxiv_of("speech", i) for i in (0, 3, 6)]
    upvote(reader, *liked)
    liked_titles = titles_of(site, liked)

    first = recommendations(reader, 10)
    assert len(first) == 10
    ids = [p["paper"]["id"] for p in first]
    assert not set(ids) & set(liked)
    assert all(topic_of(a) == "speech" for a in ids[:8]), [topic_of(a) for a in ids]
    scores = [p["score"] for p in first]
    assert scores == sorted(scores, reverse=True)
    for item in first:
        assert item["because"]["id"] in liked
        title = liked_titles[item["because"]["id"]]
        # every speech paper here is by Zoë Ångström: a co-author of the liked papers
        assert (
            item["reason"] == f"close to “{title}”, which you upvoted; by Zoë Ångström, on papers you liked"
        )
        assert -1.0 <= item["because"]["similarity"] <= 1.0

    # read, not interested, saved: none of them comes back
    read, dismissed, saved = ids[0], ids[1], ids[2]
    assert reader.put(f"/api/papers/{read}/marks/read").status_code == 200
    assert reader.put(f"/api/papers/{dismissed}/marks/not_interested").status_code == 200
    collection = reader.post("/api/collections", json={"name": "to read"})
    assert collection.status_code == 201, collection.text
    assert reader.put(f"/api/collections/{collection.json()['id']}/papers/{saved}").status_code == 200

    second = recommendations(reader, 30)
    again = [p["paper"]["id"] for p in second]
    assert not set(again) & {read, dismissed, saved, *liked}
    assert len(again) == len(set(again))
    saved_title = titles_of(site, [saved])[saved]
    for item in second:
        assert item["because"]["id"] in {*liked, saved}
        if item["because"]["id"] == saved:
            assert item["reason"].startswith(f"close to “{saved_title}”, which you saved")

    # the page shows the same picks with their reasons
    page = reader.get("/for-you")
    assert page.status_code == 200
    assert "close to “" in page.text
    for arxiv in again[:5]:
        assert f"/papers/{arxiv}" in page.text
    assert f'/papers/{dismissed}"' not in page.text

    # another reader's votes do not leak into these
    other = site.account(db, "roboticist")
    upvote(other, arxiv_of("robots", 1), arxiv_of("robots", 2))
    assert [p["paper"]["id"] for p in recommendations(reader, 30)] == again


def test_not_interested_pushes_similar_papers_down(site, db):
    reader = site.account(db, "mixed")
    upvote(reader, arxiv_of("speech", 0), arxiv_of("speech", 1), arxiv_of("robots", 0), arxiv_of("robots", 1))

    def ranks() -> list[str]:
        return [p["paper"]["id"] for p in recommendations(reader, 24)]

    before = ranks()
    robots_before = [i for i, a in enumerate(before) if topic_of(a) == "robots"]
    assert robots_before and min(robots_before) < 6, [topic_of(a) for a in before]
    dismissed = before[robots_before[0]]
    assert reader.put(f"/api/papers/{dismissed}/marks/not_interested").status_code == 200

    after = ranks()
    assert dismissed not in after
    robots_after = [i for i, a in enumerate(after) if topic_of(a) == "robots"]
    speech_after = [i for i, a in enumerate(after) if topic_of(a) == "speech"]
    top = 8
    assert sum(1 for i in robots_after if i < top) < sum(1 for i in robots_before if i < top), (
        [topic_of(a) for a in before],
        [topic_of(a) for a in after],
    )
    assert sum(speech_after[:3]) < sum(robots_after[:3])

    # taking the mark back restores the order
    assert reader.delete(f"/api/papers/{dismissed}/marks/not_interested").status_code == 200
    assert ranks() == before


def test_cold_start_from_picked_categories_organizations_authors_and_papers(site, db):
    reader = site.account(db, "fresh")
    assert reader.get("/api/me/interests").json() == {
        "paper": [],
        "author": [],
        "category": [],
        "organization": [],
    }

    r = reader.put("/api/me/interests", json={"category": ["q-bio.BM"]})
    assert r.status_code == 200, r.text
    assert r.json()["category"] == ["q-bio.BM"]
    picks = recommendations(reader, 8)
    assert len(picks) == 8 and {topic_of(p["paper"]["id"]) for p in picks} == {"molecules"}
    assert all("”, from your interest in q-bio.BM" in p["reason"] for p in picks)

    # an organization replaces the categories
    r = reader.put("/api/me/interests", json={"organization": ["robolab"]})
    assert r.json() == {"paper": [], "author": [], "category": [], "organization": ["robolab"]}
    picks = recommendations(reader, 8)
    assert {topic_of(p["paper"]["id"]) for p in picks} == {"robots"}

    # a picked paper (as a URL) leads to its neighbours, and is not recommended itself
    seed = arxiv_of("speech", 5)
    r = reader.put("/api/me/interests", json={"paper": [f"https://arxiv.org/abs/{seed}v2"]})
    assert r.status_code == 200 and r.json()["paper"] == [seed]
    picks = recommendations(reader, 6)
    assert picks and seed not in [p["paper"]["id"] for p in picks]
    assert {topic_of(p["paper"]["id"]) for p in picks} == {"speech"}
    assert all("”, which you picked" in p["reason"] and p["because"]["id"] == seed for p in picks)

    # the page form does the same
    form = reader.client.post(
        "/for-you/interests",
        data={"category": ["cs.RO"], "authors": ""},
        headers={"X-CSRF-Token": reader.csrf},
        follow_redirects=False,
    )
    assert form.status_code == 303
    assert reader.get("/api/me/interests").json()["category"] == ["cs.RO"]
    assert {topic_of(p["paper"]["id"]) for p in recommendations(reader, 6)} == {"robots"}

    bad = reader.put("/api/me/interests", json={"paper": ["not a paper id"]})
    assert bad.status_code == 400
    assert reader.get("/api/me/interests").json()["category"] == ["cs.RO"]  # unchanged


def test_cold_start_from_an_author_with_accents_in_the_name(site, db):
    reader = site.account(db, "accents")
    r = reader.put("/api/me/interests", json={"author": ["Zoë Ångström"]})
    assert r.status_code == 200 and r.json()["author"] == ["Zoë Ångström"]
    picks = recommendations(reader, 6)
    assert picks, "no recommendations from an author whose name is not plain ASCII"
    assert {topic_of(p["paper"]["id"]) for p in picks} == {"speech"}
    ascii_reader = site.account(db, "plain")
    ascii_reader.put("/api/me/interests", json={"author": ["Rosa Motor"]})
    assert {topic_of(p["paper"]["id"]) for p in recommendations(ascii_reader, 6)} == {"robots"}


# --- the worker's schedule ---------------------------------------------------------------------------


def test_parse_schedule_reads_periods_and_rejects_bad_specs():
    assert parse_schedule("sync=1h, index=10m ,digest=30") == {
        "sync": timedelta(hours=1),
        "index": timedelta(minutes=10),
        "digest": timedelta(seconds=30),
    }
    assert parse_schedule("digest=1.5m") == {"digest": timedelta(seconds=90)}
    assert parse_schedule("") == {} and parse_schedule(" , ") == {}
    for bad in (
        "digest",
        "digest=",
        "digest=five",
        "digest=5d",
        "digest=-5m",
        "mail=5m",
        "digest=5s",
        "digest=5m;sync=1h",
        "Digest=5m",
        "digest==5m",
    ):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def jobs(db: Database, kind: str | None = None) -> int:
    with db.session() as session:
        query = select(func.count()).select_from(Job)
        if kind:
            query = query.where(Job.kind == kind)
        return session.scalar(query) or 0


def test_queue_due_queues_each_period_once(db, settings):
    periods = {"digest": timedelta(minutes=5), "index": timedelta(minutes=10)}
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert sorted(queue_due(db, periods, now=t0)) == ["digest", "index"]
    assert (jobs(db, "digest"), jobs(db, "index")) == (1, 1)
    # called again, in the same instant or within the period: nothing more
    assert queue_due(db, periods, now=t0) == []
    assert queue_due(db, periods, now=t0 + timedelta(minutes=4, seconds=59)) == []
    # a restarted worker (a new process: another Database on the same store) does not queue early
    restarted = Database.from_settings(settings)
    try:
        assert queue_due(restarted, periods, now=t0 + timedelta(minutes=2)) == []
        assert jobs(db) == 2
        with db.session() as session:
            due = dict(session.execute(select(Schedule.name, Schedule.next_run_at)).all())
        assert due == {"digest": t0 + timedelta(minutes=5), "index": t0 + timedelta(minutes=10)}
        # once the period passed: that task only, once its previous job ran (a waiting one is not doubled)
        assert queue_due(restarted, periods, now=t0 + timedelta(minutes=5)) == []
        assert jobs(db, "digest") == 1
        with db.transaction() as session:
            session.execute(update(Job).values(status="done"))
        assert queue_due(restarted, periods, now=t0 + timedelta(minutes=10)) == ["digest", "index"]
        assert queue_due(db, periods, now=t0 + timedelta(minutes=11)) == []
    finally:
        restarted.dispose()


def test_two_workers_at_once_queue_each_due_task_once(db, settings):
    periods = {"digest": timedelta(minutes=5), "sync": timedelta(hours=1)}
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    workers = [Database.from_settings(settings) for _ in range(4)]
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def tick(worker: Database, now: datetime) -> None:
        try:
            start.wait(10)
            results.append(queue_due(worker, periods, now=now))
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    try:
        for now in (t0, t0 + timedelta(minutes=5), t0 + timedelta(minutes=7)):
            results.clear()
            threads = [threading.Thread(target=tick, args=(w, now)) for w in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not errors, errors
            queued = sorted(name for names in results for name in names)
            # at +5 min the digest period is due again, but its first job still waits: not doubled
            expected = {t0: ["digest", "sync"], t0 + timedelta(minutes=5): [], t0 + timedelta(minutes=7): []}[
                now
            ]
            assert queued == expected, (now, results)
    finally:
        for worker in workers:
            worker.dispose()
    # the first digest job still waits, so the second period did not queue a second copy of it
    assert (jobs(db, "digest"), jobs(db, "sync")) == (1, 1)
