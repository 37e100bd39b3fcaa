"""Attendance tools: take a section's daily register, correct a past day, read the register and the rates.

Registered on the academics module (like tools/jobs.py's export): attendance is academics data and leaves
the catalogue with it. "Today" is the school's calendar date (settings.school_timezone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Annotated

from pydantic import Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import attendance, plans
from domain.academics.attendance import AttendanceCounts, RegisterEntry
from domain.academics.attendance_models import AttendanceStatus
from domain.academics.schemas import (
    AttendanceRatesOut,
    AttendanceRecordOut,
    AttendanceRegisterOut,
    EntryCountsOut,
    RateLineOut,
    RateOut,
    StatusCountsOut,
    TakeAttendanceOut,
    attendance_record_out,
    register_line_out,
)
from domain.kernel.actor import Actor
from domain.kernel.plan import Plan
from domain.kernel.settings import current_settings
from tools.academics import GRADERS, from_x100
from tools.academics import module as academics_module
from tools.references import SectionRef, StudentRef
from tools.registry import Effect, GateLevel, ToolContext
from tools.types import ToolInput

ATTENDANCE_KEEPERS = GRADERS  # admin, registrar, teacher (teachers: their own sections)

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
CorrectionReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
RATE_DEFINITION = ("attendance_rate = (present + late) / (present + late + absent) x 100, in percent with two "
                   "decimals; excused days are left out; null when no day counts. The ratio of days attended to "
                   "days counted, as in 'average daily attendance' (20 U.S.C. 7801(1)(A)).")


def _today(ctx: ToolContext) -> dt.date:
    return attendance.school_today(ctx.runtime.settings.school_timezone)


# ---------------------------------------------------------------- inputs


class AttendanceEntryIn(ToolInput):
    student_id: StudentRef
    status: AttendanceStatus = Field(description="excused: an absence with a reason the school accepts.")
    note: Note | None = Field(default=None, description="e.g. 'arrived 09:20'.")


class TakeAttendanceIn(ToolInput):
    section_id: SectionRef
    date: dt.date = Field(
        description="The school day (the school's time zone): today or a past day of the academic year.")
    entries: list[AttendanceEntryIn] = Field(
        min_length=1, max_length=attendance.MAX_ENTRIES, description="Each student of the section once.")


class CorrectAttendanceIn(ToolInput):
    student_id: StudentRef
    date: dt.date
    status: AttendanceStatus
    note: Note | None = Field(default=None, description="omitted: the current note stays.")
    reason: CorrectionReason = Field(description="Kept in the audit log.")


class AttendanceRegisterIn(ToolInput):
    section_id: SectionRef
    date: dt.date


class AttendanceRatesIn(ToolInput):
    section_id: SectionRef | None = Field(
        default=None, description="Each student and the total (with student_id: that student).")
    student_id: StudentRef | None = None
    from_date: dt.date | None = Field(default=None, description="omitted: the academic year's first day.")
    to_date: dt.date | None = Field(
        default=None, description="Inclusive; omitted: today, or the academic year's last day once it is over.")


# ---------------------------------------------------------------- helpers


def _rate_fields(counts: AttendanceCounts) -> dict:
    rate = counts.rate_x100
    return {"days_recorded": counts.days_recorded, "present": counts.present, "late": counts.late,
            "absent": counts.absent, "excused": counts.excused,
            "attendance_rate": None if rate is None else from_x100(rate)}


# ---------------------------------------------------------------- tools


@academics_module.tool(effect=Effect.WRITE, roles=ATTENDANCE_KEEPERS, idempotent=True)
async def take_attendance(ctx: ToolContext, args: TakeAttendanceIn) -> TakeAttendanceOut:
    """Take a section's daily register: each student's status on a school day. Today's register can be taken again; for
    a past day only missing records are added (changing one is correct_attendance). Answers with counts and only the
    entries not marked present or that changed a record (get_attendance_register reads the whole register). Teachers
    only for sections where they teach or are homeroom teacher."""
    entries = [RegisterEntry(e.student_id, e.status, e.note) for e in args.entries]
    register = await attendance.take_attendance(ctx.session, ctx.actor, section_id=args.section_id,
                                                on_date=args.date, entries=entries, today=_today(ctx))
    outcomes = [line.outcome for line in register.lines]
    counts = register.counts
    return TakeAttendanceOut(section_id=register.section.id or 0, section_code=register.section.code,
                             date=register.on_date, created=outcomes.count(attendance.CREATE),
                             updated=outcomes.count(attendance.UPDATE),
                             unchanged=outcomes.count(attendance.UNCHANGED),
                             counts=EntryCountsOut(present=counts.present, late=counts.late, absent=counts.absent,
                                                   excused=counts.excused),
                             exceptions=[register_line_out(line) for line in register.lines
                                         if line.outcome == attendance.UPDATE
                                         or (line.record is not None
                                             and line.record.status != AttendanceStatus.PRESENT.value)])


@academics_module.tool(effect=Effect.READ, roles=ATTENDANCE_KEEPERS)
async def get_attendance_register(ctx: ToolContext, args: AttendanceRegisterIn) -> AttendanceRegisterOut:
    """Get a section's register of a school day: every enrolled student's status (null: not taken yet) and the counts
    per status. Teachers only for their own sections."""
    register = await attendance.attendance_register(ctx.session, ctx.actor, section_id=args.section_id,
                                                    on_date=args.date)
    counts = register.counts
    return AttendanceRegisterOut(
        section_id=register.section.id or 0, section_code=register.section.code, date=register.on_date,
        taken=counts.days_recorded > 0, students=[register_line_out(line) for line in register.lines],
        counts=StatusCountsOut(present=counts.present, late=counts.late, absent=counts.absent,
                               excused=counts.excused, not_taken=register.not_taken))


def _plan_correction(session: AsyncSession, actor: Actor, args: CorrectAttendanceIn) -> Awaitable[Plan]:
    # The school's date from the settings the process runs with (the plan function gets no runtime).
    today = attendance.school_today(current_settings().school_timezone)
    return plans.plan_correct_attendance(session, actor, student_id=args.student_id, on_date=args.date,
                                         status=args.status, note=args.note, reason=args.reason, today=today)


@academics_module.tool(effect=Effect.DESTRUCTIVE, roles=ATTENDANCE_KEEPERS, gate=GateLevel.CONFIRM,
                       plan=_plan_correction)
async def correct_attendance(ctx: ToolContext, args: CorrectAttendanceIn) -> AttendanceRecordOut:
    """Correct one student's record of a past school day, with a reason; today's register, or a day without a record, is
    take_attendance. Teachers only for their own sections."""
    target = await attendance.correction_target(ctx.session, student_id=args.student_id, on_date=args.date)
    return attendance_record_out(target)


@academics_module.tool(effect=Effect.READ, roles=ATTENDANCE_KEEPERS)
async def get_attendance_rates(ctx: ToolContext, args: AttendanceRatesIn) -> AttendanceRatesOut:
    """Get attendance rates over a period for a section (each student and the total) or one student; rate = (present +
    late) / (present + late + absent) x 100, excused days left out. Teachers only for their own sections."""
    rates = await attendance.attendance_rates(ctx.session, ctx.actor, section_id=args.section_id,
                                              student_id=args.student_id, from_date=args.from_date,
                                              to_date=args.to_date, today=_today(ctx))
    students = [RateLineOut(student_id=line.student.id or 0, student_code=line.student.code,
                            student_name=line.student.full_name, enrolled=line.enrolled,
                            **_rate_fields(line.counts))
                for line in rates.lines]
    return AttendanceRatesOut(section_id=rates.section.id if rates.section else None,
                              section_code=rates.section.code if rates.section else None,
                              student_id=rates.student.id if rates.student else None,
                              from_date=rates.from_date, to_date=rates.to_date, students=students,
                              total=RateOut(**_rate_fields(rates.total)), rate_definition=RATE_DEFINITION)

