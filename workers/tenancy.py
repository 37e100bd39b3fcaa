"""Which tenants a process's background work serves: job recovery, the audit sequencer, the notification sender and
the outbox relay; and, among them, which have something to do (`tenants_with`).

Each of those loops wakes every few seconds. Serving every tenant with a unit of work of its own each time made an
idle server's CPU grow with the number of schools (100 tenants: 28 % of a core, measured 2026-12-07 with
/proc/<pid>/stat over 20 s of an idle `mcs-erp serve --http`), and its units of work moved the pool's connections
from tenant to tenant. A loop now asks `tenants_with` which tenants have work, in one statement per PostgreSQL
cluster, and serves those.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from domain.kernel import tenants
from domain.kernel.tenants import current_tenant, tenant_in_use
from tools.runtime import Runtime

log = logging.getLogger(__name__)

PROBE_CHUNK = 100
"""Tenant schemas one probe statement looks into at most (bounds the statement's size and the locks it takes)."""
_TABLE = re.compile(r"[a-z_]{1,63}")


async def served_tenants(runtime: Runtime) -> list[str | None]:
    """The context's tenant alone when one is bound (a stdio server's MCS_ERP_TENANT), else the default tenant (None)
    and every active registered one, by code."""
    code = current_tenant()
    if code is not None:
        return [code]
    async with runtime.db.read() as session:
        return [None, *await tenants.active_codes(session)]


async def tenants_with(runtime: Runtime, codes: Sequence[str | None], table: str, condition: str
                       ) -> list[str | None]:
    """The tenants of `codes` (None: the default tenant) whose `table` holds a row matching `condition`, in the
    order of `codes`. `table` is one of our table names and `condition` an SQL condition on its columns written in
    our code (never a caller's), best one a partial index answers (e.g. outbox's "done_at IS NULL").

    PostgreSQL: one statement per cluster and PROBE_CHUNK tenants, `SELECT i WHERE EXISTS (SELECT FROM
    tenant_<code>.<table> WHERE <condition>) UNION ALL ...`, in a read unit of work of that cluster. A probe that
    fails (a tenant's schema dropped meanwhile, a lagging migration) answers every tenant of its chunk, which the
    caller then serves one by one as before (their own units of work say what is wrong). SQLite: every code,
    unprobed (each tenant is a file of its own; the caller's first read there is the probe). Raises ValueError for
    a malformed table name."""
    if not _TABLE.fullmatch(table):
        raise ValueError(f"not a table name: {table!r}")
    if runtime.db.is_sqlite or not codes:
        return list(codes)
    placed = await runtime.db.tenant_clusters([code for code in codes if code is not None])
    clusters: dict[int, tuple[Any, list[str | None]]] = {}
    for code in codes:
        database = runtime.db if code is None else placed[code]
        clusters.setdefault(id(database), (database, []))[1].append(code)
    found: set[str | None] = set()
    for database, members in clusters.values():
        for start in range(0, len(members), PROBE_CHUNK):
            chunk = members[start:start + PROBE_CHUNK]
            found.update(await _probe(database, chunk, table, condition))
    return [code for code in codes if code in found]


async def _probe(database: Any, chunk: list[str | None], table: str, condition: str) -> set[str | None]:
    """The tenants of `chunk` (all of one cluster) with a row of `table` matching `condition`; all of them when the
    statement fails."""
    names = [table if code is None else f"{tenants.schema_of(code)}.{table}" for code in chunk]
    probe = " UNION ALL ".join(f"SELECT {i} WHERE EXISTS (SELECT FROM {name} WHERE {condition})"
                               for i, name in enumerate(names))
    try:
        with tenant_in_use(None):  # the default path: the default tenant's tables unqualified, the others by schema
            async with database.read() as session:
                rows = (await session.exec(text(probe))).all()  # type: ignore[call-overload]
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - each tenant's own unit of work says what is wrong
        log.debug("probing %d tenants' %s failed (%s); each is served", len(chunk), table, exc)
        return set(chunk)
    return {chunk[row[0]] for row in rows}
