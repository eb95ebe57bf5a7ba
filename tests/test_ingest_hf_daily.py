"""Hugging Face daily papers: saved responses (every real defect) and the live API, served locally."""

import gzip
import json
from datetime import date, datetime, timezone

import pytest

from dailypapers.ingest import hf_daily
from dailypapers.ingest.http import FetchError, PoliteClient
from dailypapers.ingest.records import Checkpoint, DailyEntryRecord, Rejected
from tests.conftest import TEST_DATA
from tests.support.local_server import LocalServer, Reply

HF = TEST_DATA / "hf_daily"


def records_of(path):
    return list(hf_daily.iter_path(path))


def test_reads_every_fixture_file_in_date_order():
    recs = records_of(HF)
    assert all(isinstance(r, DailyEntryRecord) for r in recs), [r for r in recs if isinstance(r, Rejected)]
    assert [r.paper.arxiv_id for r in recs] == [
        "2405.21060",
        "2405.21075",
        "2405.21048",  # 2024-06-03: old schema, mediaUrl
        "2412.07730",
        "2412.05210",  # 2024-12-11: Python-repr strings
        "2501.05441",
        "2501.05453",
        "2501.05032",  # 2025-01-10: wrapper object of repr strings
        "2606.26740",
        "2606.30616",
        "2606.28480",
        "2606.24256",  # 2026-06-30: organization, stars
    ]


def test_old_schema_entry_field_by_field():
    rec = records_of(HF / "2024-06-03.json")[0]
    assert rec.day == date(2024, 6, 3)  # no submittedOnDailyAt: the file's date
    assert rec.submitted_at is None
    assert rec.upvotes == 27 and rec.num_comments == 3
    assert rec.media_urls == ["https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2405.21060.png"]
    p = rec.paper
    assert p.title == (
        "Transformers are SSMs: Generalized Models and Efficient Algorithms Through "
        "Structured State Space Duality"
    )
    assert p.authors[:2] == ["Tri Dao", "Albert Gu"]
    assert p.published_at == datetime(2024, 5, 31, 17, 50, 1, tzinfo=timezone.utc)
    assert p.upvotes == 27
    assert p.organization is None and p.github_stars is None


def test_repr_string_entries_are_read():
    rec = records_of(HF / "2024-12-11.json")[0]
    assert rec.paper.arxiv_id == "2412.07730"
    assert rec.paper.authors[:3] == ["Zongyu Lin", "Wei Liu", "Chen Chen"]
    assert rec.day == date(2024, 12, 11)


def test_wrapper_object_file():
    recs = records_of(HF / "2025-01-10.json")
    assert len(recs) == 3 and {r.day for r in recs} == {date(2025, 1, 10)}


def test_new_schema_entry_field_by_field():
    rec = records_of(HF / "2026-06-30.json")[0]
    p = rec.paper
    assert p.arxiv_id == "2606.26740"
    assert p.title == "LiveEdit: Towards Real-Time Diffusion-Based Streaming Video Editing"
    assert p.authors == ["Xinyu Wang", "Chongbo Zhao", "Fangneng Zhan", "Yue Ma"]
    assert p.code_url == "https://github.com/cp-cp/LiveEdit"
    assert p.github_stars == 12
    assert p.project_page == "https://arxiv.org/abs/2606.26740"
    assert p.ai_summary.startswith("A novel streaming video editing framework")
    assert "AR-oriented mask cache" in p.ai_keywords
    assert p.organization.name == "Tsinghua" and p.organization.fullname == "Tsinghua University"
    assert rec.submitted_at == datetime(2026, 6, 30, tzinfo=timezone.utc)
    assert rec.day == date(2026, 6, 30)
    assert rec.submitter.name == "YueMafighting" and rec.submitter.fullname == "Jack Ma"
    assert rec.upvotes == 57
    assert rec.media_urls and rec.media_urls[0].endswith(".qt")


