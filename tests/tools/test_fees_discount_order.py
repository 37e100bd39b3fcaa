"""The order discounts are taken in (plan_invoices' docstring, rules.invoice_lines): sibling discounts first, then
awarded ones by code, each on what the earlier ones left. A percentage taken after another comes to less, so the
order decides the amounts: here the scholarship's code sorts before the sibling discount's, and the sibling
discount must still come first."""

from __future__ import annotations

from datetime import date

import pytest

from domain.fees import service as fees
from domain.kernel.actor import SYSTEM_ACTOR
from tests.conftest import own_runtime
from tests.fees_helpers import SCHOLARSHIP_BP, SIBLING_BP, TRANSPORT, TUITION_Y7, make_fee_school


@pytest.fixture(scope="module")
async def frt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "fees_order", in_process_jobs=True, currency="AUD") as runtime:
        yield runtime


async def test_a_sibling_discount_comes_before_a_scholarship_whatever_their_codes(frt):
    school = await make_fee_school(frt)
    cai = school.students["Cai"]  # the Kim family's third child: the sibling discount applies
    async with frt.db.write() as s:
        scholarship = await fees.create_discount(s, SYSTEM_ACTOR, code="A-SCHOLAR", name="Scholarship A",
                                                 kind="scholarship", percent_bp=SCHOLARSHIP_BP,
                                                 fee_item_id=school.tuition_item)
        await fees.award_discount(s, SYSTEM_ACTOR, student_id=cai, discount_id=scholarship.id)
    async with frt.db.read() as s:
        plan = await fees.plan_invoices(s, schedule_id=school.schedule_id, student_ids=[cai])
    (invoice,) = plan.invoices
    sibling_off = TUITION_Y7 * SIBLING_BP // 10_000  # 10 % of the whole tuition: 45,000
    scholarship_off = (TUITION_Y7 - sibling_off) * SCHOLARSHIP_BP // 10_000  # 50 % of what is left: 202,500
    assert [(line.kind, line.discount_id, line.amount) for line in invoice.lines] == [
        ("fee", None, TUITION_Y7), ("fee", None, TRANSPORT), ("discount", school.sibling_discount, sibling_off),
        ("discount", scholarship.id, scholarship_off)]
    assert invoice.total == TUITION_Y7 + TRANSPORT - sibling_off - scholarship_off
    async with frt.db.write() as s:  # and the invoice written says the same
        result = await fees.generate_invoices(s, SYSTEM_ACTOR, schedule_id=school.schedule_id, student_ids=[cai],
                                              issue=True, issue_date=date(2026, 1, 20))
    assert result.total == invoice.total
