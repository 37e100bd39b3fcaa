"""Jobs through the tools, on the in-process runner: the grade export, idempotency, cancellation, permissions."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from sqlmodel import select

from domain.academics import service as academics
from domain.jobs import service as jobs
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.audit import AuditEntry
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.conftest import wait_for
from tests.factories import make_school, unique
from tools.invoke import invoke
from workers.handlers import register, unregister


async def graded_school(rt):
    school = await make_school(rt, students=3)
    scores = {(school.assessment_id, 0): 80, (school.assessment2_id, 0): 40, (school.assessment_id, 1): 55}
    for (assessment_id, index), score in scores.items():
        await invoke(rt, "record_grade", {"assessment_id": assessment_id, "student_id": school.student_ids[index],
                                          "score": score}, school.teacher)
    return school


async def expected_rows(rt, school) -> list[list[str]]:
    rows = []
    async with rt.db.read() as s:
        for class_id in sorted([school.class_id, school.other_class_id]):
            comp = await academics.compute_term_grades(s, SYSTEM_ACTOR, class_id=class_id, term_id=school.term_id)
            for line in comp.lines:
                pct = "" if line.percentage_x100 is None else f"{line.percentage_x100 / 100:.2f}"
                rows.append([comp.cls.code, line.student.code, line.student.full_name, pct, line.letter or ""])
    return sorted(rows)


async def test_export_term_grades_produces_the_csv(rt):
    school = await graded_school(rt)
    job = await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id},
                       school.registrar)
    assert job.kind == "export_term_grades" and job.status in ("queued", "running", "succeeded")
    assert job.requested_by == school.registrar.id
    done = await wait_for(rt, school.registrar, job.job_id)
    assert done.status == "succeeded", done.error
    assert done.progress == 1.0 and done.attempts == 1 and done.finished_at is not None
    table = list(csv.reader(io.StringIO(done.result["csv"])))
    assert table[0] == ["class_code", "student_code", "student_name", "percentage", "letter"]
    body = table[1:]
    assert done.result["rows"] == len(body) == 6  # 3 students in each of the section's 2 classes
    assert sorted(body) == await expected_rows(rt, school)
    by_student = {(r[0], r[1]): r for r in body}
    async with rt.db.read() as s:
        comp = await academics.compute_term_grades(s, SYSTEM_ACTOR, class_id=school.class_id, term_id=school.term_id)
    first = next(line for line in comp.lines if line.student.id == school.student_ids[0])
    assert by_student[(comp.cls.code, first.student.code)][3] == "80.00"  # 80/100 and 40/50 weighted 40:60


async def test_export_in_batches_of_any_size_gives_the_same_csv(rt, monkeypatch):
    """The export computes its classes a batch at a time (workers.exports.EXPORT_BATCH): a batch of one class, as
    the classes of a section in one batch, give the rows compute_term_grades gives class by class."""
    from workers import exports

    school = await graded_school(rt)
    results = []
    for batch in (1, 25):
        monkeypatch.setattr(exports, "EXPORT_BATCH", batch)
        job = await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id},
                           school.registrar)
        done = await wait_for(rt, school.registrar, job.job_id)
        assert done.status == "succeeded" and done.progress == 1.0, done.error
        results.append(done.result)
    assert results[0] == results[1] and results[0]["rows"] == 6
    assert sorted(list(csv.reader(io.StringIO(results[0]["csv"])))[1:]) == await expected_rows(rt, school)


async def test_export_by_year_level_covers_the_sections_of_the_term_year(rt):
    school = await graded_school(rt)
    async with rt.db.read() as s:
        from domain.academics.models import Section
        level_id = (await s.get(Section, school.section_id)).year_level_id
    job = await invoke(rt, "export_term_grades", {"year_level_id": level_id, "term_id": school.term_id}, school.admin)
    assert job.params["section_ids"] == [school.section_id]
    done = await wait_for(rt, school.admin, job.job_id)
    assert done.status == "succeeded" and done.result["rows"] == 6


async def test_export_refuses_bad_requests_before_recording_a_job(rt):
    school = await make_school(rt, students=1)
    with pytest.raises(InvalidInput, match="give section_id or year_level_id"):
        await invoke(rt, "export_term_grades", {"term_id": school.term_id}, school.registrar)
    with pytest.raises(NotFound) as info:
        await invoke(rt, "export_term_grades", {"section_id": 2_000_000_000, "term_id": school.term_id},
                     school.registrar)
    assert info.value.field == "section_id"
    other = await make_school(rt, students=1)
    with pytest.raises(InvalidInput) as info:
        await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": other.term_id},
                     school.registrar)
    assert info.value.field == "term_id"
    page = await invoke(rt, "list_jobs", {"limit": 100}, school.registrar)
    assert page.items == []


async def test_a_repeated_idempotency_key_returns_the_same_job(rt):
    school = await make_school(rt, students=1)
    key = unique("export-")
    args = {"section_id": school.section_id, "term_id": school.term_id, "idempotency_key": key}
    first = await invoke(rt, "export_term_grades", args, school.registrar)
    second = await invoke(rt, "export_term_grades", args, school.registrar)
    assert second.job_id == first.job_id
    done = await wait_for(rt, school.registrar, first.job_id)
    again = await invoke(rt, "export_term_grades", args, school.registrar)
    assert again.job_id == first.job_id and again.status == "succeeded" and again.attempts == done.attempts == 1
    with pytest.raises(Conflict) as info:
        await invoke(rt, "export_term_grades", {**args, "term_id": school.term2_id}, school.registrar)
    assert info.value.field == "idempotency_key"
    with pytest.raises(Conflict, match="another user"):
        await invoke(rt, "export_term_grades", args, school.admin)
    page = await invoke(rt, "list_jobs", {"kind": "export_term_grades", "limit": 100}, school.registrar)
    assert [j.job_id for j in page.items] == [first.job_id]


async def _queued_job(rt, actor, kind: str) -> int:
    async with rt.db.write() as s:
        job = await jobs.create_job(s, actor, kind=kind, params={"n": 1})
        return job.id


async def test_cancel_a_queued_job_at_once(rt):
    school = await make_school(rt, students=1)
    ran = []
    kind = unique("test_never_").lower()

    @register(kind)
    async def handler(ctx, job_id, params):
        ran.append(job_id)
        return {}

    try:
        job_id = await _queued_job(rt, school.registrar, kind)  # recorded, not handed to the runner yet
        out = await invoke(rt, "cancel_job", {"job_id": job_id}, school.registrar)
        assert out.status == "cancelled" and out.cancel_requested and out.finished_at is not None
        await rt.jobs.enqueue(job_id)  # a late delivery of the cancelled job runs nothing
        assert (await wait_for(rt, school.registrar, job_id)).status == "cancelled"
        while rt.jobs.active():
            await asyncio.sleep(0.01)
        assert ran == []
        assert (await invoke(rt, "get_job", {"job_id": job_id}, school.registrar)).attempts == 0
        with pytest.raises(Conflict, match="already ended"):
            await invoke(rt, "cancel_job", {"job_id": job_id}, school.registrar)
    finally:
        unregister(kind)


async def test_cancel_a_running_job_stops_it_at_its_next_progress_report(rt):
    school = await make_school(rt, students=1)
    started, release = asyncio.Event(), asyncio.Event()
    after_release = []
    kind = unique("test_wait_").lower()

    @register(kind)
    async def handler(ctx, job_id, params):
        await ctx.progress(0.25, "waiting for the test")
        started.set()
        await release.wait()
        await ctx.progress(0.5, "past the wait")  # raises JobCancelled
        after_release.append(job_id)
        return {"done": True}

    try:
        job_id = await _queued_job(rt, school.registrar, kind)
        await rt.jobs.enqueue(job_id)
        await asyncio.wait_for(started.wait(), timeout=20)
        running = await invoke(rt, "get_job", {"job_id": job_id}, school.registrar)
        assert running.status == "running" and running.progress == 0.25
        assert running.progress_message == "waiting for the test"
        out = await invoke(rt, "cancel_job", {"job_id": job_id}, school.registrar)
        assert out.status == "running" and out.cancel_requested
        release.set()
        done = await wait_for(rt, school.registrar, job_id)
        assert done.status == "cancelled" and done.progress == 0.25 and done.result is None
        assert after_release == []
    finally:
        release.set()
        unregister(kind)


async def test_handler_errors_fail_the_job_with_a_message(rt):
    school = await make_school(rt, students=1)
    kind = unique("test_boom_").lower()

    @register(kind)
    async def handler(ctx, job_id, params):
        raise InvalidInput("the term has no assessments to export")

    try:
        job_id = await _queued_job(rt, school.registrar, kind)
        await rt.jobs.enqueue(job_id)
        done = await wait_for(rt, school.registrar, job_id)
        assert done.status == "failed" and done.error == "the term has no assessments to export"
        unknown = await _queued_job(rt, school.registrar, unique("no_such_kind_").lower())
        await rt.jobs.enqueue(unknown)
        done = await wait_for(rt, school.registrar, unknown)
        assert done.status == "failed" and "no handler" in done.error
    finally:
        unregister(kind)


async def test_only_the_requester_or_an_admin_sees_and_cancels_a_job(rt):
    school = await make_school(rt, students=1)
    with pytest.raises(PermissionDenied):
        await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id},
                     school.teacher)
    job_id = await _queued_job(rt, school.registrar, unique("test_idle_").lower())
    for outsider in (school.viewer, school.teacher):
        with pytest.raises(PermissionDenied):
            await invoke(rt, "get_job", {"job_id": job_id}, outsider)
        with pytest.raises(PermissionDenied):
            await invoke(rt, "cancel_job", {"job_id": job_id}, outsider)
        assert job_id not in [j.job_id for j in (await invoke(rt, "list_jobs", {"limit": 100}, outsider)).items]
        # asking for everyone's jobs does not widen a non-admin's view
        page = await invoke(rt, "list_jobs", {"limit": 100, "mine": False}, outsider)
        assert job_id not in [j.job_id for j in page.items]
    assert (await invoke(rt, "get_job", {"job_id": job_id}, school.admin)).status == "queued"
    mine = await invoke(rt, "list_jobs", {"limit": 100, "status": "queued"}, school.registrar)
    assert [j.job_id for j in mine.items] == [job_id]
    everyone = await invoke(rt, "list_jobs", {"limit": 100, "status": "queued"}, school.admin)
    assert job_id in [j.job_id for j in everyone.items]
    assert (await invoke(rt, "cancel_job", {"job_id": job_id}, school.admin2)).status == "cancelled"
    with pytest.raises(NotFound) as info:
        await invoke(rt, "get_job", {"job_id": 2_000_000_000}, school.admin)
    assert info.value.field == "job_id"


async def test_list_jobs_paginates(rt):
    school = await make_school(rt, students=1)
    ids = [await _queued_job(rt, school.registrar, "test_page") for _ in range(3)]
    first = await invoke(rt, "list_jobs", {"limit": 2, "kind": "test_page"}, school.registrar)
    second = await invoke(rt, "list_jobs", {"limit": 2, "kind": "test_page", "cursor": first.next_cursor},
                          school.registrar)
    assert [j.job_id for j in first.items + second.items] == ids and second.next_cursor is None


async def test_starting_a_job_is_audited_once_and_enqueued_after_its_commit(rt):
    """A job-starting tool is an ordinary write: one transaction, one audit row naming the job, and the runner
    handed the job only once it is committed (an after-commit hook); a refused call writes and enqueues nothing."""
    school = await make_school(rt, students=1)
    handed: list[tuple[int, bool]] = []

    class CommittedOnly:  # a runner that checks, like an arq worker would, that the job row is there
        async def enqueue(self, job_id: int) -> None:
            async with rt.db.read() as s:
                handed.append((job_id, await jobs.get_job(s, job_id) is not None))

    real, rt.jobs = rt.jobs, CommittedOnly()
    try:
        job = await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id},
                           school.registrar)
        with pytest.raises(InvalidInput):
            await invoke(rt, "export_term_grades", {"term_id": school.term_id}, school.registrar)
    finally:
        rt.jobs = real
    assert handed == [(job.job_id, True)]
    async with rt.db.read() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.tool == "export_term_grades",
                                                      AuditEntry.actor_id == school.registrar.id))).all()
    assert [(r.event, r.entity, r.entity_id) for r in rows] == [("write", "jobs", job.job_id)]
    await invoke(rt, "cancel_job", {"job_id": job.job_id}, school.registrar)  # the runner never got it
