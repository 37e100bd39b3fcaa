"""Issue 17, finding 3: a teacher reads the roster, enrollments and assessments only of the classes they teach
(the gradebook's rule) and the students of the sections whose register they keep (homeroom, or a class of theirs
in the section), one student (get_student) as well as a page of them; admins, registrars and viewers read them
all.

A property test on a school of its own (fresh database, so every row is known): Hypothesis draws an actor and a
tool call, and the answer is compared with a model of who teaches what, built here from the school's plan, not
from the code under test. The school has the awkward cases: a homeroom teacher with no class, a teacher with
classes in another teacher's homeroom, a student enrolled in a class of another section, a dropped enrollment,
a teacher account linked to no employee, and a teacher who is also a registrar.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from domain.academics import service as academics
from domain.academics.models import Enrollment, EnrollmentStatus
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from domain.kernel.errors import PermissionDenied
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tools.invoke import invoke
from tools.runtime import Runtime

# Sections (index: homeroom teacher index or None) and classes (section index, teacher index).
HOMEROOM = {0: 0, 1: 3, 2: None}
CLASSES = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 1)]  # teacher 3 teaches nothing; 0 only in section 0
STUDENTS_PER_SECTION = 2


@dataclass
class School:
    actors: dict[str, Actor]
    employee_of: dict[str, int | None]  # teacher actor name -> employee id
    section_ids: list[int]
    class_ids: list[int]
    class_teacher: dict[int, int]  # class id -> employee id
    class_section: dict[int, int]  # class id -> section id
    homeroom: dict[int, int | None]  # section id -> employee id
    student_section: dict[int, int] = field(default_factory=dict)
    enrollments: list[tuple[int, int, int, str]] = field(default_factory=list)  # (id, student, class, status)
    assessments: dict[int, set[int]] = field(default_factory=dict)  # class id -> assessment ids
    last_name: str = ""

    def scoped(self, name: str) -> int | None:
        """The employee whose students `name` may read, or None for every student (the model of the rule)."""
        return None if name in ("admin", "registrar", "viewer", "teacher_registrar") else self.employee_of[name] or -1

    def teaches(self, emp: int | None, class_id: int) -> bool:
        return emp is None or self.class_teacher[class_id] == emp

    def keeps(self, emp: int | None, section_id: int) -> bool:
        return emp is None or self.homeroom[section_id] == emp or any(
            self.class_section[c] == section_id and t == emp for c, t in self.class_teacher.items())

    def students_of(self, emp: int | None) -> set[int]:
        if emp is None:
            return set(self.student_section)
        return ({s for s, sec in self.student_section.items() if self.keeps(emp, sec)}
                | {s for _, s, c, status in self.enrollments if status == "active" and self.teaches(emp, c)})


async def build(rt: Runtime) -> School:
    tag, actor = unique(), SYSTEM_ACTOR
    async with rt.db.write() as s:
        dep = await hr.create_department(s, actor, code=unique("D"), name="Staff")
        employees = [await hr.create_employee(s, actor, first_name=f"T{i}", last_name=f"Teacher{tag}",
                                              work_email=f"t{i}.{tag}@example.org".lower(), position="Teacher",
                                              department_id=dep.id, hire_date=date(2020, 8, 1),
                                              employment_type=EmploymentType.FULL_TIME) for i in range(4)]
        year = await academics.create_academic_year(s, actor, code=unique("Y"), name="Year",
                                                    start_date=date(2026, 9, 1), end_date=date(2027, 6, 30))
        term = await academics.create_term(s, actor, academic_year_id=year.id, number=1, name="Term 1",
                                           start_date=date(2026, 9, 1), end_date=date(2026, 12, 18))
        level = await academics.create_year_level(s, actor, code=unique("L"), name="Year 7", ordinal=7)
        sections = [await academics.create_section(
            s, actor, code=unique("S"), name=f"7{'ABC'[i]}", year_level_id=level.id, academic_year_id=year.id,
            homeroom_teacher_id=employees[h].id if h is not None else None) for i, h in HOMEROOM.items()]
        subjects = [await academics.create_subject(s, actor, code=unique("U"), name=f"Subject {i}")
                    for i in range(2)]
        classes = []
        for n, (sec, teacher) in enumerate(CLASSES):
            classes.append(await academics.create_class(s, actor, section_id=sections[sec].id,
                                                        subject_id=subjects[n % 2].id,
                                                        teacher_id=employees[teacher].id))
        school = School(
            actors={}, employee_of={}, section_ids=[x.id for x in sections], class_ids=[c.id for c in classes],
            class_teacher={c.id: c.teacher_id for c in classes}, class_section={c.id: c.section_id for c in classes},
            homeroom={x.id: x.homeroom_teacher_id for x in sections}, last_name=f"Dent{tag}")
        for sec in sections:
            for i in range(STUDENTS_PER_SECTION):
                st_ = await academics.create_student(s, actor, first_name=f"Stu{i}", last_name=school.last_name,
                                                     date_of_birth=date(2014, 3, 1 + i), year_level_id=level.id,
                                                     section_id=sec.id, guardians=[])
                school.student_section[st_.id] = sec.id
        in_c = [sid for sid, sec in school.student_section.items() if sec == sections[2].id]
        # A student of section C in section A's class taught by teacher 0 (who has nothing else to do with C),
        # and another who was enrolled there and dropped out.
        await academics.enroll_student(s, actor, student_id=in_c[0], class_id=classes[0].id)
        dropped = await academics.enroll_student(s, actor, student_id=in_c[1], class_id=classes[0].id)
        dropped.status = EnrollmentStatus.DROPPED.value
        s.add(dropped)
        for cls in classes:
            a = await academics.create_assessment(s, actor, class_id=cls.id, term_id=term.id, title="Test",
                                                  max_score_x100=10000, weight_x100=10000, category=None,
                                                  due_date=None)
            school.assessments[cls.id] = {a.id}
        for i, e in enumerate(employees):
            school.actors[f"t{i}"] = await make_user(s, roles="teacher", employee_id=e.id)
            school.employee_of[f"t{i}"] = e.id
        school.actors["t_unlinked"] = await make_user(s, roles="teacher")
        school.employee_of["t_unlinked"] = None
        school.actors["teacher_registrar"] = await make_user(s, roles="teacher,registrar", employee_id=employees[3].id)
        for role in ("admin", "registrar", "viewer"):
            school.actors[role] = await make_user(s, roles=role)
        await s.flush()
        rows = (await s.exec(select(Enrollment))).all()
        school.enrollments = [(e.id, e.student_id, e.class_id, e.status) for e in rows]
    return school


@pytest.fixture(scope="module")
async def school_rt(tmp_path_factory) -> AsyncIterator[tuple[Runtime, School]]:
    async with own_runtime(tmp_path_factory, "roster-scope") as runtime:
        yield runtime, await build(runtime)


async def all_pages(rt, tool: str, args: dict, actor: Actor, limit: int = 3) -> list:
    items, cursor = [], None
    for _ in range(50):
        page = await invoke(rt, tool, {**args, "limit": limit, **({"cursor": cursor} if cursor else {})}, actor)
        items += page.items
        cursor = page.next_cursor
        if not cursor:
            return items
    raise AssertionError("more than 50 pages")


CALLS = ("list_students", "list_students_class", "list_students_section", "search_students",
         "list_enrollments_class", "list_enrollments_student", "list_assessments", "get_student")


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_a_teacher_reads_only_their_classes_and_sections(school_rt, data):
    rt, school = school_rt
    name = data.draw(st.sampled_from(sorted(school.actors)), label="actor")
    call = data.draw(st.sampled_from(CALLS), label="call")
    actor, emp = school.actors[name], school.scoped(name)
    class_id = data.draw(st.sampled_from(school.class_ids), label="class")
    section_id = data.draw(st.sampled_from(school.section_ids), label="section")
    student_id = data.draw(st.sampled_from(sorted(school.student_section)), label="student")
    allowed = True
    if call == "list_students":
        got = {x.id for x in await all_pages(rt, "list_students", {}, actor)}
        assert got == school.students_of(emp), (name, got)
    elif call == "search_students":
        got = {x.id for x in await all_pages(rt, "search_students", {"query": school.last_name}, actor)}
        assert got == school.students_of(emp), (name, got)
    elif call == "get_student":  # one student: exactly those list_students shows the actor
        try:
            got = await invoke(rt, "get_student", {"student_id": student_id}, actor)
        except PermissionDenied as exc:
            assert student_id not in school.students_of(emp), f"{name} refused their student {student_id}"
            assert "is not one of your students" in exc.message and "list_students" in exc.message
            assert exc.field == "student_id"
            return
        assert student_id in school.students_of(emp), f"{name} ({emp}) read student {student_id}"
        assert got.id == student_id and got.section_id == school.student_section[student_id]
    elif call == "list_enrollments_student":
        got = {x.id for x in await all_pages(rt, "list_enrollments", {"student_id": student_id}, actor)}
        assert got == {i for i, s, c, _ in school.enrollments if s == student_id and school.teaches(emp, c)}
    else:
        allowed = school.keeps(emp, section_id) if call == "list_students_section" else school.teaches(emp, class_id)
        tool, args = {
            "list_students_class": ("list_students", {"class_id": class_id}),
            "list_students_section": ("list_students", {"section_id": section_id}),
            "list_enrollments_class": ("list_enrollments", {"class_id": class_id}),
            "list_assessments": ("list_assessments", {"class_id": class_id}),
        }[call]
        try:
            items = await all_pages(rt, tool, args, actor)
        except PermissionDenied as exc:
            assert not allowed, f"{name} refused {call}: {exc.message}"
            assert "is not one of your" in exc.message and "list_classes" in exc.message
            return
        assert allowed, f"{name} ({emp}) read {call} of class {class_id} / section {section_id}"
        got = {x.id for x in items}
        expected = {
            "list_students_class": {s for _, s, c, status in school.enrollments if c == class_id
                                    and status == "active"},
            "list_students_section": {s for s, sec in school.student_section.items() if sec == section_id},
            "list_enrollments_class": {i for i, _, c, _ in school.enrollments if c == class_id},
            "list_assessments": school.assessments[class_id],
        }[call]
        assert got == expected, (name, call, got, expected)


async def test_the_awkward_cases_are_there(school_rt):
    """The property is only as good as the school: each awkward case exists and shows."""
    rt, school = school_rt
    students = school.students_of
    t = school.employee_of
    assert students(t["t3"]) == {s for s, sec in school.student_section.items() if sec == school.section_ids[1]}
    cross = [s for _, s, c, status in school.enrollments
             if status == "active" and school.class_section[c] != school.student_section[s]]
    assert cross and cross[0] in students(t["t0"]) and school.student_section[cross[0]] == school.section_ids[2]
    assert any(status == "dropped" for *_, status in school.enrollments)
    assert students(-1) == set() and 0 < len(students(t["t0"])) < len(school.student_section)
    refused = await all_pages(rt, "list_students", {}, school.actors["t_unlinked"])
    assert refused == []
    with pytest.raises(PermissionDenied, match="section .* is not one of your sections"):
        await invoke(rt, "list_students", {"section_id": school.section_ids[2]}, school.actors["t0"])
