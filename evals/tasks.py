"""The office tasks of the agent suite, on the demo school (domain/demo/builder.py, seed 42).

Each task is what a person in the school office would type, the persona typing it (a demo user), the toolsets
it should need, a grader of the final state and answer (evals/grading.py), and a scripted policy: the tool calls
and answer of a competent agent (evals/scripted.py). Personas: `lian.zhou` teaches 7A maths and is 7A's
homeroom teacher; `registrar`; `bursar` (finance); `payroll` (the payroll officer, added by evals/runner.py);
`principal` (admin).

Dates in requests are fixed (the demo's year is 2026-27), except where the office would say "now": overdue
days and balances are then computed by the grader on the day it runs, as the tools compute them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import col, select

from domain.academics.attendance_models import AttendanceRecord
from domain.academics.models import (
    Assessment,
    Grade,
    SchoolClass,
    Section,
    Student,
    TermComment,
)
from domain.fees.models import Discount, DiscountAward, Family, Invoice, Payment
from domain.hr.models import Employee
from domain.payroll.models import PayrollRun, Payslip, UnpaidLeave
from evals.grading import Grader, Grading, money
from evals.scripted import Call, Policy, PolicyError, Seen, fold, items, pick


@dataclass(frozen=True)
class Task:
    """One office task: who asks, what they ask, the toolsets it needs, its grader and its scripted policy."""

    name: str
    persona: str
    request: str
    toolsets: tuple[str, ...]
    check: Grader
    policy: Policy
    writes: bool  # whether the task changes the school (its grader then fails on the untouched school)


# -- Shared reads of the final state ---------------------------------------------------------------------------


async def _student(g: Grading, code: str) -> Student:
    async with g.read() as s:
        return (await s.exec(select(Student).where(Student.code == code))).one()


async def _assessment(g: Grading, class_code: str, title: str) -> Assessment | None:
    async with g.read() as s:
        return (await s.exec(select(Assessment).join(SchoolClass, col(SchoolClass.id) == Assessment.class_id).where(
            SchoolClass.code == class_code, Assessment.title == title))).first()


async def _score(g: Grading, class_code: str, title: str, student_code: str) -> int | None:
    """The score (hundredths of a point) of a student on a class's assessment, None when not recorded."""
    assessment = await _assessment(g, class_code, title)
    student = await _student(g, student_code)
    if assessment is None:
        return None
    async with g.read() as s:
        grade = (await s.exec(select(Grade).where(Grade.assessment_id == assessment.id,
                                                   Grade.student_id == student.id))).first()
    return None if grade is None or grade.score_x100 is None else grade.score_x100


async def _scores(g: Grading, class_code: str, title: str) -> dict[str, tuple[str, int | None]]:
    """{student code: (full name, score in hundredths or None)} for every student of the class's section."""
    assessment = await _assessment(g, class_code, title)
    assert assessment is not None, f"no assessment {title!r} in {class_code}"
    async with g.read() as s:
        students = (await s.exec(select(Student).join(Section, col(Section.id) == Student.section_id).where(
            Section.code == class_code.split("-")[0]))).all()
        grades = {grade.student_id: grade.score_x100 for grade in (await s.exec(
            select(Grade).where(Grade.assessment_id == assessment.id))).all()}
    return {st.code: (f"{st.first_name} {st.last_name}", grades.get(st.id)) for st in students}


