"""Payroll: salary structures, payslips, withholding tax tables, payslip documents.

Pure modules (no database, no clock, no I/O except reading the bundled tables):

- `formula`: safe, exact formulas for salary components (simpleeval behind a checked syntax tree);
- `tax`: withholding tables as data (`tables/*.json`), picked by code, filing status and pay date;
- `engine`: salary structures, proration by payment days, payslips with year to date, arrears;
- `payslip_document`: a computed payslip printed as PDF, a run summary as CSV.

Import the module you need (`from domain.payroll import engine`); this package re-exports nothing, so that
importing one module never loads the others.
"""