def test_list_day_comes_from_submitted_on_daily_at_over_file_name(tmp_path):
    entry = json.loads((HF / "2026-06-30.json").read_text())[0]
    entry["paper"]["submittedOnDailyAt"] = "2026-06-29T03:10:00.000Z"
    (tmp_path / "2026-06-30.json").write_text(json.dumps([entry]))
    assert records_of(tmp_path)[0].day == date(2026, 6, 29)


def test_broken_entries_are_rejected_with_position_and_the_rest_goes_on(tmp_path):
    good = json.loads((HF / "2026-06-30.json").read_text())[:2]
    entries = [
        good[0],
        "{'paper': {'id': ",
        {"paper": {"id": "not-an-id", "title": "x"}},
        {"paper": {"id": "2501.00001"}},
        42,
        good[1],
    ]
    (tmp_path / "2025-02-03.json").write_text(json.dumps(entries))
    (tmp_path / "2025-02-04.json").write_text("{not json")
    recs = records_of(tmp_path)
    kinds = [type(r).__name__ for r in recs]
    assert kinds == [
        "DailyEntryRecord",
        "Rejected",
        "Rejected",
        "Rejected",
        "Rejected",
        "DailyEntryRecord",
        "Rejected",
    ]
    positions = [r.position for r in recs if isinstance(r, Rejected)]
    assert positions[0].endswith("2025-02-03.json entry 1")
    assert positions[2].endswith("entry 3") and "no title" in recs[3].reason
    assert positions[-1].endswith("2025-02-04.json")


def test_json_lines_plain_and_gzip(tmp_path):
    entries = json.loads((HF / "2026-06-30.json").read_text())
    lines = "\n".join(json.dumps(e) for e in entries) + "\n\n{broken\n"
    (tmp_path / "a.jsonl").write_text(lines)
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as fh:
        fh.write(lines)
    for name in ("a.jsonl", "b.jsonl.gz"):
        recs = list(hf_daily.iter_file(tmp_path / name))
        assert [r.paper.arxiv_id for r in recs[:-1]] == [e["paper"]["id"] for e in entries]
        assert isinstance(recs[-1], Rejected) and recs[-1].position.endswith(f"{name}:6")


def test_missing_path():
    with pytest.raises(FileNotFoundError):
        hf_daily.list_files(TEST_DATA / "nope")


# --- the live API, served by a real local HTTP server ------------------------------------------------


def _api(days: dict[str, list], fail_first: int = 0):
    calls = {"n": 0}

    def respond(req):
        calls["n"] += 1
        if calls["n"] <= fail_first:
            return Reply(503, "busy", headers={"Retry-After": "1"})
        if req.path != "/api/daily_papers":
            return Reply(404, "not found")
        day = req.arg("date")
        if day not in days:
            return Reply(200, "[]", content_type="application/json")
        limit, page = int(req.arg("limit", "50")), int(req.arg("p", "0"))
        body = days[day][page * limit : (page + 1) * limit]
        return Reply(200, json.dumps(body), content_type="application/json")

    return respond


def _client(waits):
    return PoliteClient(min_interval=1.0, sleep=waits.append, retries=3, backoff=0.5)


