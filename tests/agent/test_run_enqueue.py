"""A run's job is handed to the job runner only once the unit of work that created it has committed (an
after-commit hook), and never when that unit of work fails: the agent API and the OpenAI-compatible endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from domain.agent import service as agent
from domain.agent.models import RunStatus
from domain.jobs import service as jobs
from domain.kernel.errors import Conflict
from server.agent_api import PostMessageIn, start_run
from server.openai_compat import ChatCompletionIn, begin
from tests.agent.test_agent_runs import grade_school


class Recorder:
    """A job runner that runs nothing: it records each job handed to it with what another unit of work saw of
    the job and its run at that moment."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.seen: list[tuple[int, str | None, str | None]] = []

    async def enqueue(self, job_id: int) -> None:
        async with self.runtime.db.read() as session:
            job = await jobs.get_job(session, job_id)
            run_status = None
            if job is not None:
                run = await agent.get_run(session, json.loads(job.params)["run_id"])
                run_status = run.status
        self.seen.append((job_id, None if job is None else job.status, run_status))


@pytest.fixture
def recorder(rt) -> Iterator[Recorder]:
    saved = rt.jobs
    rt.jobs = Recorder(rt)
    try:
        yield rt.jobs
    finally:
        rt.jobs = saved


async def test_posting_a_message_enqueues_the_committed_run_and_a_refused_post_enqueues_nothing(rt, recorder):
    school = await grade_school(rt)
    async with rt.db.write() as session:
        thread = await agent.create_thread(session, school.teacher, title="enqueue")
    run = await start_run(rt, school.teacher, thread.id or 0, PostMessageIn(content="How is Stu1 doing?"))
    assert run.job_id is not None
    assert recorder.seen == [(run.job_id, "queued", RunStatus.QUEUED.value)], "enqueued before the commit"
    with pytest.raises(Conflict, match=f"run {run.id} of this thread is still queued"):
        await start_run(rt, school.teacher, thread.id or 0, PostMessageIn(content="And Stu2?"))
    assert len(recorder.seen) == 1, "a post refused inside its unit of work handed a job over"


async def test_a_chat_completion_enqueues_its_committed_run(rt, recorder):
    school = await grade_school(rt)
    body = ChatCompletionIn.model_validate({"model": "mcs-erp", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "List my classes"}]})
    run, after_event, after_message = await begin(rt, school.teacher, body)
    assert (after_event, after_message) == (0, 0)
    assert recorder.seen == [(run.job_id, "queued", RunStatus.QUEUED.value)], "enqueued before the commit"
