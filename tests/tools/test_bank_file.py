"""export_payroll_bank_file: a posted AUD run's net pays as an ABA file, stored as a payroll-only document and read
back field by field at the layout's positions (domain/payroll/aba.py; 1-based positions as the banks' "ABA file
format" specifications print them). On its own database (runs are per period for the whole school)."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, InvalidInput, PermissionDenied
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.tools.test_payroll import STRUCTURE
from tools.invoke import invoke

KEYS = "k1:" + base64.urlsafe_b64encode(bytes(range(7, 39))).decode()
SCHOOL = {"aba_bsb": "062-000", "aba_account": "12345678", "aba_account_title": "MCS GRAMMAR OPERATING",
          "aba_bank": "CBA", "aba_user_name": "MCS GRAMMAR SCHOOL", "aba_user_id": "301500"}
ACCOUNTS = [("062-111", "987654321", "ANN BANKED"), ("733-001", "00123", "BEN O'BANKED")]


@pytest.fixture(scope="module")
async def brt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "bank-file", in_process_jobs=True, data_keys=SecretStr(KEYS),
                           **SCHOOL) as runtime:
        yield runtime


async def release(brt, pending, requester, admin):
    done = await invoke(brt, "confirm_action", {"action_id": pending.action_id}, requester)
    if done.status == "queued":
        done = await invoke(brt, "approve_action", {"action_id": pending.action_id}, admin)
    assert done.status == "executed", done
    return done


@pytest.fixture(scope="module")
async def school(brt):
    """Three employees on AUD contracts, two with bank accounts; a payroll officer, an HR officer, an admin."""
    async with brt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("BK"), name="Teaching")
        staff = [await hr.create_employee(
            s, SYSTEM_ACTOR, first_name=name, last_name="Banked", work_email=f"{name}.{unique()}@ex.org",
            position="Teacher", department_id=dep.id, hire_date=date(2020, 1, 6),
            employment_type=EmploymentType.FULL_TIME) for name in ("Ann", "Ben", "Cal")]
        officer, admin = await make_user(s, roles="payroll"), await make_user(s, roles="admin")
        hr_officer = await make_user(s, roles="hr")
    structure = await invoke(brt, "create_salary_structure", {"code": unique("AUB"), "name": "Teachers (AU)",
                                                              "currency": "AUD", "components": STRUCTURE}, officer)
    for emp, base in zip(staff, (650000, 720000, 480000), strict=True):
        await invoke(brt, "create_employment_contract", {
            "employee_id": emp.id, "start_date": "2026-01-01", "base_minor": base, "currency": "AUD",
            "salary_structure_id": structure.salary_structure_id, "filing_status": "scale_2"}, officer)
    for emp, (bsb, account, name) in zip(staff, ACCOUNTS, strict=False):
        pending = await invoke(brt, "set_employee_payment_details", {
            "employee_id": emp.id, "bsb": bsb, "account_number": account, "account_name": name}, hr_officer)
        await release(brt, pending, hr_officer, admin)
    return {"staff": staff, "officer": officer, "admin": admin, "hr": hr_officer}


async def run_in(brt, school, period: str, pay_date: str, *, post: bool = True) -> int:
    officer, admin = school["officer"], school["admin"]
    run = await invoke(brt, "create_payroll_run", {"period": period, "pay_date": pay_date, "currency": "AUD"},
                       officer)
    job = await invoke(brt, "calculate_payroll_run", {"run_id": run.run_id, "wait_s": 30}, officer)
    assert job.status == "succeeded", job
    if post:
        for tool in ("approve_payroll_run", "post_payroll_run"):
            await release(brt, await invoke(brt, tool, {"run_id": run.run_id}, officer), officer, admin)
    return run.run_id


async def nets(brt, run_id: int) -> dict[int, int]:
    async with brt.db.read() as s:
        rows = (await s.exec(text(  # type: ignore[call-overload]
            f"SELECT employee_id, net_minor FROM payslips WHERE run_id = {run_id} AND status <> 'void' "
            "AND reverses_payslip_id IS NULL"))).all()
    return {employee_id: net for employee_id, net in rows}


def at(record: str, start: int, end: int) -> str:
    return record[start - 1:end]


async def document_text(brt, officer, document_id: int) -> str:
    content = await invoke(brt, "get_document", {"document_id": document_id, "max_bytes": 65536}, officer)
    return base64.b64decode(content.content_base64).decode("ascii")


async def test_the_bank_file_pays_each_net_and_reads_back_field_by_field(brt, school):
    officer, (ann, ben, cal) = school["officer"], school["staff"]
    run_id = await run_in(brt, school, "2026-05", "2026-05-28")
    net = await nets(brt, run_id)
    assert set(net) == {ann.id, ben.id, cal.id} and all(v > 0 for v in net.values())
    with pytest.raises(Conflict) as info:  # Cal has no bank account: refused, naming him
        await invoke(brt, "export_payroll_bank_file", {"run_id": run_id, "processing_date": "2026-05-27"}, officer)
    assert cal.code in info.value.message and "skip_missing" in info.value.message
    assert ann.code not in info.value.message

    out = await invoke(brt, "export_payroll_bank_file",
                       {"run_id": run_id, "processing_date": "2026-05-27", "skip_missing": True}, officer)
    assert out.payments == 2 and out.missing_employee_codes == [cal.code] and out.currency == "AUD"
    assert out.total_minor == net[ann.id] + net[ben.id] and out.balancing_record is True
    assert out.filename == "payroll-2026-05-20260527.aba"

    body = await document_text(brt, officer, out.document_id)
    assert body.endswith("\r\n")
    head, first, second, balance, total = body[:-2].split("\r\n")
    assert all(len(r) == 120 for r in (head, first, second, balance, total))
    assert at(head, 1, 1) == "0" and at(head, 2, 18) == " " * 17 and at(head, 19, 20) == "01"
    assert at(head, 21, 23) == "CBA" and at(head, 24, 30) == " " * 7
    assert at(head, 31, 56) == "MCS GRAMMAR SCHOOL".ljust(26) and at(head, 57, 62) == "301500"
    assert at(head, 63, 74) == "PAYROLL".ljust(12) and at(head, 75, 80) == "270526" and at(head, 81, 120) == " " * 40
    for record, emp, (bsb, account, name) in ((first, ann, ACCOUNTS[0]), (second, ben, ACCOUNTS[1])):
        assert at(record, 1, 1) == "1" and at(record, 2, 8) == bsb and at(record, 9, 17) == account.rjust(9)
        assert at(record, 18, 18) == " " and at(record, 19, 20) == "53"  # pay
        assert at(record, 21, 30) == f"{net[emp.id]:010d}" and at(record, 31, 62) == name.ljust(32)
        assert at(record, 63, 80) == "PAY 2026-05".ljust(18)
        assert at(record, 81, 87) == "062-000" and at(record, 88, 96) == " 12345678"
        assert at(record, 97, 112) == "MCS GRAMMAR SCHO" and at(record, 113, 120) == "00000000"
    credits = net[ann.id] + net[ben.id]
    assert at(balance, 2, 8) == "062-000" and at(balance, 9, 17) == " 12345678" and at(balance, 19, 20) == "13"
    assert at(balance, 21, 30) == f"{credits:010d}" and at(balance, 31, 62) == "MCS GRAMMAR OPERATING".ljust(32)
    assert at(total, 1, 8) == "7999-999" and at(total, 9, 20) == " " * 12
    assert at(total, 21, 30) == "0" * 10  # net: credits less the balancing debit
    assert at(total, 31, 40) == at(total, 41, 50) == f"{credits:010d}"
    assert at(total, 51, 74) == " " * 24 and at(total, 75, 80) == "000003" and at(total, 81, 120) == " " * 40
    assert "987654321" not in str(out.model_dump())  # the answer never carries an account

    with pytest.raises(PermissionDenied):  # a bank file is payroll's: HR cannot read it
        await invoke(brt, "get_document", {"document_id": out.document_id}, school["hr"])
    async with brt.db.read() as s:
        audited = (await s.exec(text(  # type: ignore[call-overload]
            "SELECT event, after FROM audit_log WHERE entity = 'documents' "
            f"AND entity_id = '{out.document_id}'"))).all()
    assert audited and all("987654321" not in str(row) for row in audited)


async def test_a_draft_run_a_foreign_currency_and_missing_settings_are_refused(brt, school):
    officer = school["officer"]
    draft = await run_in(brt, school, "2026-06", "2026-06-26", post=False)
    with pytest.raises(Conflict) as info:
        await invoke(brt, "export_payroll_bank_file", {"run_id": draft, "processing_date": "2026-06-25"}, officer)
    assert "posted or paid" in info.value.message and info.value.field == "run_id"
    async with brt.db.write() as s:
        await s.exec(text(f"UPDATE payroll_runs SET currency = 'NZD' WHERE id = {draft}"))  # type: ignore
        await s.exec(text(f"UPDATE payroll_runs SET status = 'posted' WHERE id = {draft}"))  # type: ignore
    with pytest.raises(InvalidInput) as info:
        await invoke(brt, "export_payroll_bank_file", {"run_id": draft, "processing_date": "2026-06-25"}, officer)
    assert "NZD" in info.value.message and "only AUD" in info.value.message
    with pytest.raises(PermissionDenied):
        await invoke(brt, "export_payroll_bank_file", {"run_id": draft, "processing_date": "2026-06-25"},
                     school["hr"])


async def test_an_invalid_school_account_or_payee_name_is_refused_by_name(brt, school):
    from domain.payroll import bank_file

    officer = school["officer"]
    async with brt.db.read() as s:
        run_id = (await s.exec(text(  # type: ignore[call-overload]
            "SELECT id FROM payroll_runs WHERE period = '2026-05'"))).one()[0]
        for setting, value, named in (("aba_bsb", "06-2000", "MCS_ERP_ABA_BSB"),
                                      ("aba_bank", "COMMBANK", "MCS_ERP_ABA_BANK"),
                                      ("aba_user_id", None, "MCS_ERP_ABA_USER_ID")):
            settings = brt.settings.model_copy(update={setting: value})
            with pytest.raises(InvalidInput) as info:
                await bank_file.build_bank_file(s, run_id, processing_date=date(2026, 5, 27), skip_missing=True,
                                                settings=settings)
            assert info.value.field == named and named in info.value.message, info.value
    # A payee's stored name that a bank file cannot carry names the employee (set before the rule existed).
    ann = school["staff"][0]
    async with brt.db.write() as s:
        await s.exec(text("UPDATE employee_payment_details SET bank_account_name = 'ANN;BANKED' "  # type: ignore
                          f"WHERE employee_id = {ann.id}"))
    with pytest.raises(InvalidInput) as info:
        await invoke(brt, "export_payroll_bank_file",
                     {"run_id": run_id, "processing_date": "2026-05-27", "skip_missing": True}, officer)
    assert ann.code in info.value.message and "set_employee_payment_details" in info.value.message
