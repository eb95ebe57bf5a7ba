"""What was built on a paper: Hugging Face's linked models, datasets and Spaces, from saved answers and
from a live site (a local server), into the database, the paper page and the API in Hugging Face's
shape — read back by ``huggingface_hub``'s own client."""

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dailypapers.cli import app
from dailypapers.ingest import hf_daily, hf_papers
from dailypapers.ingest.http import PoliteClient
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app
from tests.conftest import TEST_DATA
from tests.support.local_server import LocalServer, Reply

PAPER = TEST_DATA / "hf_papers" / "2405.21060.json"
REPOS = TEST_DATA / "hf_papers" / "2405.21060-repos.json"


def test_parse_keeps_well_formed_items_and_drops_hostile_ones():
    (record,) = list(hf_papers.iter_file(PAPER))
    assert record.arxiv_id == "2405.21060" and record.title.startswith("Transformers are SSMs")
    linked = record.linked
    assert [(r.kind, r.repo_id) for r in linked.repos] == [
        ("model", "state-spaces/mamba2-2.7b"),
        ("model", "state-spaces/mamba2-1.3b"),
        ("model", "state-spaces/mamba2-130m"),
        ("space", "osanseviero/mamba2-chat"),
    ]  # the path, javascript:, markup, private and duplicate items are gone
    assert linked.totals == {"model": 5, "dataset": 0, "space": 1}
    model, space = linked.repos[0], linked.repos[3]
    assert (model.likes, model.downloads, model.pipeline_tag, model.num_parameters) == (
        160,
        8400,
        "text-generation",
        2702599680,
    )
    assert model.last_modified.isoformat() == "2024-05-30T21:05:46+00:00"
    assert space.title == "Mamba2 Chat <b>x</b>" and space.emoji == "🐍"  # NUL and override removed
    assert space.downloads is None


@pytest.mark.parametrize(
    "value",
    ["a/b", "state-spaces/mamba2-2.7b", "A_1/x.y-z"],
)
def test_repo_ids_accepted(value):
    assert hf_papers.repo_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "noslash",
        "a/b/c",
        "../x",
        "a/..",
        "-a/b",
        "a/b-",
        "a--b/c",
        "a/b..c",
        "a/" + "b" * 97,
        "a/b c",
        5,
        None,
    ],
)
def test_repo_ids_refused(value):
    assert hf_papers.repo_id(value) is None


def test_counts_and_texts_are_checked():
    repo = hf_papers.parse_repo(
        "model",
        {"id": "a/b", "likes": -4, "downloads": True, "numParameters": "9" * 40, "pipeline_tag": "<x>"},
    )
    assert (repo.likes, repo.downloads, repo.num_parameters, repo.pipeline_tag) == (0, None, 10**12, None)
    assert hf_papers.parse_repo("model", {"id": "a/b", "lastModified": "yesterday"}).last_modified is None
    assert hf_papers.parse_repo("space", ["a/b"]) is None
    assert hf_papers.linked_of_paper({"id": "x"}) is None  # says nothing: nothing stored changes
    many = {"linkedModels": [{"id": f"o/m{i}", "likes": i} for i in range(150)], "numTotalModels": 3}
    linked = hf_papers.linked_of_paper(many)
    assert len(linked.repos) == hf_papers.MAX_PER_KIND and linked.repos[0].repo_id == "o/m149"
    assert linked.totals["model"] == 100


def test_a_broken_answer_is_rejected_and_the_rest_imported(tmp_path):
    good = json.loads(PAPER.read_text())
    path = tmp_path / "papers.jsonl"
    path.write_text(
        "\n".join([json.dumps({"id": "2405.99999"}), "{not json", json.dumps(good), json.dumps([1])]) + "\n"
    )
    records = list(hf_papers.iter_file(path))
    kinds = [type(r).__name__ for r in records]
    assert kinds == ["Rejected", "Rejected", "PaperRecord", "Rejected"]
    assert "2405.99999 has no title" in records[0].reason and records[1].position.endswith(":2")


def _app(settings, db=None):
    # the data version is read on every request: the tests import between two of them
    fresh = settings.model_copy(update={"cache_check_interval": 0.0})
    return create_app(fresh, database=db) if db is not None else create_app(fresh)


def _built(client, arxiv_id="2405.21060"):
    body = client.get(f"/api/papers/{arxiv_id}").json()
    return {k: body[k] for k in body if k.startswith(("linked", "numTotal"))}


