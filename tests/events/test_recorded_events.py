"""The first real events (issue 21): terminating an employee records hr.EmployeeTerminated, publishing a class's
term grades academics.TermGradesPublished, issuing invoices fees.InvoiceIssued, each in the transaction of the
change, with its schema version. A proposal that is not released, a stale one and a refused call record none."""

from __future__ import annotations

import pytest
from sqlmodel import select

from domain.kernel import outbox
from domain.kernel.errors import Conflict, StaleAction
from tests.conftest import own_runtime
from tests.factories import make_school
from tests.fees_helpers import make_fee_school
from tests.gate_helpers import released
from tools.invoke import invoke


@pytest.fixture(scope="module")
async def ert(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "recorded", in_process_jobs=True, currency="AUD") as runtime:
        yield runtime


async def _events(rt, topic: str) -> list[outbox.Event]:
    async with rt.db.read() as session:
        rows = (await session.exec(select(outbox.OutboxEvent).where(outbox.OutboxEvent.topic == topic)
                                   .order_by(outbox.OutboxEvent.id))).all()
    return [outbox.event_of(r) for r in rows]


async def test_a_released_termination_records_one_event_and_a_pending_one_none(ert):
    school = await make_school(ert, students=1)
    emp = school.teacher_employee_id
    args = {"employee_id": emp, "termination_date": "2027-01-31", "reason": "Moving abroad"}
    pending = await invoke(ert, "terminate_employee", args, school.admin)
    assert [e for e in await _events(ert, "hr.EmployeeTerminated") if e.aggregate_id == str(emp)] == []
    await invoke(ert, "update_employee", {"employee_id": emp, "position": "Head of science"}, school.admin)
    with pytest.raises(StaleAction):
        await released(ert, pending, school.admin)  # stale: nothing applied, no event
    assert [e for e in await _events(ert, "hr.EmployeeTerminated") if e.aggregate_id == str(emp)] == []
    await released(ert, await invoke(ert, "terminate_employee", args, school.admin), school.admin)
    mine = [e for e in await _events(ert, "hr.EmployeeTerminated") if e.aggregate_id == str(emp)]
    assert [(e.aggregate, e.sequence, e.schema_version) for e in mine] == [("hr.employee", 1, 1)]
    assert mine[0].payload["employee_id"] == emp and mine[0].payload["termination_date"] == "2027-01-31"
    assert mine[0].payload["reason"] == "Moving abroad" and mine[0].payload["employee_code"]
    with pytest.raises(Conflict):
        await invoke(ert, "terminate_employee", args, school.admin)  # already terminated: refused when planned
    assert len([e for e in await _events(ert, "hr.EmployeeTerminated") if e.aggregate_id == str(emp)]) == 1


async def test_publishing_term_grades_records_one_event_for_the_class(ert):
    school = await make_school(ert, students=2)
    for student in school.student_ids:
        await invoke(ert, "record_grade", {"assessment_id": school.assessment_id, "student_id": student,
                                           "score": 80}, school.teacher)
    pending = await invoke(ert, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                           school.registrar)
    assert [e for e in await _events(ert, "academics.TermGradesPublished")
            if e.aggregate_id == str(school.class_id)] == []
    await released(ert, pending, school.registrar, school.admin)
    mine = [e for e in await _events(ert, "academics.TermGradesPublished") if e.aggregate_id == str(school.class_id)]
    assert len(mine) == 1 and mine[0].aggregate == "academics.class"
    assert {k: mine[0].payload[k] for k in ("class_id", "term_id", "students")} == {
        "class_id": school.class_id, "term_id": school.term_id, "students": 2}


async def test_issuing_invoices_records_one_event_per_invoice(ert):
    world = await make_fee_school(ert)
    before = len(await _events(ert, "fees.InvoiceIssued"))
    job = await invoke(ert, "generate_invoices", {"schedule_id": world.schedule_id, "issue_date": "2026-01-20",
                                                  "wait_s": 30}, world.bursar)
    assert job.status == "succeeded", job
    listed = await invoke(ert, "list_invoices", {"schedule_id": world.schedule_id, "limit": 100}, world.bursar)
    events = (await _events(ert, "fees.InvoiceIssued"))[before:]
    assert sorted(e.payload["invoice_id"] for e in events) == sorted(i.invoice_id for i in listed.items)
    by_id = {i.invoice_id: i for i in listed.items}
    for event in events:
        invoice = by_id[event.payload["invoice_id"]]
        assert (event.payload["total"], event.payload["currency"], event.payload["issue_date"]) == (
            invoice.total_minor, "AUD", "2026-01-20")
        assert event.aggregate == "fees.invoice" and event.sequence == 1

    drafts = await invoke(ert, "generate_invoices", {"schedule_id": world.schedule2_id, "issue": False,
                                                     "wait_s": 30}, world.bursar)
    assert drafts.status == "succeeded" and len(await _events(ert, "fees.InvoiceIssued")) == before + len(events)
    draft_ids = [i.invoice_id for i in (await invoke(ert, "list_invoices", {"schedule_id": world.schedule2_id,
                                                                            "limit": 100}, world.bursar)).items]
    await invoke(ert, "issue_invoices", {"invoice_ids": draft_ids[:1], "issue_date": "2026-04-20"}, world.bursar)
    with pytest.raises(Conflict):
        await invoke(ert, "issue_invoices", {"invoice_ids": draft_ids[:1], "issue_date": "2026-04-21"},
                     world.bursar)
    later = (await _events(ert, "fees.InvoiceIssued"))[before + len(events):]
    assert [(e.payload["invoice_id"], e.payload["issue_date"]) for e in later] == [(draft_ids[0], "2026-04-20")]
