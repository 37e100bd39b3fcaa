"""Attendance tables: one register line per student and school day (present, absent, late, excused)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from domain.kernel.models import Entity


class AttendanceStatus(StrEnum):
    """A student's attendance on a day, as the section's daily register records it."""

    PRESENT = "present"
    ABSENT = "absent"
    LATE = "late"
    EXCUSED = "excused"


class AttendanceRecord(Entity, table=True):
    """A student's status on a calendar day in the daily register of their section.

    One record per student and day (`on_date`, a calendar date in the school's time zone), whatever the
    section: the unique (student_id, on_date) also serves lookups by student, so it needs no index of its own.
    `recorded_by` is the user who last set the status (None for the system).
    """

    __tablename__ = "attendance_records"
    __table_args__ = (
        UniqueConstraint("student_id", "on_date"),
        Index("ix_attendance_records_section_id_on_date", "section_id", "on_date"),
    )

    section_id: int = Field(foreign_key="sections.id", nullable=False)
    student_id: int = Field(foreign_key="students.id", nullable=False)
    on_date: date = Field(nullable=False)
    status: str = Field(max_length=20, nullable=False)
    note: str | None = Field(default=None, max_length=500)
    recorded_by: int | None = Field(default=None, foreign_key="users.id")
