"""The report card job: one PDF per enrolled student of the given sections, stored as documents."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from domain.academics import report_cards
from domain.academics.report_card import render_report_card
from domain.academics.report_cards import REPORT_CARD
from domain.documents import service as documents
from domain.jobs.schemas import JobKind
from domain.kernel.clock import utcnow
from workers.handlers import JobContext, register

PROGRESS_EVERY_S = 1.0


@register(JobKind.GENERATE_REPORT_CARDS)
async def generate_report_cards(ctx: JobContext, job_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Render and store a report card (kind report_card, application/pdf) for every enrolled student of
    `params["section_ids"]` in term `params["term_id"]`; return {"documents", "document_ids", "students"}.

    The batch's data is gathered at once (report_cards.report_cards_data). Idempotent: a student whose card
    this job already stored is skipped, so a re-run after a worker restart finishes the batch without
    duplicates. Rendering runs in a thread; progress is reported about once a second ("N of M report cards").
    """
    term_id = int(params["term_id"])
    issued_on = utcnow().date()
    async with ctx.runtime.db.read() as session:
        done = {d.student_id for d in await documents.of_job(session, job_id, kind=REPORT_CARD)}
        cards = await report_cards.report_cards_data(session, section_ids=[int(s) for s in params["section_ids"]],
                                                     term_id=term_id, school_name=ctx.runtime.settings.school_name,
                                                     issued_on=issued_on)
    total = len(cards)
    await ctx.progress(0.0, f"{total} report cards to make")
    last = time.monotonic()
    for index, (target, data) in enumerate(cards, start=1):
        if target.student_id in done:
            continue
        pdf = await asyncio.to_thread(render_report_card, data)
        async with ctx.runtime.db.write() as session:
            await documents.store(session, kind=REPORT_CARD, filename=f"report-card-{target.student_code}.pdf",
                                  content_type="application/pdf", data=pdf, student_id=target.student_id,
                                  term_id=term_id, job_id=job_id, tool=JobKind.GENERATE_REPORT_CARDS.value)
        if time.monotonic() - last >= PROGRESS_EVERY_S or index == total:
            await ctx.progress(index / total if total else 1.0, f"{index} of {total} report cards")
            last = time.monotonic()
    async with ctx.runtime.db.read() as session:
        stored = await documents.of_job(session, job_id, kind=REPORT_CARD)
    return {"documents": len(stored), "document_ids": [d.id for d in stored], "students": total,
            "term_id": term_id, "section_ids": params["section_ids"]}
