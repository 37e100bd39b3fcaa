"""generate_report_cards: a section's PDF report cards as a job, stored as documents that open and name each
student with their grades."""

from __future__ import annotations

import base64
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import update

from domain.documents.schemas import MAX_CHUNK_BYTES
from domain.jobs.models import Job
from domain.kernel.errors import InvalidInput, PermissionDenied
from tests.factories import make_school
from tools.invoke import invoke
from workers.handlers import JobContext, get_handler


def pdf_text(content_base64: str) -> str:
    reader = PdfReader(io.BytesIO(base64.b64decode(content_base64)))
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_a_sections_report_cards_are_made_as_a_job_and_open(rt):
    school = await make_school(rt, students=2)
    s1, s2 = school.student_ids
    await invoke(rt, "record_grade", {"assessment_id": school.assessment_id, "student_id": s1, "score": 91},
                 school.teacher)
    await invoke(rt, "record_grade", {"assessment_id": school.assessment_id, "student_id": s2, "score": 64.5},
                 school.teacher)
    await invoke(rt, "set_term_comment", {"class_id": school.class_id, "term_id": school.term_id, "student_id": s1,
                                          "comment": "Excellent problem solving this term."}, school.teacher)
    with pytest.raises(PermissionDenied):
        await invoke(rt, "set_term_comment", {"class_id": school.class_id, "term_id": school.term_id,
                                              "student_id": s1, "comment": "Not my class"}, school.other_teacher)
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, message))

    job = await invoke(rt, "generate_report_cards", {"term_id": school.term_id, "section_id": school.section_id,
                                                     "wait_s": 120}, school.registrar, progress=on_progress)
    assert job.status == "succeeded", job.error
    assert job.result["documents"] == job.result["students"] == 2 and seen[-1][0] == 1.0
    listed = await invoke(rt, "list_documents", {"job_id": job.job_id}, school.registrar)
    assert [d.document_id for d in listed.items] == job.result["document_ids"]
    assert {d.student_id for d in listed.items} == {s1, s2}
    for doc in listed.items:
        assert doc.content_type == "application/pdf" and doc.kind == "report_card" and doc.size > 1000
        student = await invoke(rt, "get_student", {"student_id": doc.student_id}, school.registrar)
        full = await invoke(rt, "get_document", {"document_id": doc.document_id, "max_bytes": MAX_CHUNK_BYTES},
                            school.registrar)
        text = pdf_text(full.content_base64)
        assert student.first_name in text and student.last_name in text and student.code in text
        assert "Mathematics" in text and "Science" in text  # both classes of the section
        assert ("91.00" if doc.student_id == s1 else "64.50") in text, text
        assert ("Excellent problem solving this term." in text) == (doc.student_id == s1)

    # Run again as if the worker died after storing the cards but before finishing: nothing is made twice.
    async with rt.db.write() as session:
        await session.exec(update(Job).where(Job.id == job.job_id).values(status="running"))
    handler = get_handler("generate_report_cards")
    again = await handler(JobContext(rt, job.job_id, 2), job.job_id, job.params)
    assert again["document_ids"] == job.result["document_ids"]


async def test_report_cards_need_a_registrar_and_a_section_or_level(rt):
    school = await make_school(rt, students=1)
    with pytest.raises(PermissionDenied):
        await invoke(rt, "generate_report_cards", {"term_id": school.term_id, "section_id": school.section_id},
                     school.teacher)
    with pytest.raises(InvalidInput) as info:
        await invoke(rt, "generate_report_cards", {"term_id": school.term_id}, school.registrar)
    assert info.value.field == "section_id"
    with pytest.raises(PermissionDenied):
        await invoke(rt, "list_documents", {}, school.teacher)
