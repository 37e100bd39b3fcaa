"""Stored documents: files the school produces (report cards now; payslips and exports later), kept in the
database so every backend holds them the same way and they are backed up with the data."""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field

from domain.kernel.models import Entity


class Document(Entity, table=True):
    """A generated file: its kind (report_card), name, media type, size in bytes and SHA-256, the bytes, and
    what it is about (a student and a term) and which job made it. One document per (job, kind, student)."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("job_id", "kind", "student_id"),)

    kind: str = Field(max_length=40, nullable=False, index=True)
    filename: str = Field(max_length=200, nullable=False)
    content_type: str = Field(max_length=80, nullable=False)
    size: int = Field(nullable=False)
    sha256: str = Field(max_length=64, nullable=False)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    student_id: int | None = Field(default=None, foreign_key="students.id", index=True)
    term_id: int | None = Field(default=None, foreign_key="terms.id")
    job_id: int | None = Field(default=None, foreign_key="jobs.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="users.id")
