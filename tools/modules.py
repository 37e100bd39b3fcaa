"""Every module of the product, for the registry to order and filter."""

from __future__ import annotations

from tools.registry import Module


def all_modules() -> list[Module]:
    """Return every bounded context's module declaration (imported here, not at package import)."""
    from tools import academics, actions, attendance, gradebook, hr, jobs, platform, timetable  # noqa: F401 (registers)

    return [platform.module, actions.module, jobs.module, hr.module, academics.module, timetable.module]
