"""The lean read path of the MCP server (issue 19): what the server skips per call, and that skipping it changes
nothing a caller sees."""

from __future__ import annotations

import pytest

import server.mcp_server as mcp_server
from server.mcp_server import build_mcp_server, tracing_installed


async def _no_actor(ctx):  # never called: these tests only build the server
    raise AssertionError("no request is served here")


def _middleware_names(server) -> list[str]:
    return [type(m).__name__ for m in server._lowlevel_server.middleware]


@pytest.mark.parametrize("installed", [False, True])
def test_the_sdks_span_per_message_is_kept_only_when_a_tracer_could_record_it(rt, monkeypatch, installed):
    monkeypatch.setattr(mcp_server, "tracing_installed", lambda: installed)
    names = _middleware_names(build_mcp_server(rt, _no_actor))
    assert ("OpenTelemetryMiddleware" in names) is installed, names


def test_tracing_installed_follows_the_opentelemetry_sdk():
    import importlib.util

    assert tracing_installed() is (importlib.util.find_spec("opentelemetry.sdk") is not None)
