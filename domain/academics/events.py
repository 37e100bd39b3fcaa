"""Academics' domain events (domain/kernel/outbox.py): recorded with the change, delivered to other contexts'
handlers."""

from __future__ import annotations

from datetime import date

from domain.kernel.outbox import DomainEvent


class TermGradesPublished(DomainEvent):
    """A class's term grades were published and locked (publish_term_grades, applied): guardians are told (issue
    21). The handler reads the published grades through the academics service; the event carries ids."""

    topic = "academics.TermGradesPublished"
    aggregate = "academics.class"
    aggregate_field = "class_id"
    schema_version = 1

    class_id: int
    class_code: str
    term_id: int
    students: int


class StudentAbsent(DomainEvent):
    """A student was marked absent on today's register (take_attendance; not a past day's record): guardians are
    told the same day (issue 21)."""

    topic = "attendance.StudentAbsent"
    aggregate = "academics.student"
    aggregate_field = "student_id"
    schema_version = 1

    student_id: int
    section_id: int
    on_date: date
