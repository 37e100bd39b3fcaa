"""Small typed factories: a school slice with unique codes, created through the services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from domain.academics import service as academics
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.identity.service import actor_for, ensure_user
from domain.kernel.actor import SYSTEM_ACTOR, Actor, Channel
from tools.runtime import Runtime


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


@dataclass
class SchoolSlice:
    """Ids and actors of a minimal school: one year, two terms, a section with a class and students."""

    year_id: int
    term_id: int
    term2_id: int
    section_id: int
    class_id: int
    other_class_id: int
    subject_id: int
    assessment_id: int
    assessment2_id: int
    student_ids: list[int]
    teacher_employee_id: int
    admin: Actor
    admin2: Actor
    registrar: Actor
    teacher: Actor
    other_teacher: Actor
    viewer: Actor


async def make_user(session, *, roles: str, employee_id: int | None = None, channel: Channel = Channel.MCP_STDIO,
                    username: str | None = None) -> Actor:
    user = await ensure_user(session, username=username or unique(f"{roles.split(',')[0]}-").lower(),
                             display_name="Test user", roles=roles, employee_id=employee_id)
    return actor_for(user, channel)


async def make_school(runtime: Runtime, *, students: int = 4, channel: Channel = Channel.MCP_STDIO) -> SchoolSlice:
    """Create a school slice in one committed transaction and return its ids and actors."""
    actor = SYSTEM_ACTOR
    tag = unique()
    async with runtime.db.write() as s:
        dep = await hr.create_department(s, actor, code=unique("D"), name="Mathematics")
        teacher = await hr.create_employee(s, actor, first_name="Tess", last_name=f"Teacher{tag}",
                                           work_email=f"tess.{tag}@example.org".lower(), position="Maths teacher",
                                           department_id=dep.id, hire_date=date(2020, 8, 1),
                                           employment_type=EmploymentType.FULL_TIME)
        other = await hr.create_employee(s, actor, first_name="Otto", last_name=f"Other{tag}",
                                         work_email=f"otto.{tag}@example.org".lower(), position="Science teacher",
                                         department_id=dep.id, hire_date=date(2019, 8, 1),
                                         employment_type=EmploymentType.FULL_TIME)
        year = await academics.create_academic_year(s, actor, code=unique("Y"), name="Year", start_date=date(2026, 9, 1),
                                                    end_date=date(2027, 6, 30))
        term = await academics.create_term(s, actor, academic_year_id=year.id, number=1, name="Term 1",
                                           start_date=date(2026, 9, 1), end_date=date(2026, 12, 18))
        term2 = await academics.create_term(s, actor, academic_year_id=year.id, number=2, name="Term 2",
                                            start_date=date(2027, 1, 6), end_date=date(2027, 6, 30))
        level = await academics.create_year_level(s, actor, code=unique("L"), name="Year 7", ordinal=7)
        section = await academics.create_section(s, actor, code=unique("S"), name="7B", year_level_id=level.id,
                                                 academic_year_id=year.id, homeroom_teacher_id=teacher.id)
        math = await academics.create_subject(s, actor, code=unique("M"), name="Mathematics")
        sci = await academics.create_subject(s, actor, code=unique("C"), name="Science")
        cls = await academics.create_class(s, actor, section_id=section.id, subject_id=math.id, teacher_id=teacher.id)
        other_cls = await academics.create_class(s, actor, section_id=section.id, subject_id=sci.id,
                                                 teacher_id=other.id)
        student_ids = []
        for i in range(students):
            st = await academics.create_student(s, actor, first_name=f"Stu{i}", last_name=f"Dent{tag}",
                                                date_of_birth=date(2014, 3, 1 + i), year_level_id=level.id,
                                                section_id=section.id,
                                                guardians=[academics.GuardianInput("Pat Parent", "mother",
                                                                                   "+1 555 0100", "pat@example.org")])
            student_ids.append(st.id)
        a1 = await academics.create_assessment(s, actor, class_id=cls.id, term_id=term.id, title="Unit test 1",
                                               max_score_x100=10000, weight_x100=4000, category="test",
                                               due_date=date(2026, 10, 1))
        a2 = await academics.create_assessment(s, actor, class_id=cls.id, term_id=term.id, title="Term exam",
                                               max_score_x100=5000, weight_x100=6000, category="exam",
                                               due_date=date(2026, 12, 10))
        admin = await make_user(s, roles="admin", channel=channel)
        admin2 = await make_user(s, roles="admin", channel=channel)
        registrar = await make_user(s, roles="registrar", channel=channel)
        teacher_actor = await make_user(s, roles="teacher", employee_id=teacher.id, channel=channel)
        other_teacher = await make_user(s, roles="teacher", employee_id=other.id, channel=channel)
        viewer = await make_user(s, roles="viewer", channel=channel)
    return SchoolSlice(year_id=year.id, term_id=term.id, term2_id=term2.id, section_id=section.id, class_id=cls.id,
                       other_class_id=other_cls.id, subject_id=math.id, assessment_id=a1.id, assessment2_id=a2.id,
                       student_ids=student_ids, teacher_employee_id=teacher.id, admin=admin, admin2=admin2,
                       registrar=registrar, teacher=teacher_actor, other_teacher=other_teacher, viewer=viewer)
