"""Payroll's domain events (domain/kernel/outbox.py): recorded with the change, delivered to other contexts'
handlers."""

from __future__ import annotations

from datetime import date

from domain.kernel.outbox import DomainEvent


class PayslipsPaid(DomainEvent):
    """A posted run's payslips were marked paid (mark_payroll_run_paid, applied): each employee is sent their
    payslip (issue 21; Fair Work Regulations 2009 reg 3.44: within one working day of payment). Carries the run,
    not its payslips' ids (a school's run is thousands: the handler reads them through the payroll service)."""

    topic = "payroll.PayslipsPaid"
    aggregate = "payroll.run"
    aggregate_field = "run_id"
    schema_version = 1

    run_id: int
    period: str
    pay_date: date
    payslips: int
