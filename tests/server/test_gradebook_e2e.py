"""The gradebook acceptance flow end to end over MCP: a teacher grades (one by one and from a CSV file), the
registrar publishes behind the four-eyes gate, a later change of a published grade is requested, approved and
kept in the transcript's history, and report cards come out as PDFs naming each student and their grade.

Written once (`gradebook_flow`) and driven twice: over stdio on the embedded default (one `mcs-erp serve
--stdio` process per user, jobs in the server process) and over Streamable HTTP with API keys. Each test gets
its own database (SQLite file, or PostgreSQL when MCS_ERP_TEST_BACKEND=postgresql).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
from dataclasses import dataclass
from typing import Any

import pytest
from mcp import Client
from pypdf import PdfReader

from domain.documents.schemas import MAX_CHUNK_BYTES
from tests.server.e2e_helpers import (
    ADMIN_A,
    TEACHER,
    KeySpec,
    School,
    call_error,
    call_ok,
    create_keys,
    e2e_database,
    http_client,
    http_clients,
    http_server,
    init_database,
    seed_school,
    stdio_client,
    verify_audit,
)

pytestmark = pytest.mark.e2e

REGISTRAR = "registrar"
REPORT_CARDS_WAIT_S = 120
CHANGE_REASON = "exam re-marked: question 4 had not been counted"


@dataclass(frozen=True)
class ScienceClass:
    """The class the flow grades: by category (HW 40 % dropping the lowest, EXAM 60 %), three assessments."""

    class_id: int
    class_code: str
    hw1: int
    hw2: int
    exam: int


async def science_class(school: School, *, admin: Client, teacher: Client) -> ScienceClass:
    """The admin opens a 2-credit Science class of the seeded section for the first teacher and enrolls its
    three students; the teacher sets its categories and creates its assessments."""
    subject = await call_ok(admin, "create_subject", {"code": "SCI", "name": "Science", "credits": 2})
    cls = await call_ok(admin, "create_class", {"section_id": school.section_id, "subject_id": subject["id"],
                                                "teacher_id": school.teacher_ids[0]})
    for student_id in school.student_ids:
        await call_ok(admin, "enroll_student", {"student_id": student_id, "class_id": cls["id"]})
    pending = await call_ok(teacher, "set_grading_categories", {"class_id": cls["id"], "categories": [
        {"code": "hw", "name": "Homework", "weight": 40, "drop_lowest": 1},
        {"code": "EXAM", "name": "Exams", "weight": 60}]})
    assert pending["pending"] is True and pending["level"] == "confirm", pending  # weights are a grading policy
    confirmed = await call_ok(teacher, "confirm_action", {"action_id": pending["action_id"]})
    assert confirmed["status"] == "executed", confirmed
    categories = confirmed["result"]
    assert categories["by_category"] is True
    assert sorted((c["code"], c["weight"], c["drop_lowest"]) for c in categories["categories"]) == [
        ("EXAM", 60, 0), ("HW", 40, 1)], categories
    ids = []
    for title, max_score, category in (("Homework 1", 10, "hw"), ("Homework 2", 10, "HW"),
                                       ("Final exam", 50, "exam")):
        created = await call_ok(teacher, "create_assessment", {
            "class_id": cls["id"], "term_id": school.term_id, "title": title, "max_score": max_score,
            "category": category})
        assert created["category"] == category.upper()
        ids.append(created["id"])
    return ScienceClass(cls["id"], cls["code"], *ids)


async def call_waiting(client: Client, tool: str, arguments: dict[str, Any], wait_s: int) -> dict[str, Any]:
    """Call a tool with wait_s, giving the request wait_s plus a margin to answer."""
    result = await client.call_tool(tool, {**arguments, "wait_s": wait_s}, read_timeout_seconds=wait_s + 30)
    assert not result.is_error, result.content[0].text
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def by_student(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {item["student_id"]: item for item in items}


async def gradebook_flow(school: School, *, admin: Client, registrar: Client, teacher: Client) -> None:
    """Grade, import (a bad file first), publish with four eyes, change a published grade, print report
    cards."""
    sci = await science_class(school, admin=admin, teacher=teacher)
    ada, alan, grace = school.student_ids
    class_term = {"class_id": sci.class_id, "term_id": school.term_id}
    names = {ada: "Ada Lovelace", alan: "Alan Turing", grace: "Grace Hopper"}
    roster = (await call_ok(teacher, "list_students", {"class_id": sci.class_id}))["items"]
    code = {s["id"]: s["code"] for s in roster}
    assert set(code) == {ada, alan, grace}

    # The teacher records results one by one: scores, a missing piece of work (counts 0) and an excused one.
    for student_id, assessment_id, result in ((ada, sci.hw1, {"score": 8}), (alan, sci.hw1, {"score": 6}),
                                              (grace, sci.hw1, {"status": "missing"}),
                                              (ada, sci.hw2, {"status": "excused"})):
        recorded = await call_ok(teacher, "record_grade", {"assessment_id": assessment_id,
                                                           "student_id": student_id, **result})
        assert recorded["status"] == result.get("status", "scored")
        assert recorded["score"] == result.get("score")
        assert recorded["locked"] is False

    # A file with one bad line (line 6: 52 points on a 50-point exam) is refused whole, naming line and
    # column.
    lines = [f"{code[alan]},Homework 2,9,",
             f'{code[grace]},homework 2,7,"late, accepted"',
             f"{code[ada]},Final exam,45,",
             f"{code[alan]},{sci.exam},38.5,",
             f"{code[grace]},Final exam,{{grace_exam}},"]
    csv_text = "student_code,assessment,score,comment\n" + "\n".join(lines) + "\n"
    refused = await call_error(teacher, "import_grades", {"class_id": sci.class_id,
                                                          "csv": csv_text.format(grace_exam=52)})
    assert refused.startswith("error: invalid_input"), refused
    expected = "1 wrong row(s): line 6, column score: 52 is above the maximum 50 of 'Final exam'"
    assert expected in refused, refused

    # Nothing from the file was written: only the four results recorded above, and their running percentages
    # (renormalised over what is graded: Ada HW 8/10 = 80, Alan HW 6/10 = 60, Grace HW missing = 0).
    book = await call_ok(teacher, "get_gradebook", class_term)
    assert [a["id"] for a in book["assessments"]] == [sci.hw1, sci.hw2, sci.exam]
    rows = by_student(book["rows"])
    assert set(rows) == {ada, alan, grace} and book["published"] is False
    hw1, hw2, exam = str(sci.hw1), str(sci.hw2), str(sci.exam)
    assert {s: (r["scores"].get(hw2), r["scores"].get(exam)) for s, r in rows.items()} == {
        ada: (None, None), alan: (None, None), grace: (None, None)}
    assert {s: r["statuses"] for s, r in rows.items()} == {
        ada: {hw1: "scored", hw2: "excused"}, alan: {hw1: "scored"}, grace: {hw1: "missing"}}
    assert {s: r["running_percentage"] for s, r in rows.items()} == {ada: 80, alan: 60, grace: 0}

    # The fixed file goes in: five new scores.
    imported = await call_ok(teacher, "import_grades", {"class_id": sci.class_id,
                                                        "csv": csv_text.format(grace_exam=41)})
    assert (imported["rows"], imported["created"], imported["unchanged"]) == (5, 5, 0), imported
    book = await call_ok(teacher, "get_gradebook", class_term)
    assert {r["student_id"]: r["scores"][exam] for r in book["rows"]} == {ada: 45, alan: 38.5, grace: 41}

    # Term grades, by hand (HW 40 % by points, its lowest result dropped unless it is the only one;
    # EXAM 60 %):
    #   Ada:   HW 8/10 = 80 (HW2 excused, nothing to drop), EXAM 45/50 = 90   -> 0.4*80 + 0.6*90 = 86.00 B
    #   Alan:  HW 6/10 dropped, 9/10 = 90,                  EXAM 38.5/50 = 77 -> 0.4*90 + 0.6*77 = 82.20 B
    #   Grace: HW missing (0/10) dropped, 7/10 = 70,        EXAM 41/50 = 82   -> 0.4*70 + 0.6*82 = 77.20 C
    #   class average (86 + 82.2 + 77.2) / 3 = 81.80; every student has a result on every assessment.
    terms = await call_ok(teacher, "get_term_grades", class_term)
    computed = by_student(terms["grades"])
    assert {s: (g["percentage"], g["letter"], g["published"]) for s, g in computed.items()} == {
        ada: (86, "B", False), alan: (82.2, "B", False), grace: (77.2, "C", False)}
    assert (terms["class_average"], terms["missing_scores"], terms["published"]) == (81.8, 0, False)

    # The registrar publishes: held at the gate, queued by their confirmation, executed by an admin's
    # approval.
    proposal = await call_ok(registrar, "publish_term_grades", class_term)
    assert (proposal["pending"], proposal["status"], proposal["level"]) == (True, "proposed", "approve")
    assert proposal["preview"]["class_average"] == 81.8 and proposal["preview"]["after"]["locked_grades"] == 9
    queued = await call_ok(registrar, "confirm_action", {"action_id": proposal["action_id"]})
    assert queued["status"] == "queued", queued
    assert (await call_ok(teacher, "get_term_grades", class_term))["published"] is False
    approved = await call_ok(admin, "approve_action", {"action_id": proposal["action_id"],
                                                       "reason": "term 1 science is complete"})
    assert (approved["status"], approved["decided_by"]) == ("executed", ADMIN_A), approved
    assert (approved["result"]["published_students"], approved["result"]["locked_grades"]) == (3, 9)
    frozen = await call_ok(teacher, "get_term_grades", class_term)
    assert frozen["published"] is True and all(g["published"] for g in frozen["grades"]), frozen

    # A published score cannot simply change; the teacher asks for a grade change with a reason.
    locked = await call_error(teacher, "change_grade", {"assessment_id": sci.exam, "student_id": grace,
                                                        "score": 46})
    assert locked.startswith("error: grade_locked"), locked
    request = await call_ok(teacher, "change_locked_grade", {"assessment_id": sci.exam, "student_id": grace,
                                                             "score": 46, "reason": CHANGE_REASON})
    assert (request["status"], request["level"]) == ("proposed", "approve"), request
    # Grace's exam 46/50 = 92 -> 0.4*70 + 0.6*92 = 83.20 B.
    assert request["preview"]["term_grade"] == {
        "before": {"percentage": 77.2, "letter": "C"}, "after": {"percentage": 83.2, "letter": "B"}}
    request_id = request["action_id"]
    assert (await call_ok(teacher, "confirm_action", {"action_id": request_id}))["status"] == "queued"
    grade = await call_ok(teacher, "get_grade", {"assessment_id": sci.exam, "student_id": grace})
    assert (grade["score"], grade["locked"]) == (41, True), grade

    waiting = (await call_ok(registrar, "list_grade_change_requests", {}))["items"]
    assert [r["request_id"] for r in waiting] == [request_id], waiting
    seen = waiting[0]
    assert (seen["status"], seen["student_id"], seen["reason"], seen["requested_by"]) == (
        "queued", grace, CHANGE_REASON, TEACHER), seen
    assert (seen["original"]["score"], seen["original"]["locked"]) == (41, True), seen
    assert seen["proposed"]["score"] == 46, seen
    assert (seen["assessment"], seen["class_code"], seen["decided_by"]) == (
        "Final exam", sci.class_code, None), seen

    admin_me = await call_ok(admin, "get_me")
    teacher_me = await call_ok(teacher, "get_me")
    decided = await call_ok(admin, "approve_action", {"action_id": request_id,
                                                      "reason": "re-marking checked"})
    assert (decided["status"], decided["decided_by"]) == ("executed", ADMIN_A), decided
    assert decided["result"]["score"] == 46 and decided["result"]["locked"] is True
    assert (await call_ok(registrar, "list_grade_change_requests", {}))["items"] == []
    done = (await call_ok(registrar, "list_grade_change_requests", {"status": "decided"}))["items"]
    assert [(r["request_id"], r["status"], r["decided_by"]) for r in done] == [
        (request_id, "executed", ADMIN_A)]

    # The transcript shows the new grade with its one change: before/after, reason, who asked and approved.
    transcript = await call_ok(registrar, "get_transcript", {"student_id": grace})
    assert transcript["student_name"] == names[grace] and len(transcript["lines"]) == 1, transcript
    line = transcript["lines"][0]
    assert (line["class_code"], line["subject"], line["percentage"], line["letter"]) == (
        sci.class_code, "Science", 83.2, "B"), line
    assert (line["gpa_points"], line["credits"], line["earns_credit"]) == (3, 2, True), line
    assert len(line["history"]) == 1, line["history"]
    change = line["history"][0]
    assert change["before"] == {"percentage": 77.2, "letter": "C"}
    assert change["after"] == {"percentage": 83.2, "letter": "B"}
    assert (change["reason"], change["requested_by"], change["approved_by"], change["request_id"]) == (
        CHANGE_REASON, teacher_me["user_id"], admin_me["user_id"], request_id), change
    # One 2-credit B (3 points) is the only published grade: term and cumulative GPA 3.0, 2 credits earned.
    assert transcript["term_gpa"] == {str(school.term_id): 3} and transcript["gpa"] == 3, transcript
    assert transcript["credits_earned"] == 2
    other = await call_ok(registrar, "get_transcript", {"student_id": alan})
    assert [(x["percentage"], x["letter"], x["history"]) for x in other["lines"]] == [(82.2, "B", [])], other

    # Report cards of the section: one PDF per student, with their name and their science percentage.
    job = await call_waiting(registrar, "generate_report_cards", {"term_id": school.term_id,
                                                                  "section_id": school.section_id},
                             REPORT_CARDS_WAIT_S)
    assert job["status"] == "succeeded", job
    assert (job["result"]["documents"], job["result"]["students"]) == (3, 3), job["result"]
    documents = (await call_ok(registrar, "list_documents", {"job_id": job["job_id"]}))["items"]
    assert sorted(d["document_id"] for d in documents) == sorted(job["result"]["document_ids"])
    assert sorted(d["student_id"] for d in documents) == sorted(school.student_ids)
    expected_percentage = {ada: "86.00", alan: "82.20", grace: "83.20"}
    for listed in documents:
        document = await call_ok(registrar, "get_document", {"document_id": listed["document_id"],
                                                             "max_bytes": MAX_CHUNK_BYTES})
        assert (document["kind"], document["content_type"]) == ("report_card", "application/pdf"), listed
        pdf = base64.b64decode(document["content_base64"], validate=True)
        assert pdf.startswith(b"%PDF-") and len(pdf) == document["size"]
        assert hashlib.sha256(pdf).hexdigest() == document["sha256"]
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        student = listed["student_id"]
        assert names[student] in text and code[student] in text, text
        assert expected_percentage[student] in text, text
        assert not any(name in text for other_id, name in names.items() if other_id != student), text


@pytest.mark.transport  # the same flow runs on PostgreSQL over HTTP: test_gradebook_flow_over_http
async def test_gradebook_flow_over_stdio(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        async with stdio_client(db, ADMIN_A) as admin:
            school = await seed_school(admin)
            await create_keys(db, [KeySpec(REGISTRAR, "registrar"),
                                   KeySpec(TEACHER, "teacher", school.teacher_codes[0])])
            async with stdio_client(db, REGISTRAR) as registrar, stdio_client(db, TEACHER) as teacher:
                await gradebook_flow(school, admin=admin, registrar=registrar, teacher=teacher)
        assert await verify_audit(db) > 20


async def test_gradebook_flow_over_http(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        # The admin's and registrar's keys are made while the server starts; the teacher's needs the seeded
        # employee.
        early_keys = asyncio.ensure_future(create_keys(db, [KeySpec(ADMIN_A),
                                                            KeySpec(REGISTRAR, "registrar")]))
        try:
            async with http_server(db) as server:
                keys = await early_keys
                async with http_client(server, {"Authorization": f"Bearer {keys[ADMIN_A]}"}) as admin:
                    school = await seed_school(admin)
                    keys |= await create_keys(db, [KeySpec(TEACHER, "teacher", school.teacher_codes[0])])
                    connect = http_clients(server, keys)
                    async with connect(REGISTRAR) as registrar, connect(TEACHER) as teacher:
                        await gradebook_flow(school, admin=admin, registrar=registrar, teacher=teacher)
        finally:
            if not early_keys.done():  # the server failed to start: stop the key subprocesses too
                early_keys.cancel()
                with contextlib.suppress(BaseException):
                    await early_keys
        assert await verify_audit(db) > 20