def _points(x100: int) -> str:
    """Hundredths of a point as a person writes the score: 1450 -> '14.5', 1700 -> '17'."""
    return f"{Decimal(x100) / 100:f}".rstrip("0").rstrip(".") if x100 % 100 else str(x100 // 100)


# -- Shared policy steps ---------------------------------------------------------------------------------------


def _class_of(s: Seen, code: str) -> dict:
    return pick(s.last("list_classes"), code=code)


def _student_named(s: Seen, first: str, last: str) -> dict:
    """The student of the latest search named `first last` (accents and case ignored)."""
    for out in reversed(s.all("search_students")):
        found = [r for r in items(out) if fold(r["first_name"]) == fold(first) and fold(r["last_name"]) == fold(last)]
        if len(found) == 1:
            return found[0]
    raise PolicyError(f"no search found {first} {last}")


def _gradebook_rows(s: Seen) -> list[dict]:
    return [row for out in s.all("get_gradebook") for row in out["rows"]]


def _enable(*toolsets: str) -> list[Call]:
    """The call that adds `toolsets` to the run's tools (the persona's defaults lack them)."""
    return [Call("enable_toolsets", {"toolsets": list(toolsets)})]


def _gradebook_steps(section: str = "7A", subject: str = "MATH", *, enable: tuple[str, ...] = ()) -> tuple:
    """Steps: the sections and terms, the section's classes, then the class's term-1 gradebook (every row)."""
    return (
        lambda s: [Call("list_sections", {"limit": 100}), Call("list_terms", {}), *(_enable(*enable) if enable else [])],
        lambda s: [Call("list_classes", {"section_id": pick(s.last("list_sections"), code=section)["id"],
                                         "limit": 100})],
        lambda s: [Call("get_gradebook", {"class_id": _class_of(s, f"{section}-{subject}")["id"],
                                          "term_id": pick(s.last("list_terms"), name="Term 1")["id"],
                                          "limit": 100})],
    )


def _book_assessment(s: Seen, title: str) -> dict:
    return pick(s.last("get_gradebook")["assessments"], title=title)


def _book_student(s: Seen, name: str) -> dict:
    """The gradebook row of the student called `name` (accents and case ignored)."""
    return pick(_gradebook_rows(s), student_name=name)


# -- Teacher ---------------------------------------------------------------------------------------------------


async def check_retake(g: Grading) -> None:
    g.expect(await _score(g, "7A-MATH", "Unit test 2", "S2026-0003") == 1700,
             "Pablo Hernández's 7A-MATH Unit test 2 score is not 17")
    g.expect(await _score(g, "7A-MATH", "Unit test 1", "S2026-0003") == 950, "another of his scores changed")


RETAKE = Task(
    name="teacher-change-retake-score", persona="lian.zhou", toolsets=("classes", "gradebook"), writes=True,
    request="Pablo Hernández retook the 7A maths Unit test 2 and got 17 out of 20. Please update his mark.",
    check=check_retake,
    policy=(
        *_gradebook_steps(),
        lambda s: [Call("change_grade", {"assessment_id": _book_assessment(s, "Unit test 2")["id"],
                                         "student_id": _book_student(s, "Pablo Hernández")["student_id"],
                                         "score": 17, "comment": "Retake"})],
        lambda s: "Done: Pablo Hernández's Unit test 2 mark in 7A maths is now 17/20 (it was 9.5).",
    ),
)


async def check_late_test(g: Grading) -> None:
    g.expect(await _score(g, "7A-MATH", "Unit test 1", "S2026-0006") == 1450,
             "Sami Hassan's 7A-MATH Unit test 1 score is not 14.5")


LATE_TEST = Task(
    name="teacher-record-late-test", persona="lian.zhou", toolsets=("classes", "gradebook"), writes=True,
    request="Sami Hassan sat the 7A maths Unit test 1 late and scored 14.5 out of 20. Can you record it?",
    check=check_late_test,
    policy=(
        *_gradebook_steps(),
        lambda s: [Call("record_grade", {"assessment_id": _book_assessment(s, "Unit test 1")["id"],
                                         "student_id": _book_student(s, "Sami Hassan")["student_id"],
                                         "score": 14.5})],
        lambda s: "Recorded 14.5/20 for Sami Hassan on 7A maths Unit test 1.",
    ),
)


async def check_new_quiz(g: Grading) -> None:
    quiz = await _assessment(g, "7A-MATH", "Fractions quiz")
    g.expect(quiz is not None, "7A-MATH has no assessment 'Fractions quiz'")
    if quiz is not None:
        g.expect(quiz.max_score_x100 == 2000, f"the quiz is out of {quiz.max_score_x100 / 100}, not 20")
        g.expect(await _score(g, "7A-MATH", "Fractions quiz", "S2026-0003") == 1700,
                 "Pablo Hernández has no 17 on the quiz")


NEW_QUIZ = Task(
    name="teacher-new-quiz-and-score", persona="lian.zhou", toolsets=("classes", "gradebook"), writes=True,
    request="Add a 'Fractions quiz' out of 20 to 7A maths for term 1, weighted 10%, and record 17 for Pablo "
            "Hernandez on it.",
    check=check_new_quiz,
    policy=(
        *_gradebook_steps(),
        lambda s: [Call("create_assessment", {"class_id": _class_of(s, "7A-MATH")["id"],
                                              "term_id": pick(s.last("list_terms"), name="Term 1")["id"],
                                              "title": "Fractions quiz", "max_score": 20, "weight": 10,
                                              "category": "quiz"})],
        lambda s: [Call("record_grade", {"assessment_id": s.last("create_assessment")["id"],
                                         "student_id": _book_student(s, "Pablo Hernandez")["student_id"],
                                         "score": 17})],
        lambda s: "Created the Fractions quiz (out of 20, weight 10%) in 7A maths and recorded 17 for Pablo "
                  "Hernández.",
    ),
)


async def check_missing(g: Grading) -> None:
    missing = []
    for title in ("Unit test 1", "Homework portfolio", "Unit test 2", "Term exam"):
        missing += [name for name, score in (await _scores(g, "7A-MATH", title)).values() if score is None]
    g.expect(bool(missing), "the grader found no missing mark")
    g.mentions(*missing)


def _missing_answer(s: Seen) -> str:
    book = s.last("get_gradebook")
    titles = {str(a["id"]): a["title"] for a in book["assessments"]}
    lines = [f"{row['student_name']}: {titles[a]}" for row in _gradebook_rows(s) for a in titles
             if row["scores"].get(a) is None]
    return "These 7A maths marks are still missing this term:\n" + "\n".join(lines)


MISSING = Task(
    name="teacher-missing-marks", persona="lian.zhou", toolsets=("classes", "gradebook"), writes=False,
    request="Who in 7A still has no mark for one of this term's maths assessments?",
    check=check_missing,
    policy=(*_gradebook_steps(), _missing_answer),
)


async def check_average(g: Grading) -> None:
    scores = [v for _, v in (await _scores(g, "7A-MATH", "Unit test 1")).values() if v is not None]
    g.mentions_number(Decimal(sum(scores)) / len(scores) / 100)


def _average_answer(s: Seen) -> str:
    test = str(pick(s.last("get_gradebook")["assessments"], title="Unit test 1")["id"])
    scores = [Decimal(str(row["scores"][test])) for row in _gradebook_rows(s) if row["scores"].get(test) is not None]
    average = (sum(scores) / len(scores)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"The 7A maths Unit test 1 average is {average} out of 20, over {len(scores)} marked students."


AVERAGE = Task(
    name="teacher-test-average", persona="lian.zhou", toolsets=("classes", "gradebook"), writes=False,
    request="What was the class average on the 7A maths Unit test 1?",
    check=check_average,
    policy=(*_gradebook_steps(), _average_answer),
)


async def check_below_half(g: Grading) -> None:
    scores = await _scores(g, "7A-MATH", "Unit test 2")
    below = [name for name, v in scores.values() if v is not None and v < 1000]
    above = [name for name, v in scores.values() if v is not None and v >= 1000]
    g.expect(bool(below), "the grader found nobody below half")
    g.mentions(*below)
    g.omits(*above)


def _below_half_answer(s: Seen) -> str:
    test = str(pick(s.last("get_gradebook")["assessments"], title="Unit test 2")["id"])
    below = [f"{row['student_name']} ({_points(round(row['scores'][test] * 100))}/20)"
             for row in _gradebook_rows(s) if row["scores"].get(test) is not None and row["scores"][test] < 10]
    return "Under half marks on Unit test 2: " + ", ".join(below) + "."


BELOW_HALF = Task(
    name="teacher-below-half", persona="lian.zhou", toolsets=("classes", "gradebook"), writes=False,
    request="Which of my 7A maths students scored under half marks on Unit test 2?",
    check=check_below_half,
    policy=(*_gradebook_steps(), _below_half_answer),
)

REGISTER_DAY = date(2026, 12, 4)


async def check_register(g: Grading) -> None:
    async with g.read() as s:
        rows = (await s.exec(select(AttendanceRecord, Student).join(Student, col(Student.id) == AttendanceRecord.student_id)
                             .join(Section, col(Section.id) == AttendanceRecord.section_id)
                             .where(Section.code == "7A", AttendanceRecord.on_date == REGISTER_DAY))).all()
    status = {student.code: record.status for record, student in rows}
    g.expect(len(status) == 25, f"the 7A register of {REGISTER_DAY} has {len(status)} of 25 students")
    g.expect(status.get("S2026-0004") == "absent", "Tiago Almeida is not absent")
    g.expect(status.get("S2026-0011") == "late", "Ming Yang is not late")
    others = {code: v for code, v in status.items() if code not in ("S2026-0004", "S2026-0011")}
    g.expect(all(v == "present" for v in others.values()), "someone else is not marked present")


def _register(s: Seen) -> list[Call]:
    students = s.last("get_attendance_register")["students"]
    status = {"tiago almeida": "absent", "ming yang": "late"}
    entries = [{"student_id": st["student_id"], "status": status.get(fold(st["student_name"]), "present")}
               for st in students if st["enrolled"]]
    return [Call("take_attendance", {"section_id": pick(s.last("list_sections"), code="7A")["id"],
                                     "date": REGISTER_DAY.isoformat(), "entries": entries})]


REGISTER = Task(
    name="teacher-take-register", persona="lian.zhou", toolsets=("classes", "attendance"), writes=True,
    request="Take the 7A register for Friday 4 December 2026: everyone was present except Tiago Almeida, who "
            "was absent, and Ming Yang, who came in late.",
    check=check_register,
    policy=(
        lambda s: [Call("list_sections", {"limit": 100})],
        lambda s: [Call("get_attendance_register", {"section_id": pick(s.last("list_sections"), code="7A")["id"],
                                                    "date": REGISTER_DAY.isoformat()})],
        _register,
        lambda s: "The 7A register for 4 December 2026 is taken: 23 present, Tiago Almeida absent, Ming Yang late.",
    ),
)

COMMENT = "Homework portfolio not handed in; please submit it before the term exam."


async def check_comment(g: Grading) -> None:
    student = await _student(g, "S2026-0017")
    async with g.read() as s:
        comments = (await s.exec(select(TermComment).join(SchoolClass, col(SchoolClass.id) == TermComment.class_id)
                                 .where(SchoolClass.code == "7A-MATH",
                                        TermComment.student_id == student.id))).all()
    g.expect(any("portfolio" in (c.comment or "").lower() for c in comments),
             "Juliette Fontaine has no 7A-MATH term comment about her portfolio")


TERM_COMMENT = Task(
    name="teacher-term-comment", persona="lian.zhou", toolsets=("classes", "gradebook", "term_reports"), writes=True,
    request=f"Put this term comment on Juliette Fontaine's 7A maths report: \"{COMMENT}\"",
    check=check_comment,
    policy=(
        *_gradebook_steps(enable=("term_reports",)),
        lambda s: [Call("set_term_comment", {"class_id": _class_of(s, "7A-MATH")["id"],
                                             "term_id": pick(s.last("list_terms"), name="Term 1")["id"],
                                             "student_id": _book_student(s, "Juliette Fontaine")["student_id"],
                                             "comment": COMMENT})],
        lambda s: "The comment is on Juliette Fontaine's Term 1 report for 7A maths.",
    ),
)

# -- Registrar -------------------------------------------------------------------------------------------------


async def check_surname(g: Grading) -> None:
    g.expect((await _student(g, "S2026-0024")).last_name == "Santos Silva", "João Santos's surname is not "
             "'Santos Silva'")
    g.expect((await _student(g, "S2026-0010")).last_name == "Ribeiro", "João Ribeiro's surname changed")


SURNAME = Task(
    name="registrar-fix-surname", persona="registrar", toolsets=("students",), writes=True,
    request="João Santos in 7A: his family asked us to record his surname as 'Santos Silva'.",
    check=check_surname,
    policy=(
        lambda s: [Call("search_students", {"query": "João Santos"})],
        lambda s: [Call("update_student", {"student_id": _student_named(s, "João", "Santos")["id"],
                                           "last_name": "Santos Silva"})],
        lambda s: "Done: João's surname is now Santos Silva.",
    ),
)


async def check_withdrawn(g: Grading) -> None:
    g.expect((await _student(g, "S2026-0002")).status == "withdrawn", "Ji-woo Han is not withdrawn")
    g.expect((await _student(g, "S2026-0021")).status == "enrolled", "Ji-woo Choi was changed too")


WITHDRAW = Task(
    name="registrar-withdraw-student", persona="registrar", toolsets=("students",), writes=True,
    request="Ji-woo Han from 7A has left the school. Please mark her as withdrawn.",
    check=check_withdrawn,
    policy=(
        lambda s: [Call("search_students", {"query": "Ji-woo Han"})],
        lambda s: [Call("update_student", {"student_id": _student_named(s, "Ji-woo", "Han")["id"],
                                           "status": "withdrawn"})],
        lambda s: "Ji-woo Han (7A) is now marked as withdrawn.",
    ),
)


async def check_birthday(g: Grading) -> None:
    g.expect((await _student(g, "S2026-0001")).date_of_birth == date(2014, 3, 2),
             "Seo-jun Jung's date of birth is not 2014-03-02")


BIRTHDAY = Task(
    name="registrar-fix-birth-date", persona="registrar", toolsets=("students",), writes=True,
    request="Seo-jun Jung's date of birth is wrong in the system: it should be 2 March 2014.",
    check=check_birthday,
    policy=(
        lambda s: [Call("search_students", {"query": "Seo-jun Jung"})],
        lambda s: [Call("update_student", {"student_id": _student_named(s, "Seo-jun", "Jung")["id"],
                                           "date_of_birth": "2014-03-02"})],
        lambda s: "Seo-jun Jung's date of birth is now 2 March 2014.",
    ),
)


async def check_year9(g: Grading) -> None:
    async with g.read() as s:
        count = len((await s.exec(select(Student.id).join(Section, col(Section.id) == Student.section_id).where(
            col(Section.code).startswith("9")))).all())
    g.mentions(str(count))


YEAR9 = Task(
    name="registrar-count-year-9", persona="registrar", toolsets=("classes",), writes=False,
    request="How many students do we have in Year 9 this year?",
    check=check_year9,
    policy=(
        lambda s: [Call("list_sections", {"limit": 100})],
        lambda s: "Year 9 has " + str(sum(r["student_count"] for r in items(s.last("list_sections"))
                                          if r["code"].startswith("9"))) + " students, in sections 9A to 9D.",
    ),
)


async def check_new_student(g: Grading) -> None:
    async with g.read() as s:
        found = (await s.exec(select(Student, Section).join(Section, col(Section.id) == Student.section_id).where(
            Student.last_name == "Kowalczyk"))).all()
    g.expect(len(found) == 1, f"{len(found)} students named Kowalczyk")
    if found:
        student, section = found[0]
        g.expect(section.code == "8B", f"Zoë Kowalczyk is in {section.code}, not 8B")
        g.expect(student.date_of_birth == date(2013, 5, 14), "her date of birth is not 2013-05-14")
        g.expect(fold(student.first_name) == "zoe", f"her first name is {student.first_name}")


NEW_STUDENT = Task(
    name="registrar-new-student", persona="registrar", toolsets=("classes", "students"), writes=True,
    request="Please enrol a new student in 8B: Zoë Kowalczyk, born 14 May 2013.",
    check=check_new_student,
    policy=(
        lambda s: [Call("list_sections", {"limit": 100})],
        lambda s: [Call("create_student", {"first_name": "Zoë", "last_name": "Kowalczyk",
                                           "date_of_birth": "2013-05-14",
                                           "year_level_id": pick(s.last("list_sections"), code="8B")["year_level_id"],
                                           "section_id": pick(s.last("list_sections"), code="8B")["id"]})],
        lambda s: f"Zoë Kowalczyk is enrolled in 8B (student {s.last('create_student')['code']}).",
    ),
)


async def check_pablo_marks(g: Grading) -> None:
    facts = []
    for title in ("Unit test 1", "Homework portfolio", "Unit test 2", "Term exam"):
        score = await _score(g, "7A-MATH", title, "S2026-0003")
        assert score is not None
        facts.append(_points(score))
    g.mentions(*facts)


PABLO_MARKS = Task(
    name="registrar-student-marks", persona="registrar", toolsets=("students", "classes", "gradebook"), writes=False,
    request="What marks has Pablo Hernández got in maths this term?",
    check=check_pablo_marks,
    policy=(
        lambda s: [Call("search_students", {"query": "Pablo Hernández"}), *_enable("gradebook")],
        *_gradebook_steps(),
        lambda s: "Pablo Hernández's 7A maths marks this term: " + ", ".join(
            f"{a['title']} {_points(round(row['scores'][str(a['id'])] * 100))}/{_points(round(a['max_score'] * 100))}"
            for row in _gradebook_rows(s) if row["student_id"] == _student_named(s, "Pablo", "Hernández")["id"]
            for a in s.last("get_gradebook")["assessments"]) + ".",
    ),
)

# -- Bursar ----------------------------------------------------------------------------------------------------


async def check_overdue(g: Grading) -> None:
    aging = await g.tool("get_receivables_aging", {"min_days_overdue": 61})
    g.mentions(str(aging["rows_total"]), money(aging["totals"]["total"]))


OVERDUE = Task(
    name="bursar-families-over-60-days", persona="bursar", toolsets=("fees",), writes=False,
    request="How many families owe us fees for more than 60 days, and how much do they owe in total?",
    check=check_overdue,
    policy=(
        lambda s: [Call("get_receivables_aging", {"min_days_overdue": 61})],
        lambda s: (f"{s.last('get_receivables_aging')['rows_total']} families owe fees more than 60 days overdue, "
                   f"AUD {money(s.last('get_receivables_aging')['totals']['total'])} in total."),
    ),
)


async def check_payment(g: Grading) -> None:
    async with g.read() as s:
        paid = (await s.exec(select(Payment).join(Family, col(Family.id) == Payment.family_id).where(
            Family.code == "F00224", Payment.reference == "KAYA-DEC"))).all()
    g.expect(len(paid) == 1, f"{len(paid)} payments referenced KAYA-DEC from the Kaya family F00224")
    if paid:
        g.expect(paid[0].amount == 100_000 and paid[0].currency == "AUD", "the payment is not AUD 1,000.00")
        g.expect(paid[0].method == "bank_transfer", f"the payment's method is {paid[0].method}")


PAYMENT = Task(
    name="bursar-record-payment", persona="bursar", toolsets=("fees",), writes=True,
    request="Selin Kaya paid AUD 1,000 for her family's fees by bank transfer today, reference KAYA-DEC. "
            "Please record it.",
    check=check_payment,
    policy=(
        lambda s: [Call("list_families", {"query": "Kaya"})],
        lambda s: [Call("record_payment", {"family_id": pick(s.last("list_families"), billing_name="Selin Kaya")
                                           ["family_id"], "amount_minor": 100_000, "currency": "AUD",
                                           "method": "bank_transfer", "reference": "KAYA-DEC",
                                           "idempotency_key": "kaya-dec-1000"})],
        lambda s: "Recorded AUD 1,000.00 by bank transfer (KAYA-DEC) for the Kaya family of Selin Kaya.",
    ),
)


async def check_balance(g: Grading) -> None:
    async with g.read() as s:
        family = (await s.exec(select(Family).where(Family.name == "Rao family"))).one()
    account = await g.tool("get_family_account", {"family_id": family.id})
    g.mentions(money(account["balance_minor"]))


BALANCE = Task(
    name="bursar-family-balance", persona="bursar", toolsets=("fees",), writes=False,
    request="How much does the Rao family owe us right now?",
    check=check_balance,
    policy=(
        lambda s: [Call("list_families", {"query": "Rao"})],
        lambda s: [Call("get_family_account", {"family_id": pick(s.last("list_families"), name="Rao family")
                                               ["family_id"]})],
        lambda s: f"The Rao family owes AUD {money(s.last('get_family_account')['balance_minor'])}.",
    ),
)


async def check_collections(g: Grading) -> None:
    out = await g.tool("get_fee_collections", {"from_date": "2026-10-01", "to_date": "2026-10-31"})
    g.mentions(money(out["net_collected_minor"]))


COLLECTIONS = Task(
    name="bursar-october-collections", persona="bursar", toolsets=("collections",), writes=False,
    request="How much did we collect in fees in October 2026?",
    check=check_collections,
    policy=(
        lambda s: _enable("collections"),
        lambda s: [Call("get_fee_collections", {"from_date": "2026-10-01", "to_date": "2026-10-31"})],
        lambda s: (f"AUD {money(s.last('get_fee_collections')['net_collected_minor'])} in October 2026 "
                   f"({s.last('get_fee_collections')['payments']} payments)."),
    ),
)


async def check_scholarship(g: Grading) -> None:
    student = await _student(g, "S2026-0003")
    async with g.read() as s:
        awards = (await s.exec(select(Discount).join(DiscountAward, col(DiscountAward.discount_id) == Discount.id)
                               .where(DiscountAward.student_id == student.id))).all()
    g.expect(any(d.code == "SCHOLAR50" for d in awards), "Pablo Hernández has no SCHOLAR50 award")


SCHOLARSHIP = Task(
    name="bursar-award-scholarship", persona="bursar", toolsets=("billing",), writes=True,
    request="Pablo Hernández (student S2026-0003) won the academic scholarship: please award it to him.",
    check=check_scholarship,
    policy=(
        lambda s: _enable("billing"),
        lambda s: [Call("list_discounts", {"limit": 100})],
        lambda s: [Call("award_discount", {"student_id": "S2026-0003",
                                           "discount_id": pick(s.last("list_discounts"), code="SCHOLAR50")["discount_id"]})],
        lambda s: "Pablo Hernández now has the academic scholarship (50% of tuition).",
    ),
)


async def check_credit_note(g: Grading) -> None:
    async with g.read() as s:
        invoice = (await s.exec(select(Invoice).join(Family, col(Family.id) == Invoice.family_id).where(
            Family.code == "F00224"))).one()
    out = await g.tool("get_invoice", {"invoice_id": invoice.id})
    notes = out.get("credit_notes") or []
    g.expect(any(n["amount_minor"] == 12_000 for n in notes), "no AUD 120.00 credit note on the Kaya invoice")


CREDIT_NOTE = Task(
    name="bursar-credit-note", persona="bursar", toolsets=("fees", "billing"), writes=True,
    request="The Year 12 excursion was cancelled, so Selin Kaya's family gets the AUD 120 activities fee back: "
            "credit it on their Term 1 invoice.",
    check=check_credit_note,
    policy=(
        lambda s: [Call("list_families", {"query": "Kaya"}), *_enable("billing")],
        lambda s: [Call("list_invoices", {"family_id": pick(s.last("list_families"), billing_name="Selin Kaya")
                                          ["family_id"]})],
        lambda s: [Call("issue_credit_note", {"invoice_id": items(s.last("list_invoices"))[0]["invoice_id"],
                                              "amount_minor": 12_000, "on": date.today().isoformat(),
                                              "reason": "Year 12 excursion cancelled: activities fee credited"})],
        lambda s: "Credited AUD 120.00 on the Kaya family's Term 1 invoice.",
    ),
)

# -- Payroll officer -------------------------------------------------------------------------------------------


async def _payslip(g: Grading, employee_code: str, period: str) -> Payslip:
    async with g.read() as s:
        return (await s.exec(select(Payslip).join(Employee, col(Employee.id) == Payslip.employee_id).where(
            Employee.code == employee_code, Payslip.period == period))).one()


async def check_net_drop(g: Grading) -> None:
    march, april = await _payslip(g, "E0007", "2026-03"), await _payslip(g, "E0007", "2026-04")
    unpaid = (april.working_days * 100 - april.payment_days_x100) // 100
    g.expect(april.net_minor < march.net_minor, "the demo changed: April's net is not lower")
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    g.mentions("unpaid")
    g.mentions_any(f"{unpaid} day", f"{words.get(unpaid, unpaid)} day")


def _payslip_of(s: Seen, employee: dict, period: str) -> dict:
    for out in s.all("list_payslips"):
        for row in items(out):
            if row["employee_id"] == employee["employee_id" if "employee_id" in employee else "id"] \
                    and row["period"] == period:
                return row
    raise PolicyError(f"no {period} payslip of {employee}")


def _run_of(s: Seen, period: str) -> dict:
    return pick(s.last("list_payroll_runs"), period=period)


def _net_drop_answer(s: Seen) -> str:
    march, april = s.all("get_payslip")[-2:]
    unpaid = april["working_days"] - int(april["payment_days"])
    return (f"In April she was paid for {april['payment_days']} of {april['working_days']} working days: {unpaid} "
            f"days of unpaid leave reduced her basic salary, so her net pay fell from AUD {money(march['net_minor'])} "
            f"to AUD {money(april['net_minor'])}.")


NET_DROP = Task(
    name="payroll-why-net-dropped", persona="payroll", toolsets=("payroll", "staff"), writes=False,
    request="Why did Lucía López's net pay drop in April 2026?",
    check=check_net_drop,
    policy=(
        lambda s: [Call("list_payroll_runs", {}), *_enable("staff")],
        lambda s: [Call("search_employees", {"query": "Lucía López"})],
        lambda s: [Call("list_payslips", {"run_id": _run_of(s, p)["run_id"], "limit": 100})
                   for p in ("2026-03", "2026-04")],
        lambda s: [Call("get_payslip", {"payslip_id": _payslip_of(s, items(s.last("search_employees"))[0], p)
                                        ["payslip_id"]}) for p in ("2026-03", "2026-04")],
        _net_drop_answer,
    ),
)


async def check_raise(g: Grading) -> None:
    g.mentions_any("arrears", "back pay", "backpay", "back-pay", "backdated", "back-dated", "retroactive")
    g.mentions_any("raise", "increase", "pay rise", "salary review")


RAISE = Task(
    name="payroll-why-may-higher", persona="payroll", toolsets=("payroll", "staff", "contracts"), writes=False,
    request="Why was Chiamaka Nwosu's May 2026 payslip higher than her April one?",
    check=check_raise,
    policy=(
        lambda s: [Call("list_payroll_runs", {}), *_enable("staff", "contracts")],
        lambda s: [Call("search_employees", {"query": "Chiamaka Nwosu"})],
        lambda s: [Call("list_payslips", {"run_id": _run_of(s, "2026-05")["run_id"], "limit": 100}),
                   Call("list_employment_contracts", {"employee_id": items(s.last("search_employees"))[0]["id"],
                                                      "history": True})],
        lambda s: [Call("get_payslip", {"payslip_id": _payslip_of(s, items(s.last("search_employees"))[0],
                                                                  "2026-05")["payslip_id"]})],
        lambda s: ("Her salary went up by a raise agreed in May and backdated to 1 April 2026 ("
                   + items(s.last("list_employment_contracts"))[-1].get("reason", "salary review")
                   + "): May's payslip pays the new salary plus April's arrears."),
    ),
)


async def check_leave(g: Grading) -> None:
    async with g.read() as s:
        leave = (await s.exec(select(UnpaidLeave).join(Employee, col(Employee.id) == UnpaidLeave.employee_id).where(
            Employee.code == "E0041", UnpaidLeave.period == "2026-06"))).all()
    g.expect(sum(row.days_x100 for row in leave) == 200, "Akinyi Kariuki has no 2 days of unpaid leave in 2026-06")


LEAVE = Task(
    name="payroll-record-unpaid-leave", persona="payroll", toolsets=("staff", "contracts"), writes=True,
    request="Akinyi Kariuki is taking 2 days of unpaid leave in June 2026. Please record it for payroll.",
    check=check_leave,
    policy=(
        lambda s: _enable("staff", "contracts"),
        lambda s: [Call("search_employees", {"query": "Akinyi Kariuki"})],
        lambda s: [Call("record_unpaid_leave", {"employee_id": items(s.last("search_employees"))[0]["id"],
                                                "period": "2026-06", "days": 2})],
        lambda s: "Recorded 2 days of unpaid leave for Akinyi Kariuki in June 2026.",
    ),
)


async def check_june_run(g: Grading) -> None:
    async with g.read() as s:
        runs = (await s.exec(select(PayrollRun).where(PayrollRun.period == "2026-06"))).all()
        slips = (await s.exec(select(Payslip).where(Payslip.period == "2026-06"))).all()
    g.expect(len(runs) == 1, f"{len(runs)} payroll runs for 2026-06")
    if runs:
        g.expect(runs[0].status == "calculated", f"the June run is {runs[0].status}, not calculated")
        g.expect(runs[0].pay_date == date(2026, 6, 26), f"the June run pays on {runs[0].pay_date}")
    g.expect(len(slips) >= 40, f"the June run has {len(slips)} payslips")


JUNE_RUN = Task(
    name="payroll-june-run", persona="payroll", toolsets=("payroll",), writes=True,
    request="Set up the June 2026 payroll (paid on 26 June, in AUD) and calculate it so I can review it.",
    check=check_june_run,
    policy=(
        lambda s: [Call("create_payroll_run", {"period": "2026-06", "pay_date": "2026-06-26", "currency": "AUD"})],
        lambda s: [Call("calculate_payroll_run", {"run_id": s.last("create_payroll_run")["run_id"], "wait_s": 60})],
        lambda s: [Call("get_payroll_run", {"run_id": s.last("create_payroll_run")["run_id"]})],
        lambda s: f"The June 2026 run is {s.last('get_payroll_run')['status']}: ready for your review.",
    ),
)


async def check_may_total(g: Grading) -> None:
    async with g.read() as s:
        slips = (await s.exec(select(Payslip).where(Payslip.period == "2026-05"))).all()
    g.mentions(money(sum(p.net_minor for p in slips)))


MAY_TOTAL = Task(
    name="payroll-may-net-total", persona="payroll", toolsets=("payroll",), writes=False,
    request="What was the total net pay of the May 2026 payroll?",
    check=check_may_total,
    policy=(
        lambda s: [Call("list_payroll_runs", {})],
        lambda s: [Call("list_payslips", {"run_id": _run_of(s, "2026-05")["run_id"], "limit": 100})],
        lambda s: "Total net pay for May 2026: AUD " + money(sum(r["net_minor"] for r in items(s.last("list_payslips"))))
                  + ".",
    ),
)

# -- Principal -------------------------------------------------------------------------------------------------


async def check_waiting(g: Grading) -> None:
    out = await g.tool("list_pending_actions", {}, as_user="principal")
    codes = [word for row in items(out) for word in row["summary"].split() if "-" in word and word[0].isdigit()]
    g.expect(len(codes) == 3, f"the grader expected 3 publications waiting, found {codes}")
    g.mentions(*codes)


WAITING = Task(
    name="principal-waiting-approvals", persona="principal", toolsets=("actions",), writes=False,
    request="What is waiting for my approval?",
    check=check_waiting,
    policy=(
        lambda s: [Call("list_pending_actions", {})],
        lambda s: "Waiting for approval:\n" + "\n".join(f"- #{r['action_id']}: {r['summary']} (asked by "
                                                         f"{r['requested_by']})"
                                                         for r in items(s.last("list_pending_actions"))),
    ),
)


async def check_homeroom(g: Grading) -> None:
    async with g.read() as s:
        teacher = (await s.exec(select(Employee).join(Section, col(Section.homeroom_teacher_id) == Employee.id).where(
            Section.code == "10C"))).one()
    g.mentions(teacher.full_name)


HOMEROOM = Task(
    name="principal-homeroom-teacher", persona="principal", toolsets=("classes", "staff"), writes=False,
    request="Who is the homeroom teacher of 10C?",
    check=check_homeroom,
    policy=(
        lambda s: _enable("classes", "staff"),
        lambda s: [Call("list_sections", {"limit": 100})],
        lambda s: [Call("get_employee", {"employee_id": pick(s.last("list_sections"), code="10C")
                                         ["homeroom_teacher_id"]})],
        lambda s: (f"{s.last('get_employee')['first_name']} {s.last('get_employee')['last_name']} "
                   f"({s.last('get_employee')['code']}) is 10C's homeroom teacher."),
    ),
)


async def check_teachers(g: Grading) -> None:
    async with g.read() as s:
        count = len((await s.exec(select(Employee.id).where(col(Employee.position).endswith(" teacher")))).all())
    g.mentions(str(count))


TEACHERS = Task(
    name="principal-teacher-headcount", persona="principal", toolsets=("school_setup",), writes=False,
    request="How many teachers do we employ?",
    check=check_teachers,
    policy=(
        lambda s: _enable("school_setup"),
        lambda s: [Call("list_teachers", {"limit": 100})],
        lambda s: f"We employ {len(items(s.last('list_teachers')))} teachers.",
    ),
)


async def check_9b_exam(g: Grading) -> None:
    scores = [v for _, v in (await _scores(g, "9B-MATH", "Term exam")).values() if v is not None]
    g.mentions_number(Decimal(sum(scores)) / len(scores) / 100)


def _9b_average(s: Seen) -> str:
    book = s.last("get_gradebook")
    exam = str(pick(book["assessments"], title="Term exam")["id"])
    scores = [Decimal(str(r["scores"][exam])) for r in book["rows"] if r["scores"].get(exam) is not None]
    average = (sum(scores) / len(scores)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"9B's maths term exam average is {average} out of 100 ({len(scores)} students marked)."


EXAM_9B = Task(
    name="principal-9b-exam-average", persona="principal", toolsets=("classes", "gradebook"), writes=False,
    request="How did 9B do on the maths term exam? Give me the class average.",
    check=check_9b_exam,
    policy=(
        lambda s: _enable("classes", "gradebook"),
        *_gradebook_steps("9B"),
        _9b_average,
    ),
)

TASKS: tuple[Task, ...] = (
    RETAKE, LATE_TEST, NEW_QUIZ, MISSING, AVERAGE, BELOW_HALF, REGISTER, TERM_COMMENT,
    SURNAME, WITHDRAW, BIRTHDAY, YEAR9, NEW_STUDENT, PABLO_MARKS,
    OVERDUE, PAYMENT, BALANCE, COLLECTIONS, SCHOLARSHIP, CREDIT_NOTE,
    NET_DROP, RAISE, LEAVE, JUNE_RUN, MAY_TOTAL,
    WAITING, HOMEROOM, TEACHERS, EXAM_9B,
)
