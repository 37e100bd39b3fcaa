"""A school of families for the guardian tests: the fee school (tests.fees_helpers: families Kim with Ana, Ben and
Cai; Lee with Dee; Moe with Eli; Ned in no family), issued invoices, a class with published term grades and one
with grades not yet published, register days, and an account for one guardian of each family, invited by the
registrar through invite_guardian. Kim's parent is linked to Ana's and Ben's records, not to Cai's (another
guardian's child in the same family): they see the family's fees but not Cai's grades."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import select

from domain.academics import service as academics
from domain.academics.attendance_models import AttendanceRecord
from domain.academics.models import Guardian
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR, Actor, Channel
from tests.factories import make_user, unique
from tests.fees_helpers import make_fee_school
from tests.gate_helpers import released
from tools.invoke import invoke
from tools.runtime import Runtime

SCORES = {"Ana": 91, "Ben": 67, "Cai": 78, "Dee": 84, "Eli": 55, "Ned": 72}
LINKED = {"kim": ("Ana", "Ben"), "lee": ("Dee",), "moe": ("Eli",), "ned": ("Ned",)}
FAMILY_OF = {"kim": "Kim", "lee": "Lee", "moe": "Moe", "ned": None}
STATUSES = ("present", "absent", "late", "present", "excused")


@dataclass
class World:
    """Ids of the families' school and the guardians' actors (key: kim, lee, moe, ned)."""

    students: dict[str, int]
    families: dict[str, int]
    guardians: dict[str, Actor]
    emails: dict[str, str]
    term_id: int
    published_classes: set[int]
    draft_classes: set[int]
    registrar: Actor
    admin: Actor
    invoices: dict[int, list[int]] = field(default_factory=dict)  # family id -> invoice ids
    student_codes: dict[int, str] = field(default_factory=dict)
    invoice_numbers: dict[int, str] = field(default_factory=dict)  # invoice id -> number

    def children(self, who: str) -> set[int]:
        return {self.students[name] for name in LINKED[who]}

    def family(self, who: str) -> int | None:
        name = FAMILY_OF[who]
        return None if name is None else self.families[name]


async def build_world(runtime: Runtime) -> World:
    """Build the school (several committed transactions) and return its ids."""
    fee = await make_fee_school(runtime)
    tag = unique().lower()
    emails = {who: f"{who}.parent.{tag}@example.org" for who in LINKED}
    async with runtime.db.write() as s:
        registrar = await make_user(s, roles="registrar")
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("D"), name="Teachers")
        teacher = await hr.create_employee(s, SYSTEM_ACTOR, first_name="Tess", last_name=f"Teach{tag}",
                                           work_email=f"tess.{tag}@example.org", position="Teacher",
                                           department_id=dep.id, hire_date=date(2020, 8, 1),
                                           employment_type=EmploymentType.FULL_TIME)
        term = await academics.get_term(s, fee.term_id)
        subjects = [await academics.create_subject(s, SYSTEM_ACTOR, code=unique("SUB"), name=name)
                    for name in ("Mathematics", "Science")]
        level_of = {sid: st.year_level_id for sid, st in
                    (await academics.students_by_id(s, list(fee.students.values()))).items()}
        classes: dict[tuple[int, str], object] = {}  # (year level, subject name) -> class
        section_of: dict[int, int] = {}
        for level in (fee.y7, fee.y8):
            section = await academics.create_section(s, SYSTEM_ACTOR, code=unique("S"), name=f"Level {level}",
                                                     year_level_id=level, academic_year_id=term.academic_year_id,
                                                     homeroom_teacher_id=None)
            section_of[level] = section.id
            for subject in subjects:
                classes[(level, subject.name)] = await academics.create_class(
                    s, SYSTEM_ACTOR, section_id=section.id, subject_id=subject.id, teacher_id=teacher.id)
        assessments = {}
        for (level, subject_name), cls in classes.items():
            for sid in fee.students.values():
                if level_of[sid] == level:
                    await academics.enroll_student(s, SYSTEM_ACTOR, student_id=sid, class_id=cls.id,
                                                   enrolled_on=term.start_date)
            assessments[cls.id] = (subject_name, level, await academics.create_assessment(
                s, SYSTEM_ACTOR, class_id=cls.id, term_id=term.id, title="Unit test", max_score_x100=10000,
                weight_x100=10000, category=None, due_date=None))
        guardians = await academics.guardians_of_students(s, list(fee.students.values()))
        for who, names in LINKED.items():  # one person, one address, on each linked child's record
            for name in names:
                record = guardians[fee.students[name]][0]
                record.email, record.name = emails[who], f"{who.title()} Parent"
                s.add(record)
        day = term.start_date
        for n, sid in enumerate(sorted(fee.students.values())):
            for k in range(5):
                s.add(AttendanceRecord(section_id=section_of[level_of[sid]], student_id=sid,
                                       on_date=day + timedelta(days=k), status=STATUSES[(n + k) % len(STATUSES)],
                                       note=f"note {n}-{k}"))
    for subject_name, level, assessment in assessments.values():
        for name, sid in fee.students.items():
            if level_of[sid] == level:
                score = SCORES[name] - (7 if subject_name == "Science" else 0)
                await invoke(runtime, "record_grade", {"assessment_id": assessment.id, "student_id": sid,
                                                       "score": score}, fee.admin)
    for level in (fee.y7, fee.y8):  # mathematics is published, science is not
        pending = await invoke(runtime, "publish_term_grades", {"class_id": classes[(level, "Mathematics")].id,
                                                                "term_id": term.id}, registrar)
        await released(runtime, pending, registrar, fee.admin)
    job = await invoke(runtime, "generate_invoices", {"schedule_id": fee.schedule_id, "issue_date": "2026-01-20",
                                                      "wait_s": 30}, fee.bursar)
    assert job.status == "succeeded", job
    actors = {}
    for who, names in LINKED.items():
        invited = await invoke(runtime, "invite_guardian", {"guardian_id": guardians[fee.students[names[0]]][0].id,
                                                            "send_sign_in_link": False}, registrar)
        assert invited.student_ids == sorted(fee.students[name] for name in names), invited
        assert invited.username == emails[who], invited
        actor = await runtime.actor_for_user(emails[who], Channel.MCP_HTTP)
        assert actor is not None
        actors[who] = actor
    world = World(students=fee.students, families=fee.families, guardians=actors, emails=emails, term_id=term.id,
                  published_classes={classes[(lv, "Mathematics")].id for lv in (fee.y7, fee.y8)},
                  draft_classes={classes[(lv, "Science")].id for lv in (fee.y7, fee.y8)}, registrar=registrar,
                  admin=fee.admin)
    page = await invoke(runtime, "list_invoices", {"schedule_id": fee.schedule_id, "limit": 100}, fee.bursar)
    for inv in page.items:
        world.invoices.setdefault(inv.family_id, []).append(inv.invoice_id)
        world.invoice_numbers[inv.invoice_id] = inv.number
    async with runtime.db.read() as s:
        world.student_codes = {sid: st.code for sid, st in
                               (await academics.students_by_id(s, list(fee.students.values()))).items()}
        assert len((await s.exec(select(Guardian))).all()) >= len(fee.students)
    return world
