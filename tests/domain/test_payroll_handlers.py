"""Payroll's reaction to hr.EmployeeTerminated (issue 21 with issue 18's M2): a termination released through the
gate ends the employee's live contract on that date, through the relay, once; the final pay follows from it."""

from __future__ import annotations

import asyncio
from datetime import date

from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.payroll import service as payroll
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tests.tools.test_payroll import STRUCTURE
from tools.invoke import invoke


async def test_a_termination_ends_the_live_contract_once(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "terminate-ends", in_process_jobs=True,
                           event_poll_seconds=0.1) as runtime:
        async with runtime.db.write() as s:
            office = await hr.create_department(s, SYSTEM_ACTOR, code=unique("OF"), name="Office")
            employee = await hr.create_employee(s, SYSTEM_ACTOR, first_name="Lee", last_name="Leaving",
                                                work_email="lee@hillview.example", position="Teacher",
                                                department_id=office.id, hire_date=date(2020, 1, 6),
                                                employment_type=EmploymentType.FULL_TIME)
            officer = await make_user(s, roles="payroll")
            hr_user = await make_user(s, roles="hr")
            admin = await make_user(s, roles="admin")
        structure = await invoke(runtime, "create_salary_structure", {
            "code": "AU_TEACHERS", "name": "Teachers (AU)", "currency": "AUD", "components": STRUCTURE}, officer)
        contract = await invoke(runtime, "create_employment_contract", {
            "employee_id": employee.id, "start_date": "2026-01-01", "base_minor": 650000, "currency": "AUD",
            "salary_structure_id": structure.salary_structure_id, "filing_status": "scale_2"}, officer)
        await runtime.jobs.start(serving=True)  # the relay of a serving process
        try:
            pending = await invoke(runtime, "terminate_employee", {"employee_id": employee.id,
                                                                   "termination_date": "2026-06-10",
                                                                   "reason": "Resigned to move interstate"},
                                   hr_user)
            async with runtime.db.read() as s:
                assert [c.cessation_type for c in await payroll.current_contracts(s, employee_ids=[employee.id])
                        ] == [None], "nothing changes before the termination is released"
            await released(runtime, pending, hr_user, admin)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while True:
                async with runtime.db.read() as s:
                    current = await payroll.current_contracts(s, employee_ids=[employee.id])
                if current[0].cessation_type is not None:
                    break
                assert loop.time() < deadline, current
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # more relay rounds: nothing happens twice
        finally:
            await runtime.jobs.stop()
        async with runtime.db.read() as s:
            versions = await payroll.contract_versions(s, contract.contract_number)
    assert [(v.version_no, v.end_date, v.cessation_type, v.superseded_at is None) for v in versions] == [
        (1, None, None, False), (2, date(2026, 6, 10), "V", True)]
    assert versions[1].reason.startswith("employee terminated on 2026-06-10: Resigned")