def test_import_replaces_what_a_source_says_and_keeps_it_when_silent(db, settings):
    importer = Importer(db)
    importer.run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    with TestClient(_app(settings, db)) as client:
        assert _built(client) == {
            "linkedModels": [],
            "numTotalModels": 0,
            "linkedDatasets": [],
            "numTotalDatasets": 0,
            "linkedSpaces": [],
            "numTotalSpaces": 0,
        }
        first = importer.run(hf_papers.iter_file(PAPER))
        assert (first.updated, first.unchanged) == (1, 0)
        built = _built(client)
        assert [m["id"] for m in built["linkedModels"]] == [
            "state-spaces/mamba2-2.7b",
            "state-spaces/mamba2-1.3b",
            "state-spaces/mamba2-130m",
        ]
        assert built["numTotalModels"] == 5 and built["numTotalSpaces"] == 1
        assert built["linkedModels"][0] == {
            "author": "state-spaces",
            "id": "state-spaces/mamba2-2.7b",
            "lastModified": "2024-05-30T21:05:46.000Z",
            "likes": 160,
            "private": False,
            "repoType": "model",
            "downloads": 8400,
            "gated": False,
            "pipeline_tag": "text-generation",
            "numParameters": 2702599680,
        }
        assert built["linkedSpaces"][0]["emoji"] == "🐍"
        # the same answer again changes nothing
        again = importer.run(hf_papers.iter_file(PAPER))
        assert (again.updated, again.unchanged) == (0, 1)
        # a daily list that says nothing of linked repositories leaves them
        importer.run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
        assert len(_built(client)["linkedModels"]) == 3
        # a newer answer replaces them: one model gone, another liked more
        newer = json.loads(PAPER.read_text())
        newer["linkedModels"] = [dict(newer["linkedModels"][1], likes=99)]
        newer["numTotalModels"] = 1
        changed = importer.run(hf_papers.parse_papers([newer], "newer", "hf"))
        assert changed.updated == 1
        built = _built(client)
        assert [(m["id"], m["likes"]) for m in built["linkedModels"]] == [("state-spaces/mamba2-1.3b", 99)]
        assert built["numTotalModels"] == 1
        repos = client.get("/api/arxiv/2405.21060v2/repos").json()
        assert repos == {
            "models": built["linkedModels"],
            "datasets": [],
            "spaces": built["linkedSpaces"],
        }
        assert client.get("/api/arxiv/2401.00000/repos").status_code == 404
        assert client.get("/api/arxiv/not-an-id/repos").json() == {"error": "no paper 'not-an-id'"}


def test_paper_page_shows_what_was_built_on_it_escaped(db, settings):
    importer = Importer(db)
    importer.run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    with TestClient(_app(settings, db)) as client:
        assert "Built on this paper" not in client.get("/papers/2405.21060").text
        importer.run(hf_papers.iter_file(PAPER))
        page = client.get("/papers/2405.21060").text
    assert "Built on this paper" in page
    assert '<a href="https://huggingface.co/state-spaces/mamba2-2.7b" rel="noopener noreferrer">' in page
    assert 'href="https://huggingface.co/spaces/osanseviero/mamba2-chat"' in page
    assert "Mamba2 Chat &lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "♥ 160" in page and "↓ 8.4k" in page
    assert 'href="https://huggingface.co/models?other=arxiv:2405.21060"' in page  # 5 models, 3 listed
    assert "All 5 models on Hugging Face" in page
    assert "javascript:" not in page and "etc/passwd" not in page


def test_huggingface_hub_reads_the_linked_repositories(db, settings, monkeypatch):
    from huggingface_hub import HfApi, constants

    from tests.support.browser import live_server

    # loading the local model earlier in this process put the Hub library offline; this server is local
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    Importer(db).run(hf_papers.iter_file(PAPER))
    with live_server(settings, db) as url:
        info = HfApi(endpoint=url, token=False).paper_info("2405.21060")
    assert [m.id for m in info.linked_models] == [
        "state-spaces/mamba2-2.7b",
        "state-spaces/mamba2-1.3b",
        "state-spaces/mamba2-130m",
    ]
    assert info.linked_models[0].likes == 160 and info.linked_models[0].downloads == 8400
    assert info.linked_models[0].pipeline_tag == "text-generation"
    assert info.num_total_models == 5 and info.linked_datasets == [] and info.num_total_datasets == 0
    assert [s.id for s in info.linked_spaces] == ["osanseviero/mamba2-chat"]


