"""Academics tools: the year's structure, students, classes, assessments, grades and their publication."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema, model_validator
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import plans, service
from domain.academics.models import (
    Assessment,
    Grade,
    GradeStatus,
    SchoolClass,
    Section,
    Student,
    StudentStatus,
)
from domain.academics.schemas import (
    AcademicYearRead,
    AssessmentRead,
    ClassRead,
    EnrollmentRead,
    GradebookRead,
    GradebookRow,
    GradeRead,
    GuardianRead,
    SectionRead,
    StudentRead,
    TermGradesPublishedOut,
    StudentSummary,
    SubjectRead,
    TeacherRead,
    TermGradeRead,
    TermGradesRead,
    TermRead,
    YearLevelRead,
)
from domain.kernel.actor import Actor, Role
from domain.kernel.errors import InvalidInput
from domain.kernel.plan import Plan
from tools.references import (
    AcademicYearRef,
    AssessmentRef,
    ClassRef,
    EmployeeRef,
    GuardianRef,
    SectionRef,
    StudentRef,
    SubjectRef,
    TermRef,
    YearLevelRef,
)
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import (
    ChangeInput,
    Code,
    Email,
    LongText,
    Name,
    Page,
    PageInput,
    Query,
    Reason,
    ShortText,
    ToolInput,
    models_of,
    page_of,
    ranked_page_of,
)

module = Module("academics", depends_on=("hr",), description="Years, sections, students, classes and grades.")

EVERYONE_STAFF = frozenset({Role.ADMIN, Role.REGISTRAR, Role.TEACHER, Role.HR, Role.VIEWER})
ACADEMIC_READERS = frozenset({Role.ADMIN, Role.REGISTRAR, Role.TEACHER, Role.VIEWER})
REGISTRY = frozenset({Role.ADMIN, Role.REGISTRAR})
GRADERS = frozenset({Role.ADMIN, Role.REGISTRAR, Role.TEACHER})

Score = Annotated[Decimal, Field(ge=0, le=100000, max_digits=8, decimal_places=2),
                  WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100000,
                                  "description": "Points, up to two decimal places."})]
Weight = Annotated[Decimal, Field(gt=0, le=100, max_digits=5, decimal_places=2),
                   WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 100,
                                   "description": "Percent of the term grade, up to two decimal places."})]


def x100(value: Decimal) -> int:
    return int(value * 100)


def from_x100(value: int) -> float:
    return value / 100


# ---------------------------------------------------------------- inputs


class PageOnly(PageInput):
    pass


class ListTermsIn(PageInput):
    academic_year_id: AcademicYearRef | None = None


class ListSectionsIn(PageInput):
    academic_year_id: AcademicYearRef | None = None
    year_level_id: YearLevelRef | None = None


class SectionIdIn(ToolInput):
    section_id: SectionRef


class ListClassesIn(PageInput):
    section_id: SectionRef | None = None
    teacher_id: EmployeeRef | None = None
    subject_id: SubjectRef | None = None


class ClassIdIn(ToolInput):
    class_id: ClassRef


class ListStudentsIn(PageInput):
    section_id: SectionRef | None = None
    year_level_id: YearLevelRef | None = None
    class_id: ClassRef | None = Field(default=None, description="Only students actively enrolled in this class.")
    status: StudentStatus | None = None


class SearchStudentsIn(PageInput):
    query: Query


class StudentIdIn(ToolInput):
    student_id: StudentRef


class CreateAcademicYearIn(ToolInput):
    code: Code = Field(description="e.g. 2026-27")
    name: Name
    start_date: date
    end_date: date


class CreateTermIn(ToolInput):
    academic_year_id: AcademicYearRef
    number: int = Field(ge=1, le=6)
    name: Name
    start_date: date
    end_date: date


class CreateYearLevelIn(ToolInput):
    code: Code = Field(description="e.g. Y7")
    name: Name
    ordinal: int = Field(ge=0, le=20)


class CreateSectionIn(ToolInput):
    code: Code = Field(description="e.g. 7B")
    name: Name
    year_level_id: YearLevelRef
    academic_year_id: AcademicYearRef
    homeroom_teacher_id: EmployeeRef | None = None


MAX_WEEKLY_LESSONS = 40
WeeklyLessons = Annotated[int, Field(ge=0, le=MAX_WEEKLY_LESSONS)]


class CreateSubjectIn(ToolInput):
    code: Code = Field(description="e.g. MATH")
    name: Name
    weekly_lessons: WeeklyLessons = Field(default=4, description="Lessons a week of each class; 0: none.")
    credits: Annotated[Decimal, Field(ge=0, le=20, max_digits=4, decimal_places=2),
                       WithJsonSchema({"type": "number", "minimum": 0, "maximum": 20})] = Field(
        default=Decimal(1), description="Credits a passing term grade earns (GPA weight).")


class CreateClassIn(ToolInput):
    section_id: SectionRef
    subject_id: SubjectRef
    teacher_id: EmployeeRef
    weekly_lessons: WeeklyLessons | None = Field(default=None, description="omitted: the subject's.")


class SubjectWeeklyLessonsIn(ToolInput):
    subject_id: SubjectRef
    weekly_lessons: WeeklyLessons = Field(description="0: not timetabled.")


class ClassWeeklyLessonsIn(ToolInput):
    class_id: ClassRef
    weekly_lessons: WeeklyLessons | None = Field(description="null: the subject's number again.")


class GuardianIn(ToolInput):
    name: Name
    relationship: Annotated[str, Field(min_length=1, max_length=40)] = Field(description="mother, father, guardian...")
    phone: Annotated[str, Field(min_length=3, max_length=40)] | None = None
    email: Email | None = None


class CreateStudentIn(ToolInput):
    first_name: Name
    last_name: Name
    date_of_birth: date
    year_level_id: YearLevelRef
    section_id: SectionRef | None = None
    guardians: list[GuardianIn] = Field(default_factory=list, max_length=6)
    code: Code | None = Field(default=None, description="Omit for the next S<year>-NNNN code.")
    enroll_in_section_classes: bool = True


class UpdateStudentIn(ChangeInput):
    target = "student_id"
    student_id: StudentRef
    first_name: Name | None = None
    last_name: Name | None = None
    date_of_birth: date | None = None
    status: StudentStatus | None = None


class AddGuardianIn(GuardianIn):
    student_id: StudentRef


class UpdateGuardianIn(ChangeInput):
    target = "guardian_id"
    guardian_id: GuardianRef = Field(description="A guardian's record (get_student shows a student's guardians with "
                                                 "their ids).")
    name: Name | None = None
    relationship: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    phone: Annotated[str, Field(min_length=3, max_length=40)] | None = None
    email: Email | None = None


class EnrollStudentIn(ToolInput):
    student_id: StudentRef
    class_id: ClassRef
    enrolled_on: date | None = None


class ListEnrollmentsIn(PageInput):
    class_id: ClassRef | None = None
    student_id: StudentRef | None = None

    @model_validator(mode="after")
    def _one_filter(self):
        if self.class_id is None and self.student_id is None:
            raise ValueError("give class_id or student_id")
        return self


class CreateAssessmentIn(ToolInput):
    class_id: ClassRef
    term_id: TermRef
    title: ShortText
    max_score: Score = Field(description="In points.")
    weight: Weight = Field(default=Decimal(100), description="Percent of the term grade, renormalised over what "
                                                              "is graded; unused in a class with categories.")
    category: Annotated[str, Field(min_length=1, max_length=60)] | None = Field(
        default=None, description="Required in a class with categories: one of their codes "
                                  "(get_grading_categories).")
    due_date: date | None = None


class ListAssessmentsIn(PageInput):
    class_id: ClassRef
    term_id: TermRef | None = None


class GradeKeyIn(ToolInput):
    assessment_id: AssessmentRef
    student_id: StudentRef


class RecordGradeIn(ToolInput):
    assessment_id: AssessmentRef
    student_id: StudentRef
    score: Score | None = Field(default=None, description="Points, up to the assessment's maximum; only when "
                                                          "status is scored.")
    status: Literal["scored", "missing", "excused"] = Field(
        default="scored", description="missing counts as 0; excused is left out.")
    comment: LongText | None = None


class ChangeGradeIn(ToolInput):
    assessment_id: AssessmentRef
    student_id: StudentRef
    score: Score
    comment: LongText | None = None


class ChangeLockedGradeIn(ToolInput):
    assessment_id: AssessmentRef
    student_id: StudentRef
    score: Score
    reason: Reason = Field(description="Kept with the record.")


class ClassTermIn(ToolInput):
    class_id: ClassRef
    term_id: TermRef


class GradebookIn(PageInput):
    class_id: ClassRef
    term_id: TermRef


# ---------------------------------------------------------------- helpers


def _assessment_read(a: Assessment, cls: SchoolClass | None = None) -> AssessmentRead:
    # With its class (the one of a.class_id), its code is shown as fill_codes would read it
    return AssessmentRead(id=a.id or 0, class_id=a.class_id, term_id=a.term_id, title=a.title, category=a.category,
                          max_score=from_x100(a.max_score_x100), weight=from_x100(a.weight_x100), due_date=a.due_date,
                          class_code=None if cls is None else cls.code)


def _grade_read(g: Grade, a: Assessment, student: Student | None = None,
                cls: SchoolClass | None = None) -> GradeRead:
    # With the class, the assessment's code is "<class code> <title>", as fill_codes would read it (codes_of).
    return GradeRead(id=g.id or 0, assessment_id=g.assessment_id, student_id=g.student_id,
                     score=None if g.score_x100 is None else from_x100(g.score_x100), status=g.status,
                     max_score=from_x100(a.max_score_x100), comment=g.comment,
                     locked=g.locked, version=g.version, student_code=student.code if student else None,
                     assessment_title=a.title, assessment_code=f"{cls.code} {a.title}" if cls else None)


async def _student_read(ctx: ToolContext, student_id: int) -> StudentRead:
    """A student as get_student shows them: personal data only for the roles that may see it."""
    detail = await service.student_detail(ctx.session, ctx.actor, student_id=student_id)
    first, personal = detail.row, detail.personal_data
    guardians = None if detail.guardians is None else [
        GuardianRead(id=r.guardian_id, name=r.guardian_name, relationship=r.guardian_relationship,
                     phone=r.guardian_phone, email=r.guardian_email) for r in detail.guardians]
    return StudentRead(id=first.id, code=first.code, first_name=first.first_name, last_name=first.last_name,
                       year_level_id=first.year_level_id, year_level_code=first.year_level_code,
                       section_id=first.section_id, section_code=first.section_code, status=first.status,
                       version=first.version, personal_data_included=personal,
                       date_of_birth=first.date_of_birth if personal else None, guardians=guardians)


def _class_read(listing: service.ClassListing) -> ClassRead:
    return ClassRead.model_validate(listing.cls).model_copy(update={"teacher_name": listing.teacher_name,
                                                                    "teacher_code": listing.teacher_code,
                                                                    "subject_name": listing.subject_name})


async def _section_reads(ctx: ToolContext, rows: list[tuple[Section, int | None]]) -> list[SectionRead]:
    codes = await service.employee_codes(ctx.session, {s.homeroom_teacher_id for s, _ in rows
                                                       if s.homeroom_teacher_id is not None})
    return [SectionRead.model_validate(s).model_copy(update={
        "student_count": n, "homeroom_teacher_code": codes.get(s.homeroom_teacher_id or 0)}) for s, n in rows]


def _summary_page(rows: list, limit: int, *, ranked_from: int | None = None) -> Page[StudentSummary]:
    page, cursor = page_of(rows, limit) if ranked_from is None else ranked_page_of(rows, limit, ranked_from)
    return Page[StudentSummary](items=models_of(StudentSummary, page), next_cursor=cursor)


def _simple_page(rows: list, limit: int, read_model):
    page, cursor = page_of(rows, limit)
    return Page[read_model](items=models_of(read_model, page), next_cursor=cursor)


# ---------------------------------------------------------------- structure


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def list_academic_years(ctx: ToolContext, args: PageOnly) -> Page[AcademicYearRead]:
    """List academic years (codes like 2026-27)."""
    rows = await service.list_academic_years(ctx.session, after_id=args.after_id(), limit=args.limit)
    return _simple_page(rows, args.limit, AcademicYearRead)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_academic_year(ctx: ToolContext, args: CreateAcademicYearIn) -> AcademicYearRead:
    """Create an academic year with its first and last day."""
    row = await service.create_academic_year(ctx.session, ctx.actor, **args.model_dump())
    return AcademicYearRead.model_validate(row)


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def list_terms(ctx: ToolContext, args: ListTermsIn) -> Page[TermRead]:
    """List terms, optionally of one academic year."""
    rows = await service.list_terms(ctx.session, after_id=args.after_id(), limit=args.limit,
                                    academic_year_id=args.academic_year_id)
    return _simple_page(rows, args.limit, TermRead)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_term(ctx: ToolContext, args: CreateTermIn) -> TermRead:
    """Create a term (number 1, 2, ...) within an academic year's dates."""
    return TermRead.model_validate(await service.create_term(ctx.session, ctx.actor, **args.model_dump()))


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def list_year_levels(ctx: ToolContext, args: PageOnly) -> Page[YearLevelRead]:
    """List year levels (grades), e.g. Y7 Year 7."""
    rows = await service.list_year_levels(ctx.session, after_id=args.after_id(), limit=args.limit)
    return _simple_page(rows, args.limit, YearLevelRead)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_year_level(ctx: ToolContext, args: CreateYearLevelIn) -> YearLevelRead:
    """Create a year level (grade)."""
    return YearLevelRead.model_validate(await service.create_year_level(ctx.session, ctx.actor, **args.model_dump()))


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def list_sections(ctx: ToolContext, args: ListSectionsIn) -> Page[SectionRead]:
    """List sections (homeroom groups such as 7B)."""
    rows = await service.list_sections(ctx.session, after_id=args.after_id(), limit=args.limit,
                                       academic_year_id=args.academic_year_id, year_level_id=args.year_level_id)
    page, cursor = page_of(rows, args.limit, key=lambda row: row[0].id)
    return Page[SectionRead](items=await _section_reads(ctx, page), next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def get_section(ctx: ToolContext, args: SectionIdIn) -> SectionRead:
    """Get one section."""
    return (await _section_reads(ctx, [await service.section_with_size(ctx.session, section_id=args.section_id)]))[0]


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_section(ctx: ToolContext, args: CreateSectionIn) -> SectionRead:
    """Create a section of a year level in an academic year, optionally with a homeroom teacher."""
    section = await service.create_section(ctx.session, ctx.actor, **args.model_dump())
    return (await _section_reads(ctx, [(section, None)]))[0]


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def list_subjects(ctx: ToolContext, args: PageOnly) -> Page[SubjectRead]:
    """List the subjects of the curriculum (MATH Mathematics, ...)."""
    rows = await service.list_subjects(ctx.session, after_id=args.after_id(), limit=args.limit)
    return _simple_page(rows, args.limit, SubjectRead)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_subject(ctx: ToolContext, args: CreateSubjectIn) -> SubjectRead:
    """Create a subject."""
    fields = args.model_dump(exclude={"credits"})
    return SubjectRead.model_validate(await service.create_subject(ctx.session, ctx.actor, **fields,
                                                                   credits_x100=int(args.credits * 100)))


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def list_teachers(ctx: ToolContext, args: PageOnly) -> Page[TeacherRead]:
    """List employees who teach at least one class, with their number of classes."""
    rows = await service.list_teachers(ctx.session, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit, key=lambda row: row[0].id)
    items = [TeacherRead(employee_id=e.id, code=e.code, first_name=e.first_name, last_name=e.last_name,
                         position=e.position, class_count=n) for e, n in page]
    return Page[TeacherRead](items=items, next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def list_classes(ctx: ToolContext, args: ListClassesIn) -> Page[ClassRead]:
    """List classes (a subject taught to a section by a teacher, code like 7B-MATH)."""
    rows = await service.list_classes(ctx.session, after_id=args.after_id(), limit=args.limit,
                                      section_id=args.section_id, teacher_id=args.teacher_id,
                                      subject_id=args.subject_id)
    page, cursor = page_of(rows, args.limit, key=lambda listing: listing.cls.id)
    return Page[ClassRead](items=[_class_read(listing) for listing in page], next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=EVERYONE_STAFF)
async def get_class(ctx: ToolContext, args: ClassIdIn) -> ClassRead:
    """Get one class."""
    return _class_read(await service.class_listing(ctx.session, class_id=args.class_id))


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_class(ctx: ToolContext, args: CreateClassIn) -> ClassRead:
    """Create the class of a subject in a section with its teacher (code SECTION-SUBJECT)."""
    cls = await service.create_class(ctx.session, ctx.actor, **args.model_dump())
    return _class_read(await service.class_listing(ctx.session, class_id=cls.id))


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def set_subject_weekly_lessons(ctx: ToolContext, args: SubjectWeeklyLessonsIn) -> SubjectRead:
    """Set how many lessons a week each class of a subject gets (classes with their own number keep it), from the next
    build_timetable_problem."""
    return SubjectRead.model_validate(await service.set_weekly_lessons(
        ctx.session, ctx.actor, subject_id=args.subject_id, weekly_lessons=args.weekly_lessons))


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def set_class_weekly_lessons(ctx: ToolContext, args: ClassWeeklyLessonsIn) -> ClassRead:
    """Set how many lessons a week one class gets, overriding its subject's, from the next build_timetable_problem."""
    await service.set_weekly_lessons(ctx.session, ctx.actor, class_id=args.class_id,
                                     weekly_lessons=args.weekly_lessons)
    return _class_read(await service.class_listing(ctx.session, class_id=args.class_id))


# ---------------------------------------------------------------- students


@module.tool(effect=Effect.READ, roles=ACADEMIC_READERS)
async def list_students(ctx: ToolContext, args: ListStudentsIn) -> Page[StudentSummary]:
    """List students without personal data (get_student has it, for the roles allowed to see it). Teachers see
    only the students of their classes and sections."""
    rows = await service.list_students(ctx.session, ctx.actor, after_id=args.after_id(), limit=args.limit,
                                       section_id=args.section_id, year_level_id=args.year_level_id,
                                       class_id=args.class_id, status=args.status)
    return _summary_page(rows, args.limit)


@module.tool(effect=Effect.READ, roles=ACADEMIC_READERS)
async def search_students(ctx: ToolContext, args: SearchStudentsIn) -> Page[StudentSummary]:
    """Find students by part of a name or their code, case and accents ignored, nearest first, then by a guardian's
    name."""
    start = args.after_id()
    rows = await service.list_students(ctx.session, ctx.actor, after_id=start, limit=args.limit, query=args.query)
    return _summary_page(rows, args.limit, ranked_from=start)


@module.tool(effect=Effect.READ, roles=ACADEMIC_READERS)
async def get_student(ctx: ToolContext, args: StudentIdIn) -> StudentRead:
    """Get one student; date of birth and guardians' contacts only for admin and registrar. Teachers get only the
    students list_students shows them."""
    return await _student_read(ctx, args.student_id)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_student(ctx: ToolContext, args: CreateStudentIn) -> StudentRead:
    """Admit a student with guardians into a year level and section."""
    data = args.model_dump(exclude={"guardians"})
    guardians = [service.GuardianInput(**g.model_dump()) for g in args.guardians]
    student = await service.create_student(ctx.session, ctx.actor, guardians=guardians, **data)
    return await _student_read(ctx, student.id or 0)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def update_student(ctx: ToolContext, args: UpdateStudentIn) -> StudentRead:
    """Change a student's names, date of birth or status."""
    changes = args.model_dump(exclude_none=True, exclude={"student_id"})
    student = await service.update_student(ctx.session, ctx.actor, student_id=args.student_id, changes=changes)
    return await _student_read(ctx, student.id or 0)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def add_guardian(ctx: ToolContext, args: AddGuardianIn) -> StudentRead:
    """Add a parent or guardian to a student's record (at most 6); invite_guardian then gives them an account.
    Answers with the student and their guardians."""
    guardian = service.GuardianInput(**args.model_dump(exclude={"student_id"}))
    await service.add_guardian(ctx.session, ctx.actor, student_id=args.student_id, guardian=guardian)
    return await _student_read(ctx, args.student_id)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def update_guardian(ctx: ToolContext, args: UpdateGuardianIn) -> StudentRead:
    """Change a guardian's name, relationship, phone or email on a student's record (e.g. the email invite_guardian
    needs). Answers with the student and their guardians."""
    changes = args.model_dump(exclude_none=True, exclude={"guardian_id"})
    record = await service.update_guardian(ctx.session, ctx.actor, guardian_id=args.guardian_id, changes=changes)
    return await _student_read(ctx, record.student_id)


@module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def enroll_student(ctx: ToolContext, args: EnrollStudentIn) -> EnrollmentRead:
    """Enroll a student in a class of their year level (re-activates a dropped enrollment)."""
    row = await service.enroll_student(ctx.session, ctx.actor, **args.model_dump())
    return EnrollmentRead.model_validate(row)


@module.tool(effect=Effect.READ, roles=ACADEMIC_READERS)
async def list_enrollments(ctx: ToolContext, args: ListEnrollmentsIn) -> Page[EnrollmentRead]:
    """List the enrollments of a class or of a student. Teachers only for their own classes."""
    rows = await service.list_enrollments(ctx.session, ctx.actor, after_id=args.after_id(), limit=args.limit,
                                          class_id=args.class_id, student_id=args.student_id)
    page, cursor = page_of(rows, args.limit, key=lambda row: row[0].id)
    items = [EnrollmentRead.model_validate(e).model_copy(update={
        "student_code": s.code, "student_name": s.full_name, "class_code": c.code}) for e, s, c in page]
    return Page[EnrollmentRead](items=items, next_cursor=cursor)


# ---------------------------------------------------------------- assessments and grades


@module.tool(effect=Effect.WRITE, roles=GRADERS)
async def create_assessment(ctx: ToolContext, args: CreateAssessmentIn) -> AssessmentRead:
    """Create an assessment for a class in a term. Teachers only for their own classes."""
    if args.max_score <= 0:
        raise InvalidInput("max_score must be greater than 0", field="max_score")
    row = await service.create_assessment(ctx.session, ctx.actor, class_id=args.class_id, term_id=args.term_id,
                                          title=args.title, max_score_x100=x100(args.max_score),
                                          weight_x100=x100(args.weight), category=args.category,
                                          due_date=args.due_date)
    return _assessment_read(row)


@module.tool(effect=Effect.READ, roles=ACADEMIC_READERS)
async def list_assessments(ctx: ToolContext, args: ListAssessmentsIn) -> Page[AssessmentRead]:
    """List a class's assessments."""
    rows = await service.list_assessments(ctx.session, ctx.actor, class_id=args.class_id, term_id=args.term_id,
                                          after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit)
    return Page[AssessmentRead](items=[_assessment_read(a) for a in page], next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=GRADERS)
async def get_grade(ctx: ToolContext, args: GradeKeyIn) -> GradeRead:
    """Get a student's result on an assessment, with its lock state. Teachers only for their own classes."""
    target = await service.grade_target(ctx.session, ctx.actor, assessment_id=args.assessment_id,
                                        student_id=args.student_id)
    if target.grade is None:
        raise service.NotFound(f"{target.student.code} has no score on '{target.assessment.title}' yet",
                               field="student_id")
    return _grade_read(target.grade, target.assessment, target.student)


@module.tool(effect=Effect.READ, roles=GRADERS)
async def get_gradebook(ctx: ToolContext, args: GradebookIn) -> GradebookRead:
    """Get a class's gradebook for a term: its assessments and each student's scores and running weighted percentage, a
    page of students at a time. Teachers only for their own classes."""
    # The cells are the results the grading read (one (status, score_x100) or None per assessment, in order), so
    # no Grade row is loaded to show them.
    comp = await service.compute_term_grades(ctx.session, ctx.actor, class_id=args.class_id, term_id=args.term_id,
                                             with_grade_rows=False)
    after = args.after_id()
    lines = [line for line in comp.lines if (line.student.id or 0) > after][:args.limit + 1]
    page, cursor = page_of(lines, args.limit, key=lambda line: line.student.id)
    keys = [str(a.id) for a in comp.assessments]
    rows = [GradebookRow(student_id=line.student.id or 0, student_code=line.student.code,
                         student_name=line.student.full_name,
                         scores={key: None if cell is None or cell[1] is None else from_x100(cell[1])
                                 for key, cell in zip(keys, line.cells, strict=True)},
                         statuses={key: cell[0] for key, cell in zip(keys, line.cells, strict=True)
                                   if cell is not None},
                         running_percentage=None if line.percentage_x100 is None else from_x100(line.percentage_x100))
            for line in page]
    return GradebookRead(class_id=comp.cls.id or 0, class_code=comp.cls.code, term_id=comp.term.id or 0,
                         published=comp.published,
                         assessments=[_assessment_read(a, comp.cls) for a in comp.assessments],
                         rows=rows, next_cursor=cursor)


@module.tool(effect=Effect.WRITE, roles=GRADERS)
async def record_grade(ctx: ToolContext, args: RecordGradeIn) -> GradeRead:
    """Record a student's first result on an assessment: a score, or missing or excused without one. A recorded result:
    change_grade; once published: change_locked_grade. Teachers only for their own classes."""
    target = await service.record_grade(ctx.session, ctx.actor, assessment_id=args.assessment_id,
                                        student_id=args.student_id,
                                        score_x100=None if args.score is None else x100(args.score),
                                        comment=args.comment, status=GradeStatus(args.status))
    assert target.grade is not None
    return _grade_read(target.grade, target.assessment, target.student, target.cls)


def _plan_change_grade(session: AsyncSession, actor: Actor, args: ChangeGradeIn) -> Awaitable[Plan]:
    return plans.plan_change_grade(session, actor, assessment_id=args.assessment_id, student_id=args.student_id,
                                   score_x100=x100(args.score), comment=args.comment)


@module.tool(effect=Effect.DESTRUCTIVE, roles=GRADERS, gate=GateLevel.CONFIRM, plan=_plan_change_grade)
async def change_grade(ctx: ToolContext, args: ChangeGradeIn) -> GradeRead:
    """Change an existing, unpublished score. Teachers only for their own classes."""
    target = await service.grade_target(ctx.session, ctx.actor, assessment_id=args.assessment_id,
                                        student_id=args.student_id)
    assert target.grade is not None
    return _grade_read(target.grade, target.assessment)


def _plan_change_locked(session: AsyncSession, actor: Actor, args: ChangeLockedGradeIn) -> Awaitable[Plan]:
    return plans.plan_change_locked_grade(session, actor, assessment_id=args.assessment_id,
                                          student_id=args.student_id, score_x100=x100(args.score), reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=GRADERS, gate=GateLevel.APPROVE, plan=_plan_change_locked)
async def change_locked_grade(ctx: ToolContext, args: ChangeLockedGradeIn) -> GradeRead:
    """Request a change of a score locked by its term's publication (a grade change request). Once approved, the
    published term grade is recomputed and the change kept in the grade's history. Teachers only for their own
    classes."""
    target = await service.grade_target(ctx.session, ctx.actor, assessment_id=args.assessment_id,
                                        student_id=args.student_id)
    assert target.grade is not None
    return _grade_read(target.grade, target.assessment, target.student)


def _term_grades_read(comp: service.TermGradeComputation, published_rows: dict | None = None) -> TermGradesRead:
    grades = []
    for line in comp.lines:
        row = (published_rows or {}).get(line.student.id)
        pct = row.percentage_x100 if row is not None else line.percentage_x100
        letter = row.letter if row is not None else line.letter
        grades.append(TermGradeRead(student_id=line.student.id or 0, student_code=line.student.code,
                                    student_name=line.student.full_name,
                                    percentage=None if pct is None else from_x100(pct), letter=letter,
                                    published=row is not None, version=row.version if row is not None else None))
    avg = comp.class_average_x100
    return TermGradesRead(class_id=comp.cls.id or 0, class_code=comp.cls.code, term_id=comp.term.id or 0,
                          published=comp.published, grades=grades,
                          class_average=None if avg is None else from_x100(avg), missing_scores=comp.missing)


@module.tool(effect=Effect.READ, roles=GRADERS)
async def get_term_grades(ctx: ToolContext, args: ClassTermIn) -> TermGradesRead:
    """Show a class's term grades: the published ones once published, else the current percentages and letters, with the
    class average and missing scores."""
    comp, published = await service.term_grades(ctx.session, ctx.actor, class_id=args.class_id,
                                                term_id=args.term_id)
    return _term_grades_read(comp, published)


def _plan_publish(session: AsyncSession, actor: Actor, args: ClassTermIn) -> Awaitable[Plan]:
    return plans.plan_publish_term_grades(session, actor, class_id=args.class_id, term_id=args.term_id)


@module.tool(effect=Effect.DESTRUCTIVE, roles=REGISTRY, gate=GateLevel.APPROVE, plan=_plan_publish)
async def publish_term_grades(ctx: ToolContext, args: ClassTermIn) -> TermGradesPublishedOut:
    """Publish a class's term grades: freeze each student's percentage and letter and lock the term's scores (later
    changes: change_locked_grade)."""
    assert ctx.plan is not None
    return TermGradesPublishedOut(**plans.publish_outcome(ctx.plan))
