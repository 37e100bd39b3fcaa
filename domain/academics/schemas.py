"""Read models of the academics context, the output schemas of its tools (academics, attendance, gradebook)
and the mappers from its rows. Scores and percentages are decimals with two places."""

from __future__ import annotations

import json

import datetime as dt
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from domain.academics import attendance, gradebook
from domain.academics.attendance import RegisterLine
from domain.academics.attendance_models import AttendanceRecord, AttendanceStatus
from domain.academics.models import GradingCategory, GradingScaleRecord, SchoolClass
from domain.kernel.schemas import OutputModel, Personal


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AcademicYearRead(_Read):
    id: int
    code: str
    name: str
    start_date: date
    end_date: date


class TermRead(_Read):
    id: int
    academic_year_id: int
    academic_year_code: str | None = None
    number: int
    name: str
    start_date: date
    end_date: date


class YearLevelRead(_Read):
    id: int
    code: str
    name: str
    ordinal: int


class SectionRead(_Read):
    id: int
    code: str
    name: str
    year_level_id: int
    year_level_code: str | None = None
    academic_year_id: int
    academic_year_code: str | None = None
    homeroom_teacher_id: int | None = None
    homeroom_teacher_code: str | None = Field(default=None, description="Employee code (E0042).")
    student_count: int | None = None


class SubjectRead(_Read):
    id: int
    code: str
    name: str
    weekly_lessons: int = Field(description="Lessons a week each class of the subject gets (0 = not timetabled).")
    credits_x100: int = Field(default=100, exclude=True)

    @computed_field(description="Credits a passing term grade earns (the GPA weight).")  # type: ignore[prop-decorator]
    @property
    def credits(self) -> float:
        return self.credits_x100 / 100


class ClassRead(_Read):
    id: int
    code: str
    section_id: int
    section_code: str | None = None
    subject_id: int
    subject_code: str | None = None
    teacher_id: int
    teacher_code: str | None = Field(default=None, description="The teacher's employee code (E0042).")
    academic_year_id: int
    academic_year_code: str | None = None
    weekly_lessons: int | None = Field(default=None, description="This class's lessons a week; None = the "
                                                                 "subject's.")
    teacher_name: str | None = None
    subject_name: str | None = None


class TeacherRead(_Read):
    employee_id: int
    code: str
    first_name: str
    last_name: str
    position: str
    class_count: int


class StudentSummary(_Read):
    """What list tools return about a student: no date of birth, no guardians."""

    id: int
    code: str
    first_name: str
    last_name: str
    year_level_id: int
    year_level_code: str | None = None
    section_id: int | None = None
    section_code: str | None = None
    status: str


class GuardianRead(_Read):
    id: int
    name: str
    relationship: str
    phone: Personal[str | None] = None
    email: Personal[str | None] = None


class StudentRead(StudentSummary):
    version: int
    personal_data_included: bool = Field(description="False when your roles may not see date of birth and "
                                                      "guardians (only admin and registrar may).")
    date_of_birth: Personal[date | None] = None
    guardians: Personal[list[GuardianRead] | None] = None


class EnrollmentRead(_Read):
    id: int
    student_id: int
    class_id: int
    status: str
    enrolled_on: date
    student_code: str | None = None
    student_name: str | None = None
    class_code: str | None = None


class AssessmentRead(BaseModel):
    id: int
    class_id: int
    class_code: str | None = None
    term_id: int
    term_code: str | None = None
    title: str
    category: str | None = None
    max_score: float
    weight: float = Field(description="Percent of the term grade (weights are renormalised over scored items).")
    due_date: date | None = None


class GradeRead(BaseModel):
    id: int
    assessment_id: int
    student_id: int
    score: float | None = Field(description="Points; null when the result is missing or excused.")
    status: str = Field(default="scored", description="scored, missing (counts as 0) or excused (left out).")
    max_score: float
    comment: str | None = None
    locked: bool = Field(description="True once the term's grades are published; only change_locked_grade "
                                     "(admin approval, with a reason) can alter it.")
    version: int
    student_code: str | None = None
    assessment_title: str | None = None
    assessment_code: str | None = Field(default=None, description="Class code and title: 7A-MATH Unit test 1.")


