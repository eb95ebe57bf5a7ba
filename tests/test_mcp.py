"""The MCP server, through the official SDK's own client: over streamable HTTP against the live site
(``/mcp``) and over stdio against ``dailypapers mcp``, on the backend ``--db`` names."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.support.browser import live_server
from tests.support.community import LATEST_DAY, PAPER, community_settings, load_papers

TOOLS = {"search_papers", "daily_papers", "paper", "related_papers", "read_paper"}


def _json(result) -> object:
    assert not result.is_error, result
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        return structured.get("result", structured)
    return json.loads(result.content[0].text)


async def _exercise(client: Client) -> None:
    listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS
    day = _json(await client.call_tool("daily_papers", {"date": LATEST_DAY}))
    assert PAPER in [item["paper"]["id"] for item in day]
    found = _json(
        await client.call_tool("search_papers", {"query": "dynamics", "mode": "keyword", "limit": 5})
    )
    assert found and all("dynamics" in (i["title"] + i["summary"]).lower() for i in found)
    one = _json(await client.call_tool("paper", {"id": PAPER}))
    assert one["id"] == PAPER and one["url"].endswith(f"/papers/{PAPER}")
    related = _json(await client.call_tool("related_papers", {"id": PAPER, "limit": 3}))
    assert 0 < len(related) <= 3 and PAPER not in [i["paper"]["id"] for i in related]
    markdown = await client.call_tool("read_paper", {"id": PAPER})
    assert not markdown.is_error and markdown.content[0].text.startswith(f"# {one['title']}")
    missing = await client.call_tool("paper", {"id": "2606.99999"})
    assert missing.is_error and "no paper 2606.99999" in missing.content[0].text
    bad = await client.call_tool("search_papers", {"query": "x", "limit": 500})
    assert bad.is_error and "limit must be between 1 and 50" in bad.content[0].text


def test_the_tools_over_streamable_http_at_mcp(settings, db):
    load_papers(db)
    with live_server(community_settings(settings, cache_check_interval=0.0), db) as site:

        async def run() -> None:
            async with Client(f"{site}/mcp") as client:
                await _exercise(client)

        anyio.run(run)


def test_the_transport_is_rate_limited_like_the_api(settings, db):
    load_papers(db)
    limited = community_settings(settings, rate_limits="mcp=3/minute")
    with live_server(limited, db) as site:
        import httpx

        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        codes = [httpx.post(f"{site}/mcp", json=body, headers=headers).status_code for _ in range(4)]
        assert codes[-1] == 429 and 429 not in codes[:3]


def test_the_tools_over_stdio_from_the_cli(settings, db):
    load_papers(db)
    env = {
        **os.environ,
        "DAILYPAPERS_DATA_DIR": str(settings.data_dir),
        "DAILYPAPERS_LOAD_DEMO": "false",
        "DAILYPAPERS_EMBEDDING_BACKEND": "none",
        "DAILYPAPERS_SECRET_KEY": settings.secret_key.get_secret_value()
        if hasattr(settings.secret_key, "get_secret_value")
        else str(settings.secret_key),
    }
    if settings.database_url:
        env["DAILYPAPERS_DATABASE_URL"] = settings.database_url
    params = StdioServerParameters(command=sys.executable, args=["-m", "dailypapers.cli", "mcp"], env=env)

    async def run() -> None:
        with anyio.fail_after(120):
            async with Client(params) as client:
                await _exercise(client)

    anyio.run(run)


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_tool_says_what_it_does(settings, db, tool):
    from dailypapers.application import Application
    from dailypapers.web import mcp

    application = Application(community_settings(settings), database=db)
    server = mcp.build_server(application)

    async def describe() -> str:
        tools = await server.list_tools()
        return next(t.description for t in tools if t.name == tool)

    assert len(anyio.run(describe) or "") > 40
