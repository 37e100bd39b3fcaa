"""Fixtures of the agent tests: the HTTP app served by a real uvicorn on this event loop (jobs run in-process on
the session runtime), a scripted model (FakeLLM) the runtime's settings point at, and API keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from domain.identity.service import create_api_key
from server.app import create_app
from tests.agent.fake_llm import FakeLLM


@asynccontextmanager
async def serve_app(rt) -> AsyncIterator[str]:
    """Serve the app of runtime `rt` on a real socket (uvicorn on the test loop, not closing `rt`); yield its URL."""
    app = create_app(rt, own_runtime=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def base_url(rt) -> AsyncIterator[str]:
    """The app on a real socket: uvicorn on the test loop, sharing the session runtime (not closing it)."""
    async with serve_app(rt) as url:
        yield url


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as fake:
        yield fake


def point_at(rt, llm: FakeLLM, provider: str, **limits) -> None:
    """Make the runtime's agent use `provider` on the FakeLLM (settings are read when a run starts)."""
    url = llm.anthropic_base_url if provider == "anthropic" else llm.openai_base_url
    rt.settings = rt.settings.model_copy(update={"agent_provider": provider, "agent_base_url": url,
                                                 "agent_api_key": SecretStr("sk-test"),
                                                 "agent_model": f"{provider}-scripted", **limits})


@pytest.fixture
def agent_settings(rt):
    """Restore the runtime's settings after a test changed them with point_at."""
    saved = rt.settings
    yield
    rt.settings = saved


async def key_for(rt, actor) -> str:
    """An API key of `actor`'s user."""
    async with rt.db.write() as session:
        return (await create_api_key(session, username=actor.username, name="agent-test")).secret


@dataclass
class Api:
    """A small client of the agent API, as a chat front end would use it."""

    client: httpx.AsyncClient

    async def post(self, path: str, body: dict | None = None, *, status: int = 200) -> dict:
        response = await self.client.post(path, json=body or {})
        assert response.status_code == status, response.text
        return response.json()

    async def get(self, path: str, *, status: int = 200) -> dict:
        response = await self.client.get(path)
        assert response.status_code == status, response.text
        return response.json()

    async def ask(self, text: str, **options) -> dict:
        thread = await self.post("/v1/threads", {"title": "test"}, status=201)
        return await self.post(f"/v1/threads/{thread['id']}/messages", {"content": text, **options}, status=202)

    async def events(self, run_id: int, after: int = 0) -> list[tuple[int, str, dict]]:
        """Stream a run's events (SSE) until the server ends the stream; return (id, type, data)."""
        out: list[tuple[int, str, dict]] = []
        event: dict = {}
        async with self.client.stream("GET", f"/v1/runs/{run_id}/events",
                                      headers={"Last-Event-ID": str(after)} if after else {}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("event: "):
                    event["type"] = line[7:]
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif not line and event:
                    out.append((event["id"], event["type"], event["data"]))
                    event = {}
        return out

    async def until_stopped(self, run_id: int, timeout: float = 20.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            run = await self.get(f"/v1/runs/{run_id}")
            if run["status"] not in ("queued", "running"):
                return run
            assert asyncio.get_running_loop().time() < deadline, f"run {run_id} still {run['status']}"
            await asyncio.sleep(0.02)


@pytest.fixture
async def api_for(base_url):
    clients: list[httpx.AsyncClient] = []

    async def make(key: str | None) -> Api:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)
        clients.append(client)
        return Api(client)

    yield make
    for client in clients:
        await client.aclose()