class GradebookRow(BaseModel):
    student_id: int
    student_code: str
    student_name: str
    scores: dict[str, float | None] = Field(description="Score per assessment id (null: not recorded yet, or "
                                                        "missing/excused, see statuses).")
    statuses: dict[str, str] = Field(default_factory=dict, description="Per assessment id with a result: scored, "
                                                                       "missing (counts as 0) or excused.")
    running_percentage: float | None = Field(description="The term percentage so far under the class's grading "
                                                          "(categories or weights, renormalised over what is "
                                                          "graded), rounded by its scale.")


class GradebookRead(BaseModel):
    class_id: int
    class_code: str
    term_id: int
    term_code: str | None = None
    published: bool
    assessments: list[AssessmentRead]
    rows: list[GradebookRow]
    next_cursor: str | None = Field(default=None, description="More students: pass as cursor.")


class TermGradeRead(BaseModel):
    student_id: int
    student_code: str
    student_name: str
    percentage: float | None
    letter: str | None
    published: bool
    version: int | None = None


class TermGradesRead(BaseModel):
    class_id: int
    class_code: str
    term_id: int
    term_code: str | None = None
    published: bool
    grades: list[TermGradeRead]
    class_average: float | None
    missing_scores: int = Field(description="Enrolled student x assessment pairs without a score.")


# ---------------------------------------------------------------- attendance (tools/attendance.py)


class RegisterLineOut(OutputModel):
    student_id: int
    student_code: str
    student_name: str
    enrolled: bool = Field(description="False for a student who has since left the section.")
    status: AttendanceStatus | None = Field(description="null when the register has no record for the student.")
    note: str | None = None
    record_id: int | None = None
    version: int | None = Field(default=None, description="The record's version (it grows with every change).")
    outcome: str | None = Field(default=None, description="take_attendance only: created, updated or unchanged.")


class StatusCountsOut(OutputModel):
    present: int
    late: int
    absent: int
    excused: int
    not_taken: int = Field(description="Students of the register without a record that day.")


class EntryCountsOut(OutputModel):
    present: int
    late: int
    absent: int
    excused: int


class TakeAttendanceOut(OutputModel):
    """What a register taken did: counts, and only the lines worth a look (the caller sent every status, so the
    whole register back would repeat it; get_attendance_register reads it)."""

    section_id: int
    section_code: str
    date: dt.date
    created: int
    updated: int
    unchanged: int
    counts: EntryCountsOut = Field(description="The entries by status.")
    exceptions: list[RegisterLineOut] = Field(
        description="The entries not marked present, and those that changed a record already kept (outcome "
                    "updated), in the order given; every other entry is recorded present as sent. "
                    "get_attendance_register shows the whole register with each record's id and version.")


class AttendanceRegisterOut(OutputModel):
    section_id: int
    section_code: str
    date: dt.date
    taken: bool = Field(description="True when at least one student has a record that day.")
    students: list[RegisterLineOut] = Field(description="Every enrolled student, by last name, then former "
                                                        "students of the section with a record that day.")
    counts: StatusCountsOut


class AttendanceRecordOut(OutputModel):
    record_id: int
    student_id: int
    student_code: str
    student_name: str
    section_id: int
    section_code: str
    date: dt.date
    status: AttendanceStatus
    note: str | None
    version: int


class RateOut(OutputModel):
    days_recorded: int = Field(description="Days with a record, whatever the status.")
    present: int
    late: int
    absent: int
    excused: int
    attendance_rate: float | None = Field(description="Percent, two decimals: (present + late) / (present + late "
                                                      "+ absent) x 100; excused days left out; null with no such "
                                                      "day.")


class RateLineOut(RateOut):
    student_id: int
    student_code: str
    student_name: str
    enrolled: bool = Field(description="False for a student who has since left the section.")


