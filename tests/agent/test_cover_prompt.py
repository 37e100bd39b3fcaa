"""The cover_absence MCP prompt: listed with the timetable module, its arguments, and a rendering that names the
gated tool and leaves the confirmation to the user."""

from __future__ import annotations

from mcp import Client

from domain.kernel.actor import SYSTEM_ACTOR
from server.mcp_server import build_mcp_server


async def test_the_cover_prompt_renders_its_arguments(rt):
    async def resolve(ctx):
        return SYSTEM_ACTOR

    async with Client(build_mcp_server(rt, resolve)) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        cover = listed["cover_absence"]
        assert [(a.name, a.required) for a in cover.arguments] == [("teacher", True), ("start_date", True),
                                                                   ("end_date", False)]
        got = await client.get_prompt("cover_absence", {"teacher": "E0042", "start_date": "2026-11-23",
                                                        "end_date": "2026-11-25"})
        text = got.messages[0].content.text
        assert "E0042" in text and "2026-11-23" in text and '"2026-11-25"' in text and "$" not in text
        assert "publish_cover" in text and "Do not confirm the action yourself" in text
        one_day = (await client.get_prompt("cover_absence", {"teacher": "E0042", "start_date": "2026-11-23"}))
        assert 'last day away: ""' in one_day.messages[0].content.text
