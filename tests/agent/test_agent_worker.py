"""An agent run on a real arq worker (Redis) survives the worker being killed mid-run and finishes once.

`mcs-erp serve --http` takes the message and enqueues the run; a `mcs-erp worker` subprocess runs the loop
against the scripted model. The worker is SIGKILLed while the model is answering its second turn, after the
run's first turn had recorded a score. A restarted worker picks the orphaned run up: it does not record the
score again, asks the model once more and completes the run: one job (two attempts), one write, one answer.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.identity.service import create_api_key
from domain.kernel.settings import Settings
from tests.agent.fake_llm import FakeLLM, ToolCall, Turn, tool_turn
from tests.factories import make_school
from tests.server.e2e_helpers import e2e_database, http_server, init_database
from tests.server.test_timetable_e2e import REDIS_URL, redis_queue, spawn_worker, worker_log  # noqa: F401
from tools.runtime import Runtime

pytestmark = pytest.mark.e2e


async def rows(url: str, sql: str, **params) -> list:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await engine.dispose()


async def test_a_run_survives_a_killed_worker_and_finishes_once(tmp_path, redis_queue):  # noqa: F811
    async with e2e_database(tmp_path) as db, FakeLLM() as llm:
        db.extra_env.update(MCS_ERP_REDIS_URL=REDIS_URL, MCS_ERP_QUEUE_NAME=redis_queue,
                            MCS_ERP_JOB_HEARTBEAT_SECONDS="1", MCS_ERP_AGENT_PROVIDER="anthropic",
                            MCS_ERP_AGENT_BASE_URL=llm.anthropic_base_url, MCS_ERP_AGENT_API_KEY="sk-test",
                            MCS_ERP_AGENT_MODEL="claude-scripted")
        await init_database(db)
        rt = Runtime.create(Settings(database_url=db.url))
        try:
            school = await make_school(rt, students=2)
            async with rt.db.write() as session:
                key = (await create_api_key(session, username=school.teacher.username)).secret
        finally:
            await rt.close()
        a, st1 = school.assessment_id, school.student_ids[1]
        llm.extend([
            tool_turn(ToolCall(name="record_grade", input={"assessment_id": a, "student_id": st1, "score": 66})),
            Turn(text="(never delivered: the worker dies while this turn is streamed)", delay_s=5),
            "Recorded 66 for Stu1.",
        ])
        first = spawn_worker(db, burst=False, log_name="worker-1.log")
        second: subprocess.Popen | None = None
        try:
            async with http_server(db) as server, httpx.AsyncClient(
                    base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
                thread = (await http.post("/v1/threads", json={})).json()
                posted = await http.post(f"/v1/threads/{thread['id']}/messages",
                                         json={"content": "Record 66 for Stu1 on the unit test."})
                assert posted.status_code == 202, posted.text
                run = posted.json()
                deadline = time.monotonic() + 60
                while len(llm.requests) < 2:  # the worker recorded the score and waits for the second turn
                    assert time.monotonic() < deadline, worker_log(db, "worker-1.log")
                    assert first.poll() is None, worker_log(db, "worker-1.log")
                    await asyncio.sleep(0.05)
                first.send_signal(signal.SIGKILL)
                await asyncio.to_thread(first.wait, 30)

                seen = (await http.get(f"/v1/runs/{run['id']}")).json()
                assert seen["status"] == "running" and seen["steps"] == 1
                assert await rows(db.url, "SELECT score_x100 FROM grades WHERE assessment_id = :a AND "
                                          "student_id = :s", a=a, s=st1) == [(6600,)]

                second = spawn_worker(db, burst=True, log_name="worker-2.log")
                code = await asyncio.to_thread(second.wait, 120)
                assert code == 0, worker_log(db, "worker-2.log")
                done = (await http.get(f"/v1/runs/{run['id']}")).json()
                assert done["status"] == "completed", (done, worker_log(db, "worker-2.log"))
                assert done["text"] == "Recorded 66 for Stu1."
        finally:
            for w in (first, second):
                if w is not None and w.poll() is None:
                    w.kill()
                    w.wait()
        # Once: one job with two attempts, one recorded tool call, one write in the audit log, one answer.
        assert await rows(db.url, "SELECT status, attempts FROM jobs WHERE id = :j", j=run["job_id"]) == [
            ("succeeded", 2)]
        assert await rows(db.url, "SELECT name FROM agent_tool_calls WHERE run_id = :r", r=run["id"]) == [
            ("record_grade",)]
        writes = await rows(db.url, "SELECT arguments FROM audit_log WHERE tool = 'record_grade' AND event = 'write'")
        assert [json.loads(w)["student_id"] for (w,) in writes].count(st1) == 1
        finals = await rows(db.url, "SELECT text FROM agent_messages WHERE run_id = :r AND role = 'assistant' "
                                    "AND tool_calls IS NULL", r=run["id"])
        assert finals == [("Recorded 66 for Stu1.",)]
        assert len(llm.requests) == 3
        resent = llm.requests[2].body["messages"]
        assert resent[-1]["content"][0]["type"] == "tool_result", "the recorded result was reused, not re-run"
