"""The one error hierarchy of mcs-erp.

Every failure a caller can cause is a `DomainError` with a stable `code`, a message that says what was
wrong and what is allowed, and optionally the `field` it concerns. Each edge translates these once: MCP
turns them into an error result (isError) the model can read, HTTP into a status code and
`{"error", "detail"}`, workers into retry or give up.
"""

from __future__ import annotations

import socket
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


class ServiceUnavailable(DomainError):
    """A service the call needs (the database, the job queue on Redis) did not answer: refused, dropped or timed
    out the connection. Retryable: the same call is expected to work a few seconds later, once the service is
    back (`details`: `service`, `retryable`, `retry_after_s`). Raised by the units of work (domain.kernel.db)
    for the exceptions `unavailable_service` recognises, never for a refusal by a service that answered."""

    code = "unavailable"
    http_status = 503

    def __init__(self, service: str, message: str | None = None, *, retry_after_s: int = 5):
        what = {"database": "the database", "redis": "the job queue (Redis)"}.get(service, service)
        after = {"database": " (a write cut off while committing may have been saved: read it back before "
                             "repeating a write that has no idempotency key)",
                 "redis": " (a job this call recorded is kept and runs once the queue is back: get_job shows it)"}
        super().__init__(message or f"{what} is unavailable (restarting or unreachable); try again in "
                                    f"{retry_after_s} seconds{after.get(service, '')}",
                         details={"service": service, "retryable": True, "retry_after_s": retry_after_s})
        self.service = service
        self.retry_after_s = retry_after_s


_DB_DRIVER_DISCONNECTS = frozenset({
    # asyncpg (asyncpg.exceptions): the server refused new connections (starting up, shutting down, too many) or
    # the connection dropped under a statement
    "CannotConnectNowError", "ConnectionDoesNotExistError", "ConnectionFailureError", "ConnectionRejectionError",
    "TooManyConnectionsError", "AdminShutdownError", "CrashShutdownError", "InterfaceError",
})
_REDIS_DISCONNECTS = frozenset({"ConnectionError", "TimeoutError", "BusyLoadingError"})


def _chain(exc: BaseException, depth: int = 8) -> list[BaseException]:
    # What a wrapper wraps: SQLAlchemy's `orig`, or the cause a driver re-raised with `from`. Not __context__:
    # an error raised while handling a lost connection (a refusal, a bug) is not the lost connection.
    out: list[BaseException] = []
    while exc is not None and len(out) < depth and exc not in out:
        out.append(exc)
        exc = getattr(exc, "orig", None) or exc.__cause__  # type: ignore[assignment]
    return out


def unavailable_service(exc: BaseException) -> str | None:
    """Name the service whose connection failed behind `exc` ("database" or "redis"), or None when `exc` is not
    a connection failure (a constraint, a syntax error, SQLite's "database is locked", a bug).

    Recognised, by class (no driver is imported here): SQLAlchemy errors whose connection was invalidated or
    that wrap an asyncpg connection error, SQLAlchemy's pool timeout (no connection within `pool_timeout`),
    asyncpg's connection errors (CannotConnectNowError, ConnectionDoesNotExistError, ...), OSError and
    TimeoutError raised while connecting (ConnectionRefusedError, a host that does not resolve), and redis-py's
    ConnectionError, TimeoutError and BusyLoadingError.
    """
    for link in _chain(exc):
        if isinstance(link, DomainError):
            return None  # already a refusal written for the caller (ServiceUnavailable included)
        module = type(link).__module__ or ""
        names = {cls.__name__ for cls in type(link).__mro__}
        if module.startswith("redis"):
            return "redis" if names & _REDIS_DISCONNECTS else None
        if module.startswith("sqlalchemy"):
            if getattr(link, "connection_invalidated", False) or type(link).__name__ == "TimeoutError":
                return "database"
            continue  # the driver's exception (`orig`) decides
        if module.startswith("asyncpg"):
            if names & _DB_DRIVER_DISCONNECTS or "PostgresConnectionError" in names:
                return "database"
            return None
        if isinstance(link, (ConnectionError, TimeoutError, socket.gaierror)):
            return "database"  # raised by the driver's connect, which SQLAlchemy does not wrap
    return None
