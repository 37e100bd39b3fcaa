"""Store and read documents. Services flush and never commit (the entry point owns the transaction)."""

from __future__ import annotations

import hashlib

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.documents.models import Document
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from domain.kernel.audit import append_audit
from domain.kernel.errors import NotFound

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


async def store(session: AsyncSession, *, kind: str, filename: str, content_type: str, data: bytes,
                student_id: int | None = None, term_id: int | None = None, job_id: int | None = None,
                created_by: int | None = None, actor: Actor = SYSTEM_ACTOR, tool: str = "store_document"
                ) -> Document:
    """Store a document (bytes, at most MAX_DOCUMENT_BYTES) and return it with its id, size and SHA-256.

    Appends the document's own audit row in the caller's transaction (event document_stored, entity documents,
    as `actor`, under `tool`: the tool or job that made it), so a job storing 25 report cards leaves 25 rows."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"document {filename} is {len(data)} bytes; at most {MAX_DOCUMENT_BYTES}")
    row = Document(kind=kind, filename=filename, content_type=content_type, size=len(data),
                   sha256=hashlib.sha256(data).hexdigest(), data=data, student_id=student_id, term_id=term_id,
                   job_id=job_id, created_by=created_by)
    session.add(row)
    await session.flush()
    await append_audit(session, actor, tool=tool, event="document_stored",
                       arguments={"kind": kind, "filename": filename, "student_id": student_id, "term_id": term_id,
                                  "job_id": job_id},
                       entity="documents", entity_id=row.id,
                       after={"content_type": content_type, "size": row.size, "sha256": row.sha256})
    return row


async def get(session: AsyncSession, document_id: int) -> Document:
    """Return the live document or raise NotFound."""
    row = await session.get(Document, document_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"no document with id {document_id}; list_documents lists them", field="document_id")
    return row


async def of_job(session: AsyncSession, job_id: int, *, kind: str | None = None) -> list[Document]:
    """Return the live documents a job stored, by id."""
    stmt = select(Document).where(Document.job_id == job_id, Document.deleted_at.is_(None))  # type: ignore
    if kind is not None:
        stmt = stmt.where(Document.kind == kind)
    return list((await session.exec(stmt.order_by(Document.id))).all())


async def listing(session: AsyncSession, *, after_id: int, limit: int, job_id: int | None, student_id: int | None,
                  kind: str | None, kinds: list[str] | None = None) -> list[Document]:
    """Return live documents after `after_id` by id, filtered (limit + 1 rows, for paging)."""
    stmt = select(Document).where(Document.id > after_id, Document.deleted_at.is_(None))  # type: ignore
    if job_id is not None:
        stmt = stmt.where(Document.job_id == job_id)
    if student_id is not None:
        stmt = stmt.where(Document.student_id == student_id)
    if kind is not None:
        stmt = stmt.where(Document.kind == kind)
    if kinds is not None:
        stmt = stmt.where(Document.kind.in_(kinds))  # type: ignore[attr-defined]
    return list((await session.exec(stmt.order_by(Document.id).limit(limit + 1))).all())
