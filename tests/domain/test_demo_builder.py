"""The demo school builder: shape, idempotence and determinism on a real SQLite file database."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

import domain.actions.models
import domain.kernel.audit  # noqa: F401  (registers its tables)
from domain.academics.models import (
    AcademicYear,
    Assessment,
    Enrollment,
    Grade,
    Guardian,
    SchoolClass,
    Section,
    Student,
    Subject,
    Term,
    TermGrade,
)
from domain.demo.builder import DemoSummary, build_demo_school
from domain.hr.models import Employee
from domain.identity.models import User


async def _engine(path: Path) -> AsyncEngine:
    engine = create_async_engine("sqlite+aiosqlite:///" + str(path))
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    return engine


async def _build(path: Path, *, seed: int) -> tuple[AsyncEngine, DemoSummary]:
    engine = await _engine(path)
    async with AsyncSession(engine) as session:
        summary = await build_demo_school(session, seed=seed)
        await session.commit()
    return engine, summary


async def _count(session: AsyncSession, model: type[SQLModel]) -> int:
    return (await session.exec(select(func.count()).select_from(model))).one()


async def _fingerprint(engine: AsyncEngine) -> tuple[list[tuple], list[tuple]]:
    async with AsyncSession(engine) as session:
        students = sorted((await session.exec(
            select(Student.code, Student.first_name, Student.last_name, Student.date_of_birth))).all())
        grades = sorted((await session.exec(
            select(Student.code, SchoolClass.code, Assessment.title, Grade.score_x100)
            .join(Student, Student.id == Grade.student_id)
            .join(Assessment, Assessment.id == Grade.assessment_id)
            .join(SchoolClass, SchoolClass.id == Assessment.class_id))).all())
    return students, grades


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, DemoSummary]]:
    engine, summary = await _build(tmp_path / "demo.db", seed=42)
    yield engine, summary
    await engine.dispose()


async def test_demo_school_has_the_expected_shape(built: tuple[AsyncEngine, DemoSummary]) -> None:
    engine, summary = built
    assert summary.created
    async with AsyncSession(engine) as session:
        assert await _count(session, Section) == summary.sections == 24
        assert await _count(session, Subject) == summary.subjects == 10
        assert await _count(session, SchoolClass) == summary.classes == 240
        assert await _count(session, Term) == 2
        assert await _count(session, TermGrade) == 0
        students = await _count(session, Student)
        assert 550 <= students <= 650 and students == summary.students
        employees = await _count(session, Employee)
        assert 40 <= employees <= 50 and employees == summary.employees

        classes = (await session.exec(select(SchoolClass))).all()
        load = Counter(c.teacher_id for c in classes)
        assert max(load.values()) <= 12
        assert len(load) == summary.teachers

        sections = (await session.exec(select(Section))).all()
        assert all(s.homeroom_teacher_id is not None for s in sections)
        assert len({s.homeroom_teacher_id for s in sections}) == 24

        guarded = set((await session.exec(select(Guardian.student_id))).all())
        student_ids = set((await session.exec(select(Student.id))).all())
        assert guarded == student_ids

        assert await _count(session, Enrollment) == summary.enrollments == students * 10

        term1, term2 = (await session.exec(select(Term).order_by(Term.number))).all()
        assessments = (await session.exec(select(Assessment))).all()
        assert {a.term_id for a in assessments} == {term1.id}
        weights: Counter[int] = Counter()
        for a in assessments:
            weights[a.class_id] += a.weight_x100
            assert term1.start_date <= a.due_date <= term1.end_date
        assert set(weights.values()) == {10000} and len(weights) == 240

        pairs = (await session.exec(
            select(func.count()).select_from(Enrollment)
            .join(Assessment, Assessment.class_id == Enrollment.class_id))).one()
        grades = (await session.exec(
            select(Grade.score_x100, Assessment.max_score_x100, Grade.locked)
            .join(Assessment, Assessment.id == Grade.assessment_id))).all()
        assert len(grades) == summary.grades
        assert 0.95 * pairs <= len(grades) < pairs
        assert all(0 <= score <= maximum for score, maximum, _ in grades)
        assert not any(locked for _, _, locked in grades)

        users = {u.username: u for u in (await session.exec(select(User))).all()}
        assert {"admin", "principal", "registrar", "hr"} <= set(summary.admin_usernames)
        assert set(users) == set(summary.admin_usernames)
        teachers = [u for u in users.values() if u.roles == "teacher"]
        assert len(teachers) == summary.teachers
        assert all(u.employee_id is not None for u in teachers)
        assert users["principal"].employee_id is not None


async def test_second_build_writes_nothing(built: tuple[AsyncEngine, DemoSummary]) -> None:
    engine, first = built
    async with AsyncSession(engine) as session:
        again = await build_demo_school(session, seed=42)
        assert not session.new and not session.dirty
        await session.commit()
    assert not again.created
    assert again.admin_usernames == []
    assert (again.students, again.classes, again.grades) == (first.students, first.classes, first.grades)
    async with AsyncSession(engine) as session:
        assert await _count(session, AcademicYear) == 1
        assert await _count(session, Student) == first.students
        assert await _count(session, Grade) == first.grades


async def test_same_seed_same_school_other_seed_other_school(tmp_path: Path) -> None:
    engines = []
    try:
        prints = []
        for name, seed in (("a.db", 7), ("b.db", 7), ("c.db", 8)):
            engine, _ = await _build(tmp_path / name, seed=seed)
            engines.append(engine)
            prints.append(await _fingerprint(engine))
    finally:
        for engine in engines:
            await engine.dispose()
    assert prints[0] == prints[1]
    assert prints[0][0] != prints[2][0]
    assert prints[0][1] != prints[2][1]
