"""Document tools: list and fetch the files the school generated (report cards, payslips, payroll summaries),
with their bytes as base64. Who may read a document depends on its kind: report cards the registrar, payslips
and payroll summaries payroll staff; admins all."""

from __future__ import annotations

from pydantic import Field

from domain.academics import service as academics
from domain.documents import service as documents
from domain.documents.schemas import (
    CHUNK_BYTES,
    MAX_CHUNK_BYTES,
    DocumentContentOut,
    DocumentOut,
    document_content_out,
    document_out,
)
from domain.jobs import service as jobs
from domain.kernel.actor import Role
from domain.kernel.errors import PermissionDenied
from tools.references import DocumentRef, JobRef, StudentRef
from tools.registry import Effect, Module, ToolContext
from tools.types import Page, PageInput, ToolInput, page_of

module = Module("documents", core=True, description="Generated files (report cards, payslips) stored with the data.")
KIND_READERS: dict[str, frozenset[Role]] = {
    "report_card": frozenset({Role.ADMIN, Role.REGISTRAR}),
    "payslip": frozenset({Role.ADMIN, Role.PAYROLL}),
    "payroll_summary": frozenset({Role.ADMIN, Role.PAYROLL}),
    "payroll_bank_file": frozenset({Role.ADMIN, Role.PAYROLL}),
    "superstream_saff": frozenset({Role.ADMIN, Role.PAYROLL}),
    "superstream_json": frozenset({Role.ADMIN, Role.PAYROLL}),
    "stp_pay_event": frozenset({Role.ADMIN, Role.PAYROLL}),
    "stp_finalisation": frozenset({Role.ADMIN, Role.PAYROLL}),
    "fee_statement": frozenset({Role.ADMIN, Role.FINANCE}),
}
READERS = frozenset().union(*KIND_READERS.values())
KINDS = tuple(KIND_READERS)


def readable_kinds(actor) -> list[str]:
    """The document kinds `actor`'s roles may read."""
    return [kind for kind, roles in KIND_READERS.items() if actor.has_any(roles)]


class ListDocumentsIn(PageInput):
    job_id: JobRef | None = None
    student_id: StudentRef | None = None


@module.tool(effect=Effect.READ, roles=READERS)
async def list_documents(ctx: ToolContext, args: ListDocumentsIn) -> Page[DocumentOut]:
    """List generated documents (report cards; payslips and payroll summaries for payroll staff), oldest first;
    get_document returns one's content."""
    rows = await documents.listing(ctx.session, after_id=args.after_id(), limit=args.limit, job_id=args.job_id,
                                   student_id=args.student_id, kind=None, kinds=readable_kinds(ctx.actor))
    if not rows:  # an empty page: say so when a filter names nothing that exists
        if args.job_id is not None:
            await jobs.get_job_or_raise(ctx.session, args.job_id)
        if args.student_id is not None:
            await academics.get_student(ctx.session, args.student_id)
    page, cursor = page_of(rows, args.limit)
    return Page[DocumentOut](items=[document_out(r) for r in page], next_cursor=cursor)


class DocumentIdIn(ToolInput):
    document_id: DocumentRef
    offset: int = Field(default=0, ge=0, le=MAX_CHUNK_BYTES * 100)
    max_bytes: int = Field(default=CHUNK_BYTES, ge=1, le=MAX_CHUNK_BYTES)


@module.tool(effect=Effect.READ, roles=READERS)
async def get_document(ctx: ToolContext, args: DocumentIdIn) -> DocumentContentOut:
    """Get a generated document's content as base64, max_bytes from offset; a non-null next_offset is where the next
    chunk starts."""
    row = await documents.get(ctx.session, args.document_id)
    if row.kind not in readable_kinds(ctx.actor):
        allowed = ", ".join(sorted(r.value for r in KIND_READERS.get(row.kind, frozenset({Role.ADMIN}))))
        raise PermissionDenied(f"document {args.document_id} is a {row.kind}; reading it needs one of the roles: "
                               f"{allowed}")
    return document_content_out(row, offset=args.offset, max_bytes=args.max_bytes)