class AttendanceRatesOut(OutputModel):
    section_id: int | None
    section_code: str | None
    student_id: int | None
    student_code: str | None = None
    from_date: dt.date
    to_date: dt.date
    students: list[RateLineOut]
    total: RateOut = Field(description="Summed over the students listed (the section's own rate).")
    rate_definition: str


def register_line_out(line: RegisterLine) -> RegisterLineOut:
    """One student's line of a register: their record's status and note, or nulls when none is kept."""
    record = line.record
    return RegisterLineOut(student_id=line.student.id or 0, student_code=line.student.code,
                           student_name=line.student.full_name, enrolled=line.enrolled,
                           status=None if record is None else AttendanceStatus(record.status),
                           note=None if record is None else record.note,
                           record_id=None if record is None else record.id,
                           version=None if record is None else record.version, outcome=line.outcome)


def attendance_record_out(target: attendance.CorrectionTarget) -> AttendanceRecordOut:
    """The record a correction targets, with its student."""
    record: AttendanceRecord = target.record
    return AttendanceRecordOut(record_id=record.id or 0, student_id=target.student.id or 0,
                               student_code=target.student.code, student_name=target.student.full_name,
                               section_id=target.section.id or 0, section_code=target.section.code,
                               date=record.on_date, status=AttendanceStatus(record.status), note=record.note,
                               version=record.version)


# ---------------------------------------------------------------- gradebook (tools/gradebook.py)


def from_x100_or_none(value_x100: int | None) -> float | None:
    """A stored hundredths value as a float (1250 is 12.5); None stays None."""
    return None if value_x100 is None else value_x100 / 100


class CategoryOut(OutputModel):
    code: str
    name: str
    weight: float = Field(description="Percent of the term grade.")
    drop_lowest: int


class CategoriesOut(OutputModel):
    class_id: int
    class_code: str
    by_category: bool = Field(description="False: each assessment counts with its own weight.")
    categories: list[CategoryOut]


def categories_out(cls: SchoolClass, rows: list[GradingCategory]) -> CategoriesOut:
    """A class's grading categories (weights in percent); none: each assessment counts by its own weight."""
    return CategoriesOut(class_id=cls.id or 0, class_code=cls.code, by_category=bool(rows),
                         categories=[CategoryOut(code=r.code, name=r.name, weight=r.weight_x100 / 100,
                                                 drop_lowest=r.drop_lowest) for r in rows])


class BandOut(OutputModel):
    min_percentage: float
    letter: str
    gpa_points: float
    passing: bool
    earns_credit: bool


class ScaleOut(OutputModel):
    scale_id: int | None = Field(description="Null for the built-in BASIC scale (A 90, B 80, C 70, D 60).")
    code: str
    name: str
    rounding: str
    decimals: int
    is_default: bool
    bands: list[BandOut] = Field(description="Highest first.")


def scale_out(row: GradingScaleRecord) -> ScaleOut:
    """A stored grading scale with its bands."""
    scale = gradebook.scale_of(row)
    return ScaleOut(scale_id=row.id, code=row.code, name=row.name, rounding=row.rounding, decimals=row.decimals,
                    is_default=row.is_default, bands=[BandOut(min_percentage=float(b.min_percentage), letter=b.letter,
                                                              gpa_points=float(b.gpa_points), passing=b.passing,
                                                              earns_credit=b.earns_credit) for b in scale.bands])


class ClassScaleOut(OutputModel):
    class_id: int
    class_code: str
    scale_id: int | None
    scale_code: str | None = None


class DefaultScaleOut(OutputModel):
    scale_id: int | None = Field(description="The default scale; null for the built-in BASIC scale.")
    code: str
    previous_scale_id: int | None
    previous_code: str
    classes_affected: int = Field(description="Classes without a scale of their own, now graded by this one.")


