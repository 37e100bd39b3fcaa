"""The one error hierarchy of mcs-erp.

Every failure a caller can cause is a `DomainError` with a stable `code`, a message that says what was
wrong and what is allowed, and optionally the `field` it concerns. Each edge translates these once: MCP
turns them into an error result (isError) the model can read, HTTP into a status code and
`{"error", "detail"}`, workers into retry or give up.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure; `code` is stable, `message` is written for a person or a model."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}

    def as_text(self) -> str:
        """The error as a model reads it (an MCP error result, an agent's tool result): `error: code (field:
        name)` on the first line, the message on the second."""
        where = f" (field: {self.field})" if self.field else ""
        return f"error: {self.code}{where}\n{self.message}"

    def to_dict(self) -> dict[str, Any]:
        """Return `{"error": code, "message": ..., "field": ..., "details": {...}}` for an edge to send."""
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


class InvalidInput(DomainError):
    """The arguments break a rule: a wrong type, a value out of range, an unknown choice."""

    code = "invalid_input"
    http_status = 422


class NotFound(DomainError):
    """No live row has that id or code."""

    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    """The request contradicts the current state (a duplicate code, a grade already recorded)."""

    code = "conflict"
    http_status = 409


def concurrent_write() -> Conflict:
    """What a caller is told when the database refused a write that raced another (a duplicate code, a
    concurrent edit): the edges translate an IntegrityError into this."""
    return Conflict("the change conflicts with a record written at the same time (a duplicate code or a "
                    "concurrent edit); read the record again and retry")


class PermissionDenied(DomainError):
    """The actor's roles or row scope do not allow this."""

    code = "permission_denied"
    http_status = 403


class Unauthenticated(DomainError):
    """No valid credential was presented."""

    code = "unauthenticated"
    http_status = 401


class StaleAction(DomainError):
    """A row the pending action touches changed after its preview; nothing was changed."""

    code = "stale_action"
    http_status = 409


class ActionClosed(DomainError):
    """The pending action is no longer open (executed, cancelled, rejected, expired or stale)."""

    code = "action_closed"
    http_status = 409


class GradeLocked(DomainError):
    """The grade was published and is locked; only an approved change with a reason may alter it."""

    code = "grade_locked"
    http_status = 409
