"""Output schemas of the documents context: what its tools return, and the mappers from its rows."""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import Field

from domain.documents.models import Document
from domain.kernel.errors import InvalidInput
from domain.kernel.schemas import OutputModel


class DocumentOut(OutputModel):
    document_id: int
    kind: str = Field(description="report_card, payslip, payroll_summary or fee_statement.")
    filename: str
    content_type: str = Field(description="Media type, e.g. application/pdf.")
    size: int = Field(description="Bytes.")
    sha256: str
    student_id: int | None = None
    student_code: str | None = None
    term_id: int | None = None
    term_code: str | None = None
    job_id: int | None = Field(default=None, description="The job that made it.")
    created_at: datetime = Field(description="UTC.")


def document_out(row: Document) -> DocumentOut:
    """A stored document's metadata (its bytes: DocumentContentOut)."""
    return DocumentOut(document_id=row.id or 0, kind=row.kind, filename=row.filename, content_type=row.content_type,
                       size=row.size, sha256=row.sha256, student_id=row.student_id, term_id=row.term_id,
                       job_id=row.job_id, created_at=row.created_at)


CHUNK_BYTES = 9_000
"""The bytes get_document returns by default (12,000 characters of base64), so one answer stays near 4k tokens; a
multiple of 3, so the base64 of consecutive chunks joins into the base64 of the whole file."""
MAX_CHUNK_BYTES = 10_000_000
"""The most bytes one get_document call returns (a program reading a whole file at once)."""


class DocumentContentOut(DocumentOut):
    """A document's metadata and one chunk of its bytes: from `offset`, at most max_bytes of them."""

    offset: int = Field(description="Where this chunk starts, in bytes from the start of the file.")
    content_base64: str = Field(description="This chunk of the file's bytes, base64 (a report card is about "
                                            "30 kB in all).")
    next_offset: int | None = Field(default=None, description="Call again with offset=next_offset for the rest; "
                                                              "null: this chunk ends the file.")


def document_content_out(row: Document, *, offset: int = 0, max_bytes: int = CHUNK_BYTES) -> DocumentContentOut:
    """A stored document with the chunk of its bytes from `offset` (at most `max_bytes`); raises InvalidInput for
    an offset past the end of the file."""
    if offset > 0 and offset >= row.size:
        raise InvalidInput(f"offset {offset} is past the end of document {row.id} ({row.size} bytes); offsets run "
                           f"from 0 to {max(row.size - 1, 0)}", field="offset")
    chunk = row.data[offset:offset + max_bytes]
    end = offset + len(chunk)
    return DocumentContentOut(**document_out(row).model_dump(), offset=offset,
                              content_base64=base64.b64encode(chunk).decode(),
                              next_offset=end if end < row.size else None)
