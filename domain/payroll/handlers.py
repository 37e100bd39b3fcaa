"""What payroll does when other contexts' events arrive (workers/relay.py delivers them; the inbox makes each
handler's effects happen once per event)."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr.events import EmployeeTerminated
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, InvalidInput
from domain.kernel.outbox import Event
from domain.kernel.plan import ApplyContext, apply_plan
from domain.payroll import plans
from domain.payroll import service as payroll
from domain.payroll.models import CessationType

log = logging.getLogger(__name__)


async def end_contracts_of_terminated(session: AsyncSession, event: Event) -> None:
    """hr.EmployeeTerminated: each live contract of the employee ends on the termination date (cessation V,
    voluntary: end_employment_contract records another cause), so the run of the period holding that date pays
    the days up to it and the final pay, and no later run pays them (issue 18, M2). The plan of
    end_employment_contract is applied as it stands: the termination that caused it went through the gate. A
    contract already ended is left as it is; one that cannot end then (posted payslips after the date: void them;
    an end before it starts) is left and logged, for payroll to end by hand."""
    data = EmployeeTerminated.model_validate(event.payload)
    for contract in await payroll.current_contracts(session, employee_ids=[data.employee_id]):
        if contract.cessation_type is not None:
            continue
        try:
            plan = await plans.plan_end_employment_contract(
                session, SYSTEM_ACTOR, contract_number=contract.contract_number, end_date=data.termination_date,
                cessation_type=CessationType.VOLUNTARY.value,
                reason=f"employee terminated on {data.termination_date}: {data.reason}"[:500])
        except (Conflict, InvalidInput) as exc:
            log.warning("contract %s of terminated employee %s not ended: %s", contract.contract_number,
                        data.employee_code, exc.message)
            continue
        await apply_plan(session, plan, ApplyContext(actor=SYSTEM_ACTOR, action_id=None, decided_by=None))


HANDLERS = {EmployeeTerminated.topic: end_contracts_of_terminated}
