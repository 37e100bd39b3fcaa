"""The "reconcile the shop's takings" MCP prompt: listed with its arguments while the shop's tools exist, and
rendered with what the caller gave and the defaults of what they left out."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from domain.kernel.actor import SYSTEM_ACTOR
from server.mcp_server import build_mcp_server


async def test_the_takings_prompt_is_listed_and_renders(rt):
    async def resolve(ctx):
        return SYSTEM_ACTOR

    async with Client(build_mcp_server(rt, resolve)) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        assert ("shop_takings" in listed) == ("get_shop_takings" in rt.catalogue.tools)
        if "shop_takings" not in listed:
            pytest.skip("the shop's tools are not in this catalogue")
        prompt = listed["shop_takings"]
        assert [(a.name, a.required) for a in prompt.arguments] == [
            ("from_date", True), ("to_date", False), ("till_count", False), ("location", False)]
        got = await client.get_prompt("shop_takings", {"from_date": "2026-01-27", "till_count": "1,234.50 AUD"})
        text = got.messages[0].content.text
        assert "from 2026-01-27" in text and "1,234.50 AUD" in text and 'location ""' in text
        assert "get_shop_takings" in text and "get_stock_valuation" in text and "$" not in text
        with pytest.raises(MCPError, match="from_date"):
            await client.get_prompt("shop_takings", {"to_date": "2026-01-28"})