class ImportGradesOut(OutputModel):
    class_id: int
    class_code: str
    rows: int = Field(description="Score lines read.")
    created: int = Field(description="Scores recorded.")
    unchanged: int = Field(description="Lines whose identical score was already recorded (a repeated import).")


class TermGradeChangeOut(OutputModel):
    at: datetime = Field(description="UTC.")
    before: dict[str, Any] = Field(description="percentage and letter before the change.")
    after: dict[str, Any] = Field(description="percentage and letter after it.")
    reason: str | None
    requested_by: int | None = Field(description="User id.")
    approved_by: int | None = Field(description="User id of the admin who approved it.")
    request_id: int | None = Field(description="The grade change request (pending action) id.")


class TranscriptLineOut(OutputModel):
    academic_year: str
    term: str
    class_code: str
    subject: str
    percentage: float | None
    letter: str | None
    gpa_points: float | None
    credits: float
    earns_credit: bool | None
    history: list[TermGradeChangeOut] = Field(description="Approved changes after publication, oldest first.")


class TranscriptOut(OutputModel):
    student_id: int
    student_code: str
    student_name: str
    lines: list[TranscriptLineOut] = Field(description="Published term grades, oldest term first.")
    term_gpa: dict[str, float | None] = Field(description="GPA per term id (credit-weighted GPA points).")
    gpa: float | None = Field(description="Cumulative GPA over every published term grade, 2 decimals.")
    credits_earned: float


def term_grade_change_out(c: gradebook.TermGradeChange) -> TermGradeChangeOut:
    """One approved change of a published term grade: before, after, why and who."""
    return TermGradeChangeOut(at=c.at,
                              before={"percentage": from_x100_or_none(c.percentage_before_x100),
                                      "letter": c.letter_before},
                              after={"percentage": from_x100_or_none(c.percentage_after_x100),
                                     "letter": c.letter_after},
                              reason=c.reason, requested_by=c.requested_by, approved_by=c.approved_by,
                              request_id=c.action_id)


class ChangeRequestOut(OutputModel):
    request_id: int = Field(description="The pending action id: approve_action / reject_action decide it.")
    status: str = Field(description="proposed (waiting for the requester's confirm_action), queued (waiting for "
                                    "an admin), executed, rejected, cancelled, expired, stale or failed.")
    class_code: str | None
    assessment: str | None
    student: str | None = Field(description="Code and name.")
    student_id: int
    student_code: str | None = None
    original: dict[str, Any] = Field(description="The published score (and status) before.")
    proposed: dict[str, Any] = Field(description="The score asked for.")
    term_grade: dict[str, Any] | None = Field(description="The published term grade before and after.")
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


class TermCommentOut(OutputModel):
    class_id: int
    class_code: str | None = None
    term_id: int
    term_code: str | None = None
    student_id: int
    student_code: str | None = None
    comment: str | None


class TermGradesPublishedOut(OutputModel):
    """A class's term grades published (publish_term_grades, once released): how many students and grades were
    frozen, and the class average (0-100) of the term grades."""

    class_id: int
    class_code: str
    term_id: int
    term_code: str | None = None
    published_students: int
    locked_grades: int
    class_average: float | None


def change_request_out(action: Any) -> ChangeRequestOut:
    """A grade change request as listed: `action` is a pending action of change_locked_grade (domain.actions'
    PendingAction, read through domain.actions.service), its preview and arguments JSON as the plan wrote them."""
    preview, arguments = json.loads(action.preview), json.loads(action.arguments)
    return ChangeRequestOut(request_id=action.id or 0, status=action.status, class_code=preview.get("class"),
                            assessment=preview.get("assessment"), student=preview.get("student"),
                            student_id=arguments["student_id"], original=preview.get("before", {}),
                            proposed=preview.get("after", {}), term_grade=preview.get("term_grade"),
                            reason=arguments.get("reason", ""), requested_by=action.requested_by_username,
                            requested_at=action.created_at, decided_by=action.decided_by_username,
                            decided_at=action.decided_at, decision_reason=action.decision_reason)
