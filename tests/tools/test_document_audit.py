"""Issue 17, finding 7: every stored document (report cards, payslip PDFs, the payroll summary, statements) and
every payslip written gets its own audit row, in the same transaction as the row it records."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from domain.documents import service as documents
from domain.documents.models import Document
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.audit import AuditEntry, canonical_json, verify_audit_chain
from domain.payroll.models import Payslip
from tests.conftest import own_runtime
from tests.factories import make_school
from tests.fees_helpers import make_fee_school
from tests.tools.test_payroll import run_month
from tests.tools.test_payroll import staff as staff  # noqa: F401 (the fixture, on this module's runtime)
from tools.invoke import invoke


@pytest.fixture(scope="module")
async def prt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "document-audit", in_process_jobs=True) as runtime:
        yield runtime


async def rows_for(rt, entity: str, ids: list[int]) -> dict[int, list[AuditEntry]]:
    """The audit rows of each of `ids` of `entity`."""
    async with rt.db.read() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.entity == entity,
                                                      col(AuditEntry.entity_id).in_(ids)))).all()
    return {i: [r for r in rows if r.entity_id == i] for i in ids}


async def assert_one_row_each(rt, entity: str, ids: list[int], *, event: str, tool: str) -> list[AuditEntry]:
    assert ids, "nothing was stored"
    by_id = await rows_for(rt, entity, ids)
    assert all(len(rows) == 1 for rows in by_id.values()), {i: len(r) for i, r in by_id.items()}
    rows = [rows[0] for rows in by_id.values()]
    assert {(r.event, r.tool) for r in rows} == {(event, tool)}
    return rows


async def test_each_report_card_has_its_own_audit_row(rt):
    school = await make_school(rt, students=3)
    job = await invoke(rt, "generate_report_cards", {"term_id": school.term_id, "section_id": school.section_id,
                                                     "wait_s": 120}, school.registrar)
    assert job.status == "succeeded", job.error
    ids = job.result["document_ids"]
    assert len(ids) == 3
    rows = await assert_one_row_each(rt, "documents", ids, event="document_stored", tool="generate_report_cards")
    async with rt.db.read() as s:
        docs = {d.id: d for d in (await s.exec(select(Document).where(col(Document.id).in_(ids)))).all()}
    for row in rows:
        assert f'"sha256":"{docs[row.entity_id].sha256}"' in (row.after or "")
        assert f'"job_id":{job.job_id}' in row.arguments


async def test_each_payslip_and_payroll_document_has_its_own_audit_row(prt, staff):  # noqa: F811
    run = await run_month(prt, staff, "2026-01", "2026-01-30", pay=False)
    async with prt.db.read() as s:
        slips = (await s.exec(select(Payslip).where(Payslip.run_id == run.run_id))).all()
    assert len(slips) == 3
    rows = await assert_one_row_each(prt, "payslips", [p.id for p in slips], event="payslip_written",
                                     tool="calculate_payroll_run")
    assert {p.number for p in slips} == {r.after.split('"number":"')[1].split('"')[0] for r in rows}
    # The rows' JSON is rendered by the payroll service itself: exactly what canonical_json renders.
    by_slip = {p.id: p for p in slips}
    assert {(r.entity_id, r.arguments, r.after) for r in rows} == {
        (p.id, canonical_json({"run_id": p.run_id, "employee_id": p.employee_id}),
         canonical_json({"number": p.number, "period": p.period, "currency": p.currency,
                         "gross_minor": p.gross_minor, "net_minor": p.net_minor}))
        for p in by_slip.values()}
    job = await invoke(prt, "generate_payroll_documents", {"run_id": run.run_id, "wait_s": 60}, staff["officer"])
    assert job.status == "succeeded", job
    ids = [*job.result["payslip_document_ids"], job.result["summary_document_id"]]
    await assert_one_row_each(prt, "documents", ids, event="document_stored", tool="generate_payroll_documents")
    async with prt.db.read() as s:
        assert (await verify_audit_chain(s)).ok


async def test_a_statement_has_its_own_audit_row_as_the_bursar(rt):
    school = await make_fee_school(rt)
    family = next(iter(school.families.values()))
    out = await invoke(rt, "generate_family_statement", {"family_id": family, "from_date": "2026-01-01",
                                                         "to_date": "2026-04-30"}, school.bursar)
    (row,) = await assert_one_row_each(rt, "documents", [out.document_id], event="document_stored",
                                       tool="generate_family_statement")
    assert row.actor_id == school.bursar.id


async def test_a_store_rolled_back_leaves_neither_the_document_nor_its_row(rt):
    filename = "rolled-back.pdf"
    with pytest.raises(RuntimeError, match="after the store"):
        async with rt.db.write() as s:
            await documents.store(s, kind="report_card", filename=filename, content_type="application/pdf",
                                  data=b"%PDF-1.4", actor=SYSTEM_ACTOR, tool="test")
            raise RuntimeError("after the store")
    async with rt.db.read() as s:
        assert (await s.exec(select(Document).where(Document.filename == filename))).first() is None
        assert (await s.exec(select(AuditEntry).where(AuditEntry.tool == "test",
                                                      AuditEntry.event == "document_stored"))).first() is None
