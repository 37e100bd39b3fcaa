"""HR's domain events (domain/kernel/outbox.py): recorded with the change, delivered to other contexts' handlers."""

from __future__ import annotations

from datetime import date

from domain.kernel.outbox import DomainEvent


class EmployeeTerminated(DomainEvent):
    """An employee was terminated as of a date (terminate_employee, applied): payroll ends their contract and
    makes the final pay from it (issue 21, with the payroll issue)."""

    topic = "hr.EmployeeTerminated"
    aggregate = "hr.employee"
    aggregate_field = "employee_id"
    schema_version = 1

    employee_id: int
    employee_code: str
    termination_date: date
    reason: str
