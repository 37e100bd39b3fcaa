"""Output schemas of the documents context: what its tools return, and the mappers from its rows."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from domain.documents.models import Document
from domain.kernel.schemas import OutputModel


class DocumentOut(OutputModel):
    document_id: int
    kind: str = Field(description="report_card, payslip, payroll_summary or fee_statement.")
    filename: str
    content_type: str = Field(description="Media type, e.g. application/pdf.")
    size: int = Field(description="Bytes.")
    sha256: str
    student_id: int | None = None
    term_id: int | None = None
    job_id: int | None = Field(default=None, description="The job that made it.")
    created_at: datetime = Field(description="UTC.")


def document_out(row: Document) -> DocumentOut:
    """A stored document's metadata (its bytes: DocumentContentOut)."""
    return DocumentOut(document_id=row.id or 0, kind=row.kind, filename=row.filename, content_type=row.content_type,
                       size=row.size, sha256=row.sha256, student_id=row.student_id, term_id=row.term_id,
                       job_id=row.job_id, created_at=row.created_at)


class DocumentContentOut(DocumentOut):
    content_base64: str = Field(description="The file's bytes, base64 (a report card is about 30 kB).")
