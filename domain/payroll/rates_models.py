"""Payroll rates an admin added: dated rates of a payroll jurisdiction (domain.payroll.jurisdiction), such as next
year's super guarantee rate, kept as data beside the rates bundled with mcs-erp.

A row is never edited: a later rate is a new row with a later `effective_from`. `rate` is a fraction written as a
decimal string ("0.12" is 12 %), exact. Rows are added only through the gated add_payroll_rate
(domain/payroll/rates.py).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from domain.kernel.models import Entity


class PayrollRate(Entity, table=True):
    """A rate of `jurisdiction` (AU) named `name` (super_guarantee_rate) in force from `effective_from` until the
    next one of the same name; `source` cites the law or publication that sets it."""

    __tablename__ = "payroll_rates"
    __table_args__ = (UniqueConstraint("jurisdiction", "name", "effective_from"),)

    jurisdiction: str = Field(max_length=8, nullable=False)
    name: str = Field(max_length=60, nullable=False)
    effective_from: date = Field(nullable=False)
    rate: str = Field(max_length=24, nullable=False)  # a fraction as a decimal string: "0.12" is 12 %
    source: str = Field(max_length=500, nullable=False)
