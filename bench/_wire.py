"""A lean MCP-over-HTTP load client for benchmarks: one keep-alive connection, JSON-RPC tools/call.

The SDK client spends milliseconds per call of its own CPU (httpx, pydantic, JSON-schema validation of
every result); on a 2-core machine that would measure the client, not the server. This client sends the
same 2026-07-28 wire messages the SDK sends (headers and `_meta` captured from it) over a raw asyncio
stream, and checks each reply for an error.
"""

from __future__ import annotations

import asyncio
import json

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "mcs-erp-bench", "version": "0.1.0"},
        "io.modelcontextprotocol/clientCapabilities": {}}


class WireClient:
    """One HTTP/1.1 keep-alive connection speaking MCP tools/call to `host:port` + `path`."""

    def __init__(self, host: str, port: int, path: str, key: str):
        self.host, self.port, self.path, self.key = host, port, path, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.next_id = 1

    async def __aenter__(self) -> WireClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.writer is not None:
            self.writer.close()

    async def call_tool(self, name: str, arguments: dict) -> dict:
        """Call a tool and return the JSON-RPC result; raises RuntimeError on an error reply."""
        assert self.reader is not None and self.writer is not None
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                           "params": {"name": name, "arguments": arguments, "_meta": META}}).encode()
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {self.key}\r\nAccept: application/json, text/event-stream\r\n"
                f"Content-Type: application/json\r\nMcp-Protocol-Version: 2026-07-28\r\n"
                f"Mcp-Method: tools/call\r\nMcp-Name: {name}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            if key.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        if b" 200 " not in status_line:
            raise RuntimeError(f"{name}: HTTP {status_line.decode().strip()}: {payload[:200]!r}")
        reply = json.loads(payload)
        result = reply.get("result")
        if result is None or result.get("isError"):
            raise RuntimeError(f"{name} failed: {payload[:300]!r}")
        return result
