"""What the family tools answer: a guardian's children, a child's published grades, report card and attendance,
the family's statement, the guardian's own details. Money is integer minor units of the ISO 4217 `currency` beside
it; percentages and GPA points are decimals with two places, as the gradebook's tools show them."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from domain.kernel.schemas import OutputModel, Personal


class ChildOut(OutputModel):
    """One of the guardian's children, with the family their fees are billed to (None: none yet)."""

    student_id: int
    student_code: str | None = None
    first_name: str
    last_name: str
    date_of_birth: Personal[dt.date | None] = None
    status: str = Field(description="enrolled | withdrawn | graduated")
    year_level: str | None = None
    section_id: int | None = None
    section_code: str | None = None
    family_id: int | None = None
    family_code: str | None = None


class ChildrenOut(OutputModel):
    children: list[ChildOut]


class PublishedGradeOut(OutputModel):
    """A published (frozen) term grade of one class: what the report card printed."""

    academic_year: str
    term_id: int
    term_code: str | None = None
    term: str
    class_id: int
    class_code: str | None = None
    subject: str
    percentage: float | None = Field(default=None, description="Weighted percentage, two decimals.")
    letter: str | None = None
    gpa_points: float | None = None
    credits: float
    earns_credit: bool | None = None
    published_at: dt.datetime


class TranscriptOut(OutputModel):
    """A child's published term grades across terms (oldest first), each term's GPA, the cumulative GPA (credit
    weighted) and the credits earned."""

    student_id: int
    student_code: str | None = None
    student_name: str
    grades: list[PublishedGradeOut] = Field(description="The most recent `limit` published grades, oldest first.")
    grades_total: int = Field(description="How many grades are published; the GPA and credits count them all.")
    term_gpa: dict[str, float | None] = Field(description="term id -> GPA of that term's published grades.")
    gpa: float | None = None
    credits_earned: float


class AttendanceCountsOut(OutputModel):
    present: int
    absent: int
    late: int
    excused: int
    rate: float | None = Field(default=None, description="Percentage of the recorded days attended (present or "
                                                         "late), two decimals; null with no records.")


class ReportCardLineOut(OutputModel):
    class_id: int
    class_code: str | None = None
    subject: str
    percentage: float | None = None
    letter: str | None = None
    comment: str | None = Field(default=None, description="The teacher's comment on the term.")


class ReportCardOut(OutputModel):
    """A child's report card for one published term: each class's grade and comment, the term GPA and the term's
    attendance."""

    student_id: int
    student_code: str | None = None
    student_name: str
    term_id: int
    term_code: str | None = None
    term: str
    lines: list[ReportCardLineOut]
    gpa: float | None = None
    attendance: AttendanceCountsOut


class AttendanceDayOut(OutputModel):
    on_date: dt.date
    status: str = Field(description="present | absent | late | excused")
    note: str | None = None


class ChildAttendanceOut(OutputModel):
    """A child's register days in a period (newest first, at most `limit`) and the counts of the days shown."""

    student_id: int
    student_code: str | None = None
    from_date: dt.date
    to_date: dt.date
    days: list[AttendanceDayOut]
    counts: AttendanceCountsOut
    truncated: bool = Field(description="true: the period holds more days than `limit`; narrow it.")


class ChildLessonOut(OutputModel):
    class_code: str = Field(description="The class (7B-MATH) the lesson is of.")
    teacher: str = Field(description="The teacher's employee code.")
    room: str
    weekday: str
    period: int = Field(description="Period of the day, from 0.")
    starts_at: str | None = Field(default=None, description="HH:MM in the school's time zone, when known.")
    ends_at: str | None = None


class ChildTimetableOut(OutputModel):
    """A child's week: their section's lessons in the school's published timetable, by day and period."""

    student_id: int
    student_code: str | None = None
    section_code: str | None = Field(default=None, description="null: the child is in no section yet.")
    published: bool = Field(description="false: no timetable is published yet (no lessons).")
    lessons: list[ChildLessonOut]


class StatementLineOut(OutputModel):
    on_date: dt.date
    kind: str = Field(description="invoice | payment | credit_note | refund | void | credit_applied")
    reference: str
    description: str
    charge_minor: int = Field(description="Raises what the family owes.")
    payment_minor: int = Field(description="Lowers what the family owes.")
    balance_minor: int = Field(description="Running balance after the line; positive: owed.")


class FamilyStatementOut(OutputModel):
    """The family's statement of account for a period, in minor units of `currency`."""

    family_id: int
    family_code: str | None = None
    currency: str
    from_date: dt.date
    to_date: dt.date
    opening_balance_minor: int
    closing_balance_minor: int = Field(description="Positive: owed; negative: the family is in credit.")
    lines: list[StatementLineOut]


class MyRecordOut(OutputModel):
    """The guardian's record on one child's file."""

    student_id: int
    student_code: str | None = None
    relationship: str
    phone: Personal[str | None] = None
    email: Personal[str | None] = None


class MyDetailsOut(OutputModel):
    """The guardian's own contact details as the school holds them, on each child's record."""

    name: Personal[str | None] = None
    records: list[MyRecordOut]


class MyPreferencesOut(OutputModel):
    """Which email categories the guardian's addresses receive (required ones always true)."""

    emails: Personal[list[str] | None] = None
    receives: dict[str, bool]


class InvitedOut(OutputModel):
    """A guardian's account: the user (username = their email), the children it reads, and whether a sign-in link
    was emailed."""

    user_id: int
    username: Personal[str | None] = None
    student_ids: list[int]
    student_codes: list[str | None] | None = None
    sign_in_link_queued: bool