def _hub(requests_seen):
    paper = PAPER.read_bytes()
    repos = REPOS.read_bytes()
    daily = (TEST_DATA / "hf_daily" / "2024-06-03.json").read_bytes()

    def respond(req):
        requests_seen.append(req.path)
        if req.path == "/api/papers/2405.21060":
            return Reply(200, paper, content_type="application/json")
        if req.path == "/api/arxiv/2405.21060/repos":
            return Reply(200, repos, content_type="application/json")
        if req.path == "/api/daily_papers" and req.arg("date") == "2024-06-03" and req.arg("p") == "0":
            return Reply(200, daily, content_type="application/json")
        if req.path == "/api/daily_papers":
            return Reply(200, b"[]", content_type="application/json")
        return Reply(404, b'{"error":"Paper not found"}', content_type="application/json")

    return respond


def test_fetch_asks_for_the_whole_lists_when_a_paper_lists_fewer():
    seen: list[str] = []
    with LocalServer(_hub(seen)) as server, PoliteClient(min_interval=0, retries=0) as client:
        linked = hf_papers.fetch_linked(client, server.url, "2405.21060")
        missing = hf_papers.fetch_linked(client, server.url, "2405.21048")
    assert seen == ["/api/papers/2405.21060", "/api/arxiv/2405.21060/repos", "/api/papers/2405.21048"]
    assert [r.repo_id for r in linked.repos if r.kind == "model"] == [
        "state-spaces/mamba2-2.7b",
        "state-spaces/mamba2-1.3b",
        "state-spaces/mamba2-130m",
        "state-spaces/mamba2-780m",
        "state-spaces/mamba2-370m",
    ]
    assert linked.totals == {"model": 5, "dataset": 0, "space": 1}
    assert missing is None


@pytest.fixture
def cli(monkeypatch, database_env):
    monkeypatch.setenv("DAILYPAPERS_HTTP_MIN_INTERVAL", "0")
    monkeypatch.setenv("DAILYPAPERS_HF_MIN_INTERVAL", "0")
    monkeypatch.setenv("DAILYPAPERS_HTTP_RETRIES", "1")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def _summary(result):
    return json.loads(result.stdout[result.stdout.index("{") :])


def test_cli_syncs_linked_repositories_from_a_site(cli, settings):
    seen: list[str] = []
    with LocalServer(_hub(seen)) as server:
        result = cli(
            "ingest",
            "hf-daily",
            "--api",
            server.url,
            "--since",
            "2024-06-03",
            "--until",
            "2024-06-03",
            "--linked",
            "--no-index",
            "--json",
        )
        assert result.exit_code == 0, result.output
        assert _summary(result)["new"] == 3
        # every paper of the day asked for; the repos answer only where the paper listed fewer
        assert sorted(p for p in seen if p.startswith("/api/papers/")) == [
            "/api/papers/2405.21048",
            "/api/papers/2405.21060",
            "/api/papers/2405.21075",
        ]
        assert seen.count("/api/arxiv/2405.21060/repos") == 1
        refreshed = cli("ingest", "hf-papers", "--api", server.url, "--listed-since", "2024-06-01", "--json")
        assert refreshed.exit_code == 0, refreshed.output
        # the paper's own answer adds its code link; the others are unknown there (404): skipped
        assert _summary(refreshed)["updated"] == 1 and _summary(refreshed)["read"] == 1
    with TestClient(_app(settings)) as client:
        assert len(_built(client)["linkedModels"]) == 5


def test_cli_imports_saved_answers_and_names_a_broken_one(cli, tmp_path, settings):
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "a.json").write_bytes(PAPER.read_bytes())
    (folder / "b.json").write_text('{"id": "2405.21060", "title": ""}')
    result = cli("ingest", "hf-papers", str(folder), "--no-index", "--json")
    assert result.exit_code == 0, result.output
    assert _summary(result)["new"] == 1 and _summary(result)["rejected"] == 1
    assert "b.json paper 0" in result.stderr and "has no title" in result.stderr
    assert cli("ingest", "hf-papers").exit_code == 2
    bad = cli("ingest", "hf-papers", "--api", "http://127.0.0.1:9", "--paper", "nonsense")
    assert bad.exit_code == 2 and "'nonsense' is not an arXiv id" in bad.output
    with TestClient(_app(settings)) as client:
        assert _built(client)["numTotalModels"] == 5
