"""Every module of the product, for the registry to order and filter."""

from __future__ import annotations

from tools.registry import Module


def all_modules() -> list[Module]:
    """Return every bounded context's module declaration (imported here, not at package import)."""
    from tools import (  # noqa: F401 (attendance and gradebook register on academics, tenants on platform)
        academics,
        actions,
        attendance,
        discovery,
        documents,
        family,
        fees,
        finance,
        gradebook,
        hr,
        inventory,
        jobs,
        leave,
        notifications,
        payroll,
        payroll_banking,
        payroll_reports,
        payroll_setup,
        platform,
        purchasing,
        tenants,
        timetable,
    )

    return [platform.module, discovery.module, actions.module, jobs.module, documents.module, hr.module,
            academics.module, timetable.module, finance.module, payroll.module, payroll_banking.module,
            payroll_setup.module, payroll_reports.module, fees.module, leave.module,
            inventory.module, purchasing.module, notifications.module, family.module]
