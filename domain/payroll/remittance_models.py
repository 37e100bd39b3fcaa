"""Remittance tables: what was paid to super funds and to the ATO, and which payslips each payment covered.

A remittance is one payment (kind `super` or `payg`) of the amounts payslips owed over a range of pay dates, with its
journal entry (clearing the payable account against the bank) and, for super, its SuperStream contribution data as
stored documents. `remittance_payslips` links each payslip to the remittance that carried it, once per kind
(UNIQUE(payslip_id, kind)): nothing is remitted twice. Money columns are integer minor units of `currency`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.kernel.models import Entity


class RemittanceKind(StrEnum):
    """super: contributions paid to super funds (SuperStream); payg: PAYG withholding paid to the ATO (BAS/IAS W2)."""

    SUPER = "super"
    PAYG = "payg"


class Remittance(Entity, table=True):
    """One payment of payroll liabilities: its kind, the pay dates it covers, the day it was paid and the total.

    `data` is JSON: for super, the contributions per fund and member (the SuperStream data); for payg, the amount
    withheld per pay date. `csv_document_id` and `json_document_id` are the stored files (super only)."""

    __tablename__ = "remittances"

    number: str = Field(max_length=30, unique=True, nullable=False)
    kind: str = Field(max_length=8, nullable=False, index=True)
    pay_date_from: date = Field(nullable=False)
    pay_date_to: date = Field(nullable=False)
    paid_on: date = Field(nullable=False, index=True)
    currency: str = Field(max_length=3, nullable=False)
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    payslips: int = Field(nullable=False)
    journal_entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    csv_document_id: int | None = Field(default=None, foreign_key="documents.id")
    json_document_id: int | None = Field(default=None, foreign_key="documents.id")
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_by: int | None = Field(default=None, foreign_key="users.id")


class RemittancePayslip(SQLModel, table=True):
    """A payslip carried by a remittance of one kind, with the amount it contributed (minor units; negative for a
    reversing payslip). A payslip is remitted at most once per kind."""

    __tablename__ = "remittance_payslips"
    __table_args__ = (UniqueConstraint("payslip_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    remittance_id: int = Field(foreign_key="remittances.id", nullable=False, index=True)
    payslip_id: int = Field(foreign_key="payslips.id", nullable=False, index=True)
    kind: str = Field(max_length=8, nullable=False)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
