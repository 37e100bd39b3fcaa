"""Which tenants a process's background work serves: job recovery, the audit sequencer, the notification sender."""

from __future__ import annotations

from domain.kernel import tenants
from domain.kernel.tenants import current_tenant
from tools.runtime import Runtime


async def served_tenants(runtime: Runtime) -> list[str | None]:
    """The context's tenant alone when one is bound (a stdio server's MCS_ERP_TENANT), else the default tenant (None)
    and every active registered one, by code."""
    code = current_tenant()
    if code is not None:
        return [code]
    async with runtime.db.read() as session:
        return [None, *await tenants.active_codes(session)]
