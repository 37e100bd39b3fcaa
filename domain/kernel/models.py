"""Column conventions shared by every mutable table: surrogate id, version, timestamps, soft delete."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from domain.kernel.clock import utcnow


class Entity(SQLModel):
    """Base of mutable rows: `version` counts updates (optimistic concurrency), `deleted_at` soft-deletes."""

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, nullable=False)
    deleted_at: datetime | None = Field(default=None, nullable=True)


def bump(row: Entity) -> None:
    """Mark `row` as changed: increment its version and stamp `updated_at`."""
    row.version = (row.version or 0) + 1
    row.updated_at = utcnow()


def snapshot(row: SQLModel, *, exclude: set[str] | None = None) -> dict:
    """Return a JSON-ready dict of a row's columns (dates as ISO strings) for previews and audit rows."""
    out = {}
    skip = exclude or set()
    for key, value in row.model_dump().items():
        if key in skip:
            continue
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif hasattr(value, "value") and not isinstance(value, (int, float, str)):
            value = value.value
        elif value is not None and type(value).__name__ == "Decimal":
            value = str(value)
        out[key] = value
    return out
