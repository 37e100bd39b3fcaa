"""Fees: families, fee schedules and discounts, invoices, payments, credit notes, refunds, receivables and
statements of account. Posts to the ledger through domain.finance.service."""
