"""Tenant tools for the operator (issue 20): dropping a school of this deployment, gated at approve level with an
export first (domain/migrations/tenant_drop.py). Creating, listing, migrating, suspending and moving tenants are
`mcs-erp tenants` commands; they register on the platform module."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.actions.models import GateLevel
from domain.kernel.actor import Actor, Role
from domain.kernel.errors import InvalidInput
from domain.kernel.plan import Plan, effects
from domain.kernel.settings import current_settings
from domain.kernel.tenants import CODE_PATTERN
from domain.migrations import tenant_drop
from domain.migrations.tenant_drop import DroppedTenantOut, TenantExportOut
from tools.platform import module
from tools.registry import Effect, ToolContext
from tools.types import ToolInput

TenantCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=31,
                                              pattern=f"^{CODE_PATTERN.pattern}$")]


class DropTenantIn(ToolInput):
    code: TenantCode = Field(description="The tenant's code (`mcs-erp tenants list`), e.g. north_campus: a "
                                         "lower-case letter, then 1 to 30 lower-case letters, digits or underscores.")


def _plan_drop(session: AsyncSession, actor: Actor, args: DropTenantIn):
    settings = current_settings()  # the runtime's, set by the gate around every plan
    return tenant_drop.plan_drop_tenant(session, actor, code=args.code, settings=settings,
                                        database_url=settings.database_url)


@module.tool(effect=Effect.DESTRUCTIVE, roles={Role.ADMIN}, gate=GateLevel.APPROVE, plan=_plan_drop)
async def drop_tenant(ctx: ToolContext, args: DropTenantIn) -> DroppedTenantOut:
    """Drop a tenant (a school of this deployment) for good: it is exported first to a zip on the server, then
    deleted from the registry (its API keys stop working) and its schema (or SQLite file) dropped. Only an admin of
    the operator's default tenant may ask, only for a suspended tenant (`mcs-erp tenants suspend CODE`); another
    admin must approve. Undone only by importing the export. The preview names the tenant, its database and the
    export's file."""
    plan: Plan | None = ctx.plan
    if plan is None or ctx.action is None:
        raise InvalidInput("drop_tenant runs only through the confirmation gate", field="code")
    (effect,) = effects(plan, tenant_drop.DROP)
    payload = {**effect.payload, "action_id": ctx.action.action_id}
    done = await tenant_drop.export_and_drop(ctx.session, ctx.runtime.db, payload)
    manifest, row = done["manifest"], payload["tenant"]
    return DroppedTenantOut(
        code=row["code"], name=row["name"], storage_dropped=done["storage_dropped"],
        database=tenant_drop.shown_database(row["database_url"], ctx.runtime.db.url, row["code"]),
        export=TenantExportOut(path=done["path"], bytes=done["bytes"], format=manifest["format"],
                               revision=manifest["revision"], tables=len(manifest["tables"]),
                               rows=sum(t["rows"] for t in manifest["tables"])))
