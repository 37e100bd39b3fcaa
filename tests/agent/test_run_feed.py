"""The run feed: a commit that appends a run's events wakes that run's watchers; a rollback wakes nobody."""

from __future__ import annotations

import pytest

from domain.agent import service as agent
from tests.agent.test_agent_runs import grade_school

WAIT_S = 2.0


class Boom(Exception):
    pass


async def new_run(rt) -> int:
    school = await grade_school(rt)
    async with rt.db.write() as session:
        thread = await agent.create_thread(session, school.teacher, title="feed")
        run = await agent.start_run(session, school.teacher, thread, text="hi", provider="anthropic", model="m",
                                    limits=agent.Limits(max_steps=1, max_tokens=1000, max_seconds=1))
    return run.id or 0


async def test_a_commit_wakes_the_runs_watchers_and_a_rollback_does_not(rt):
    run_id, other_id = await new_run(rt), await new_run(rt)
    async with rt.runs.watch(run_id) as watch, rt.runs.watch(other_id) as other:
        watch.clear()
        other.clear()
        with pytest.raises(Boom):
            async with rt.db.write() as session:
                await agent.add_event(session, run_id, "text.delta", {"text": "never committed"})
                raise Boom
        assert not await watch.wait(0.05), "a rolled-back change woke the watcher"
        async with rt.db.write() as session:
            await agent.add_event(session, run_id, "text.delta", {"text": "hello"})
        assert await watch.wait(WAIT_S), "the commit did not wake the run's watcher"
        assert not await other.wait(0.05), "another run's watcher was woken"
        assert rt.runs.watching() == 2
    assert rt.runs.watching() == 0 and rt.runs.watched_runs() == []


async def test_a_change_between_clear_and_wait_is_not_lost(rt):
    run_id = await new_run(rt)
    async with rt.runs.watch(run_id) as watch:
        watch.clear()  # armed, then the follower reads the database, and meanwhile a change commits
        async with rt.db.write() as session:
            await agent.add_event(session, run_id, "text.delta", {"text": "in between"})
        assert await watch.wait(0.0), "the wake-up came before the wait and was lost"
