"""The MCP server's description and instructions (prompts/guide.md) name every module of the catalogue and every
destructive tool's kind of change, so a client's model learns the whole product from the handshake."""

from __future__ import annotations

from server.mcp_server import INSTRUCTIONS, build_mcp_server

# How each module is named for a reader; a new module must be added here, and then to both texts.
MODULE_WORDS = {"platform": None, "actions": "confirmation gate", "jobs": "jobs", "documents": "documents",
                "hr": "HR", "academics": "academics", "timetable": "timetables", "finance": "ledger",
                "payroll": "payroll", "payroll_setup": "payroll",
                "payroll_reports": "payroll", "payroll_banking": "bank files", "leave": "leave", "fees": "fees", "inventory": "shop",
                "purchasing": "purchasing",
                "notifications": "emails", "discovery": "toolsets", "family": "parents"}
# What the guide says each destructive tool changes.
DESTRUCTIVE_WORDS = {
    "change_grade": "changing a recorded score", "publish_term_grades": "publishing term grades",
    "change_locked_grade": "changing a published grade", "correct_attendance": "correcting attendance",
    "set_grading_categories": "changing a class's grading categories or grading scale",
    "set_class_grading_scale": "changing a class's grading categories or grading scale",
    "set_default_grading_scale": "changing the default grading scale",
    "publish_timetable": "publishing a timetable", "terminate_employee": "terminating an employee",
    "publish_cover": "publishing cover for an absent teacher",
    "change_contract_salary": "changing a salary", "add_tax_table": "adding a tax table",
    "add_payroll_rate": "adding a payroll rate", "update_salary_structure": "editing a salary structure",
    "move_contracts_to_structure": "moving contracts to another salary structure",
    "cancel_payroll_run": "cancelling a payroll run",
    "approve_payroll_run": "approving, posting, paying or reversing a payroll run",
    "post_payroll_run": "approving, posting, paying or reversing a payroll run",
    "mark_payroll_run_paid": "approving, posting, paying or reversing a payroll run",
    "reverse_payroll_run": "approving, posting, paying or reversing a payroll run",
    "void_payslip": "voiding a payslip", "post_journal_entry": "posting or reversing a journal entry",
    "reverse_journal_entry": "posting or reversing a journal entry", "void_invoice": "voiding an invoice",
    "issue_credit_note": "issuing a credit note", "refund_family_credit": "refunding family credit",
    "remit_super": "remitting super or PAYG withholding", "remit_payg": "remitting super or PAYG withholding",
    "post_leave_provision": "posting the leave provision",
    "end_employment_contract": "ending an employment contract", "adjust_leave_balance": "adjusting a leave balance",
    "approve_leave_request": "approving a leave request",
    "set_employee_payment_details": "setting an employee's payment details",
    "record_stocktake": "applying a stocktake's counts",
    "return_sales_order": "returning a sales order", "pay_supplier_bill": "paying a supplier",
    "drop_tenant": "dropping a tenant"}


async def test_the_description_and_the_guide_name_every_module(runtime):
    server = build_mcp_server(runtime, resolve_actor=None)  # type: ignore[arg-type]
    description = server.description or ""
    modules = set(runtime.catalogue.modules)
    assert modules <= set(MODULE_WORDS), f"name the new modules {modules - set(MODULE_WORDS)} in both texts"
    for module in modules:
        word = MODULE_WORDS[module]
        if word is None:
            continue
        assert word.lower() in description.lower(), (module, description)
        assert word.lower() in INSTRUCTIONS.lower(), (module, INSTRUCTIONS)


async def test_the_guide_names_what_every_destructive_tool_changes(runtime):
    guide = " ".join(INSTRUCTIONS.split())
    gated = {spec.name for spec in runtime.catalogue.tools.values() if spec.gate is not None}
    assert gated <= set(DESTRUCTIVE_WORDS), f"say in prompts/guide.md what {gated - set(DESTRUCTIVE_WORDS)} change"
    for tool in gated:
        assert DESTRUCTIVE_WORDS[tool] in guide, tool
