"""Time in one place: timestamps are timezone-aware UTC datetimes (stored as UTC on both databases)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
