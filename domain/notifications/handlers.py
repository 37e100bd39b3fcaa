"""What the notifications context does when other contexts' events arrive (workers/relay.py delivers them; the
inbox makes each handler's effects happen once per event): it queues the emails people are told by."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import service as academics
from domain.academics.events import StudentAbsent, TermGradesPublished
from domain.hr import service as hr
from domain.kernel import money
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import InvalidInput
from domain.kernel.outbox import Event
from domain.kernel.settings import current_settings
from domain.notifications import service as notifications
from domain.payroll import service as payroll
from domain.payroll.events import PayslipsPaid

log = logging.getLogger(__name__)


def _grade(row) -> str:
    if row.letter:
        return row.letter
    if row.percentage_x100 is not None:
        return f"{row.percentage_x100 / 100:g} %"
    return "no grade"


async def tell_guardians_of_term_grades(session: AsyncSession, event: Event) -> None:
    """academics.TermGradesPublished: one email to each guardian with an address of each student graded in the
    class, with that student's published grade only (category grades: optional, with an unsubscribe link). A
    guardian's address that is not a valid one is skipped and logged, not retried."""
    data = TermGradesPublished.model_validate(event.payload)
    settings = current_settings()
    school_class = await academics.get_class(session, data.class_id)
    subject = await academics.get_subject(session, school_class.subject_id)
    term = await academics.get_term(session, data.term_id)
    _, published = await academics.term_grades(session, SYSTEM_ACTOR, class_id=data.class_id, term_id=data.term_id)
    students = await academics.students_by_id(session, sorted(published))
    guardians = await academics.guardians_of_students(session, sorted(published))
    for student_id in sorted(published):
        student = students.get(student_id)
        if student is None:
            continue
        name = f"{student.first_name} {student.last_name}"
        for guardian in guardians.get(student_id, []):
            if not guardian.email:
                continue
            try:
                await notifications.queue(
                    session, to=guardian.email, name=guardian.name, category="grades",
                    template="term_grades_published", public_url=settings.public_url,
                    school_name=settings.school_name, person_kind="guardian", person_id=guardian.id,
                    dedupe_key=f"event:{event.id}:student:{student_id}",
                    context={"student_name": name, "term_name": term.name,
                             "results": [{"subject": subject.name, "grade": _grade(published[student_id]),
                                          "comment": None}]})
            except InvalidInput as exc:
                log.warning("guardian %s of student %s not told of term grades: %s", guardian.id, student_id,
                            exc.message)


async def tell_guardians_of_absence(session: AsyncSession, event: Event) -> None:
    """attendance.StudentAbsent: one email to each guardian with an address (category attendance: required, no
    unsubscribe link), once per student and day however often the register is retaken."""
    data = StudentAbsent.model_validate(event.payload)
    settings = current_settings()
    student = (await academics.students_by_id(session, [data.student_id])).get(data.student_id)
    if student is None:
        return
    for guardian in (await academics.guardians_of_students(session, [data.student_id])).get(data.student_id, []):
        if not guardian.email:
            continue
        try:
            await notifications.queue(
                session, to=guardian.email, name=guardian.name, category="attendance", template="student_absent",
                public_url=settings.public_url, school_name=settings.school_name, person_kind="guardian",
                person_id=guardian.id, dedupe_key=f"absent:{data.student_id}:{data.on_date.isoformat()}",
                context={"student_name": f"{student.first_name} {student.last_name}",
                         "date": data.on_date.isoformat(), "period": None})
        except InvalidInput as exc:
            log.warning("guardian %s of student %s not told of an absence: %s", guardian.id, data.student_id,
                        exc.message)


async def send_payslips(session: AsyncSession, event: Event) -> None:
    """payroll.PayslipsPaid: each employee paid by the run gets their payslip at their work address, its PDF
    attached when sent (category payroll: required; Fair Work Regulations 2009 reg 3.44(6) allows a payslip in
    electronic form), once per payslip."""
    data = PayslipsPaid.model_validate(event.payload)
    settings = current_settings()
    slips = await payroll.paid_payslips(session, data.run_id)
    employees = await hr.employees_by_id(session, [s.employee_id for s in slips])
    for slip in slips:
        employee = employees.get(slip.employee_id)
        if employee is None or not employee.work_email:
            continue
        try:
            await notifications.queue(
                session, to=employee.work_email, name=employee.full_name, category="payroll", template="payslip",
                public_url=settings.public_url, school_name=settings.school_name, person_kind="employee",
                person_id=employee.id, dedupe_key=f"payslip:{slip.id}", attachment=f"payslip:{slip.id}",
                context={"period": data.period, "number": slip.number, "currency": slip.currency,
                         "net": money.format_money(slip.net_minor, slip.currency, code=False),
                         "pay_date": data.pay_date.isoformat()})
        except InvalidInput as exc:
            log.warning("employee %s not sent payslip %s: %s", slip.employee_id, slip.number, exc.message)


HANDLERS = {TermGradesPublished.topic: tell_guardians_of_term_grades,
            StudentAbsent.topic: tell_guardians_of_absence,
            PayslipsPaid.topic: send_payslips}
