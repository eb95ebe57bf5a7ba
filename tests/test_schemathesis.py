"""Property-based fuzzing of every GET operation in the app's own ``/openapi.json`` with schemathesis,
in-process over ASGI, against a real database: whatever the parameters, no response is a 5xx.

Each operation is one test, fed by ``operation.as_strategy()`` under Hypothesis's ``@given`` (the
schemathesis "use with Hypothesis directly" API). Not ``schemathesis.pytest.from_fixture``: its lazy
loader sets ``Function._nodeid``, which pytest 9 no longer has. The runs are derandomized, so CI sees
the same cases every time; ``DAILYPAPERS_FUZZ_EXAMPLES=500 DAILYPAPERS_FUZZ_RANDOM=1`` digs deeper.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

from dailypapers.config import Settings, resolve_secret_key
from dailypapers.ingest import hf_daily
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app
from tests.conftest import TEST_DATA

MAX_EXAMPLES = int(os.environ.get("DAILYPAPERS_FUZZ_EXAMPLES", "30"))  # per operation and mode
DERANDOMIZE = os.environ.get("DAILYPAPERS_FUZZ_RANDOM", "") != "1"


def _get_operations() -> list[tuple[str, list[GenerationMode]]]:
    """Every GET operation the app documents (listing them touches no database), with the generation
    modes that apply: negative data only where a query parameter or a constrained path parameter can be
    wrong; a free-form string path parameter has no invalid value (schemathesis reports negative mode
    there as unsatisfiable)."""
    spec = create_app(
        Settings(database_url="sqlite://", load_demo=False, secret_key="k" * 40, _env_file=None)
    ).openapi()
    operations = []
    for path, item in sorted(spec["paths"].items()):
        if "get" not in item:
            continue
        modes = [GenerationMode.POSITIVE]
        if any(
            p.get("in") == "query" or "pattern" in p.get("schema", {})
            for p in item["get"].get("parameters", [])
        ):
            modes.append(GenerationMode.NEGATIVE)
        operations.append((path, modes))
    return operations


# Known server errors in code this test does not own: {(path, mode): reason}. Each one is xfail(strict)
# so that the fix shows up as an XPASS failure and the entry gets removed.
KNOWN_SERVER_ERRORS: dict[tuple[str, GenerationMode], str] = {}


def _params() -> Iterator[object]:
    for path, modes in _get_operations():
        for mode in modes:
            reason = KNOWN_SERVER_ERRORS.get((path, mode))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(path, mode, marks=marks, id=f"GET {path} {mode.value}")


@pytest.fixture(scope="module")
def api_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenApiSchema]:
    """The app's schema, bound to the app over ASGI, on a migrated database (of the run's backend)
    holding the hf_daily sample."""
    server = request.getfixturevalue("postgres") if request.config.getoption("--db") == "postgresql" else None
    url = server.new_database() if server else None
    extra = {"database_url": url} if url else {}
    # the hashing backend: semantic and hybrid search without loading a model
    app_settings = resolve_secret_key(
        Settings(
            data_dir=tmp_path_factory.mktemp("fuzz") / "data",
            load_demo=False,
            embedding_backend="hashing",
            _env_file=None,
            **extra,
        )
    )
    database = Database.from_settings(app_settings)
    database.migrate()
    Importer(database).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(app_settings, database=database))
    database.dispose()
    if server and url:
        server.drop_database(url)


@pytest.mark.parametrize(("path", "mode"), list(_params()))
def test_get_never_answers_a_server_error(api_schema: OpenApiSchema, path: str, mode: GenerationMode) -> None:
    operation = api_schema[path]["GET"]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])

    fuzz()


# --- boundary requests ---------------------------------------------------------------------------------
# Values a string strategy practically never produces: the ends of the calendar and hand-made cursors.


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _boundary(
    path: str,
    *,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    xfail: str | None = None,
) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    label = " ".join(f"{k}={v}" for k, v in {**(path_parameters or {}), **(query or {})}.items())
    return pytest.param(path, path_parameters or {}, query or {}, marks=marks, id=f"GET {path} {label}")


BOUNDARY_REQUESTS = [
    _boundary("/feeds/week/{week}.atom", path_parameters={"week": "9999-W52"}),
    _boundary("/feeds/week/{week}.atom", path_parameters={"week": "0001-W01"}),
    _boundary("/feeds/date/{day}.atom", path_parameters={"day": "9999-12-31"}),
    _boundary("/feeds/date/{day}.atom", path_parameters={"day": "0001-01-01"}),
    _boundary("/feeds/month/{month}.atom", path_parameters={"month": "9999-12"}),
    _boundary("/feeds/month/{month}.atom", path_parameters={"month": "0001-01"}),
    _boundary("/api/daily_papers", query={"date": "9999-12-31", "sort": "trending"}),
    _boundary("/api/daily_papers", query={"month": "0001-01"}),
    _boundary("/api/daily_papers", query={"week": "9999-W52"}),
    _boundary("/api/papers", query={"cursor": _cursor("2024-01-01T00:00:00|5")}),
    _boundary("/api/papers", query={"cursor": _cursor("|99999999999999999999999")}),
    _boundary("/api/papers", query={"cursor": _cursor("2024-01-01T00:00:00+00:00|5")}),
]


@pytest.mark.parametrize(("path", "path_parameters", "query"), BOUNDARY_REQUESTS)
def test_boundary_requests_never_answer_a_server_error(
    api_schema: OpenApiSchema, path: str, path_parameters: dict[str, str], query: dict[str, str]
) -> None:
    case = api_schema[path]["GET"].Case(path_parameters=path_parameters, query=query)
    case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])