def test_api_harvest_day_by_day_with_paging_and_checkpoints():
    old = json.loads((HF / "2024-06-03.json").read_text())
    new = json.loads((HF / "2026-06-30.json").read_text())
    waits = []
    with LocalServer(_api({"2024-06-03": old, "2024-06-05": new})) as server, _client(waits) as client:
        recs = list(hf_daily.harvest_api(client, server.url, date(2024, 6, 3), date(2024, 6, 5), page_size=2))
    entries = [r for r in recs if isinstance(r, DailyEntryRecord)]
    checkpoints = [r for r in recs if isinstance(r, Checkpoint)]
    assert [e.paper.arxiv_id for e in entries] == [e["paper"]["id"] for e in old + new]
    assert [e.day for e in entries] == [date(2024, 6, 3)] * 3 + [date(2026, 6, 30)] * 4
    assert [c.state["next_day"] for c in checkpoints] == ["2024-06-04", "2024-06-05", "2024-06-06"]
    assert [c.done for c in checkpoints] == [False, False, True]
    assert entries[0].source == f"mirror:{server.url}"
    # 2 pages for day 1 (2 + 1 entries), 1 for day 2, 3 for day 3 (2 + 2 + 0): six requests
    asked = [(r.arg("date"), r.arg("p")) for r in server.requests]
    assert asked == [
        ("2024-06-03", "0"),
        ("2024-06-03", "1"),
        ("2024-06-04", "0"),
        ("2024-06-05", "0"),
        ("2024-06-05", "1"),
        ("2024-06-05", "2"),
    ]
    assert len(waits) == 5 and all(0 < w <= 1.0 for w in waits)  # rate limit between requests


def test_api_harvest_resumes_from_checkpoint_state():
    with LocalServer(_api({})) as server, _client([]) as client:
        list(
            hf_daily.harvest_api(
                client, server.url, date(2024, 6, 1), date(2024, 6, 5), state={"next_day": "2024-06-04"}
            )
        )
    assert [r.arg("date") for r in server.requests] == ["2024-06-04", "2024-06-05"]


def test_api_harvest_retries_503_with_retry_after():
    old = json.loads((HF / "2024-06-03.json").read_text())
    waits = []
    with LocalServer(_api({"2024-06-03": old}, fail_first=2)) as server, _client(waits) as client:
        recs = list(hf_daily.harvest_api(client, server.url, date(2024, 6, 3), date(2024, 6, 3)))
    assert len([r for r in recs if isinstance(r, DailyEntryRecord)]) == 3
    assert len(server.requests) == 3
    assert waits.count(1.0) >= 2  # Retry-After: 1 honoured (longer than the 0.5 s backoff)


def test_api_harvest_gives_up_after_retries():
    waits = []
    with LocalServer(lambda req: Reply(500, "down")) as server, _client(waits) as client:
        with pytest.raises(FetchError, match="HTTP 500"):
            list(hf_daily.harvest_api(client, server.url, date(2024, 6, 3), date(2024, 6, 3)))
    assert len(server.requests) == 4  # first try + 3 retries


def test_api_harvest_rejects_non_json_answer():
    with LocalServer(lambda req: Reply(200, "<html>hi</html>", content_type="text/html")) as server:
        with _client([]) as client, pytest.raises(FetchError, match="not a daily-papers response"):
            list(hf_daily.harvest_api(client, server.url, date(2024, 6, 3), date(2024, 6, 3)))


def test_claimed_author_names_keep_their_hugging_face_handle_when_plausible():
    entry = json.loads((HF / "2026-06-30.json").read_text())[0]
    authors = entry["paper"]["authors"]
    authors[0]["user"] = {"user": "xinyu-wang_1", "fullname": "Xinyu Wang", "type": "user"}
    authors[1]["user"] = {"user": "javascript:alert(1)"}  # not a handle: left out
    authors[2]["user"] = {"user": "hidden-one"}
    authors[2]["hidden"] = True  # a hidden author's account is not shown
    authors[3]["user"] = "YueMa"  # not the object Hugging Face sends
    p = hf_daily.parse_entry(entry).paper
    assert p.author_users == {"Xinyu Wang": "xinyu-wang_1"}
    assert p.authors == ["Xinyu Wang", "Chongbo Zhao", "Fangneng Zhan", "Yue Ma"]
    for bad in ("", "a" * 97, ".dot", "-dash", "a/b", "a..b", "a b", "<b>", None, 42):
        authors[0]["user"] = {"user": bad}
        assert hf_daily.parse_entry(entry).paper.author_users == {}, bad
