"""Which writes are gated: the policy of every tool that changes the school's data, reviewed as a whole here.

DESIGN.md, "The confirmation gate", and issue 15: a tool is gated when it
- rewrites or destroys recorded history (a recorded score, a past day's attendance, a posted entry, a
  payslip);
- moves money (a payment run marked paid, a refund, a posting to the ledger by hand);
- changes a policy that published or pending results depend on (grading scales and weights, tax tables,
  salaries).

Each entry is either
- `"gated: confirm"` or `"gated: approve"`: the tool is destructive at that declared level. A plan may raise a
  confirm-level call to approve for some arguments or states (`Plan.level`); the text after the level says when;
- `"ungated: <why>"`: a write tool that runs at once, with the reason it needs no gate.

tests/tools/test_registry.py fails when a write or destructive tool is missing here, when an entry names
no tool, or when an entry disagrees with the tool's declaration (`policy_problems`), so a new write tool
needs a decision here. Read tools are never gated and are not listed.

Tools that are neither read nor written through the gate of the school's data (the gate's own decisions) are
listed too, as ungated, with why.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tools.registry import ToolSpec

GATED = "gated: "
UNGATED = "ungated: "

GATE_POLICY: Final[dict[str, str]] = {
    # ---------------------------------------------------------------- the gate and jobs
    "confirm_action": "ungated: it is the gate: the requester releasing their own previewed action",
    "approve_action": "ungated: it is the gate: an admin who did not ask releasing a queued action "
                      "(four eyes)",
    "reject_action": "ungated: it is the gate: closes an action without changing anything",
    "cancel_action": "ungated: it is the gate: closes an action without changing anything",
    "cancel_job": "ungated: stops a job; a job's writes are gated or not by the tool that started it",
    "retry_dead_letter": "ungated: hands a recorded event to its handlers again; their writes are theirs",
    "drop_tenant": "gated: approve",
    "retry_notification": "ungated: sends again an email the school already decided to send; changes no record",
    "set_notification_preference": "ungated: a recipient's choice of optional emails; reversible, sends nothing",
    "update_my_contact_details": "ungated: a guardian's own phone and email on their own records; reversible",
    "set_my_notification_preference": "ungated: a guardian's own choice of optional emails; reversible, sends "
                                      "nothing",
    "invite_guardian": "ungated: links a guardian's records to their account (reads only) and emails a sign-in "
                       "link; changes no record of the school's",

    # ---------------------------------------------------------------- HR
    "create_department": "ungated: adds a department; no recorded history or result depends on it yet",
    "create_employee": "ungated: hires (adds) an employee; nothing is paid before a contract and a run",
    "update_employee": "ungated: names, email, position, department, type or leave status; not termination "
                       "(refused there) and not pay (contracts)",
    "terminate_employee": "gated: confirm",

    # ---------------------------------------------------------------- academics: structure and students
    "create_academic_year": "ungated: adds a year; nothing recorded depends on it yet",
    "create_term": "ungated: adds a term inside its year; nothing recorded depends on it yet",
    "create_year_level": "ungated: adds a year level",
    "create_section": "ungated: adds a section",
    "create_subject": "ungated: adds a subject",
    "create_class": "ungated: adds a class, graded by the school's default scale until set otherwise",
    "set_subject_weekly_lessons": "ungated: an input of the next timetable problem; a published timetable is "
                                  "unchanged until publish_timetable (gated)",
    "set_class_weekly_lessons": "ungated: an input of the next timetable problem; a published timetable is "
                                "unchanged until publish_timetable (gated)",
    "create_student": "ungated: admits a student (adds rows, rewrites nothing)",
    "update_student": "ungated: names, date of birth or status of a student; no grade, fee or record changes",
    "add_guardian": "ungated: adds a guardian record to a student (adds a row, rewrites nothing; an account and access "
                    "to the child come only with invite_guardian)",
    "update_guardian": "ungated: a guardian's name, relationship or contacts on a student's record, as the guardian "
                       "changes their own (update_my_contact_details); no account link, grade or fee changes",
    "enroll_student": "ungated: adds (or re-activates) an enrollment; a pending publication of the class is "
                      "made stale by the class's version",

    # ---------------------------------------------------------------- academics: grades
    "create_assessment": "ungated: adds an assessment to an unpublished term (refused once published); pending "
                         "publications of the class become stale",
    "record_grade": "ungated: a first result (refused when one exists or the term is published); pending "
                    "publications of the class become stale",
    "import_grades": "ungated: first results only, all or nothing (a different existing score is refused: that "
                     "is change_grade)",
    "change_grade": "gated: confirm",
    "change_locked_grade": "gated: approve",
    "publish_term_grades": "gated: approve",
    "set_term_comment": "ungated: the teacher's comment printed on the report card; no grade depends on it",
    "set_grading_categories": "gated: confirm; approve when the class has published term grades (their change "
                              "requests recompute with the weights of the day)",
    "create_grading_scale": "ungated: a new scale grades nothing until a class or the default uses it; "
                            "is_default is refused once a default exists or classes rely on it "
                            "(set_default_grading_scale is gated)",
    "set_class_grading_scale": "gated: confirm; approve when the class has recorded results or published term "
                               "grades",
    "set_default_grading_scale": "gated: confirm; approve when any class grades by the default scale",
    "export_term_grades": "ungated: makes a document from grades; changes no grade",
    "generate_report_cards": "ungated: makes documents from grades and attendance; changes neither",

    # ---------------------------------------------------------------- academics: attendance
    "take_attendance": "ungated: today's register, or the missing records of a past day; changing a past "
                       "day's record is refused there (correct_attendance is gated)",
    "correct_attendance": "gated: confirm",

    # ---------------------------------------------------------------- timetable
    "create_room": "ungated: adds a room, an input of the next timetable problem",
    "build_timetable_problem": "ungated: stores a new problem; the published timetable is unchanged",
    "solve_timetable": "ungated: stores a solution; nothing is published until publish_timetable (gated)",
    "propose_timetable_change": "ungated: stores the changed problem and its re-solved timetable; nothing is "
                                "published until publish_timetable (gated)",
    "publish_timetable": "gated: confirm",
    "publish_cover": "gated: confirm",
    "create_timetable_feed": "ungated: makes a secret calendar URL of a published timetable; no record changes",
    "revoke_timetable_feed": "ungated: closes a calendar URL; no record changes",

    # ---------------------------------------------------------------- finance
    "create_account": "ungated: adds an account to the chart; accounts are never deleted and nothing is posted",
    "post_journal_entry": "gated: confirm; approve when its total is above MCS_ERP_JOURNAL_APPROVE_ABOVE_MINOR",
    "reverse_journal_entry": "gated: approve",

    # ---------------------------------------------------------------- payroll
    "create_salary_structure": "ungated: a new structure pays nobody until a contract uses it",
    "create_employment_contract": "ungated: a new contract (refused over another's dates); changing a salary is "
                                  "change_contract_salary (gated)",
    "record_unpaid_leave": "ungated: an input of a draft run's calculation; a calculated, approved or posted run "
                           "is changed only through its gated steps",
    "create_payroll_run": "ungated: an empty draft run",
    "create_pay_calendar": "ungated: adds a calendar; nothing is paid by it before a contract names it and a run",
    "end_employment_contract": "gated: confirm",
    "calculate_payroll_run": "ungated: computes a draft run's payslips; nothing is posted or paid",
    "generate_payroll_documents": "ungated: makes documents from a run; changes no payslip",
    "add_tax_table": "gated: approve",
    "set_employee_payment_details": "gated: approve",
    "export_payroll_bank_file": "ungated: stores a file of a posted run's net pays; no money moves until the school "
                                "uploads it to its bank",
    "remit_super": "gated: approve",
    "remit_payg": "gated: approve",
    "post_leave_provision": "gated: approve",
    "export_stp_pay_event": "ungated: stores a report file of payroll data; changes no payroll record",
    "export_stp_finalisation": "ungated: stores a report file of payroll data; changes no payroll record",
    "add_payroll_rate": "gated: approve",
    "update_salary_structure": "gated: approve",
    "move_contracts_to_structure": "gated: confirm",
    "change_contract_salary": "gated: confirm; approve when the annual pay moves by more than "
                              "MCS_ERP_SALARY_CHANGE_APPROVE_ABOVE_MINOR",
    "void_payslip": "gated: approve",
    "approve_payroll_run": "gated: approve",
    "post_payroll_run": "gated: approve",
    "mark_payroll_run_paid": "gated: approve",
    "reverse_payroll_run": "gated: approve",
    "cancel_payroll_run": "gated: confirm; it deletes a run's draft payslips (issue 15)",

    # ---------------------------------------------------------------- leave
    "request_leave": "ungated: records a request; nothing is approved, taken or paid until "
                     "approve_leave_request (gated) and a payroll run",
    "approve_leave_request": "gated: confirm",
    "reject_leave_request": "ungated: closes a request that was never approved; the row is kept",
    "cancel_leave_request": "ungated: closes a request no payslip has paid (refused once one has); the "
                            "row is kept",
    "adjust_leave_balance": "gated: confirm",

    # ---------------------------------------------------------------- fees
    "create_family": "ungated: adds a family account",
    "add_family_student": "ungated: bills a student's next invoices to the family; issued invoices are unchanged",
    "create_fee_item": "ungated: adds a fee item; nothing is billed until a schedule and invoices",
    "create_fee_schedule": "ungated: a new term's fee schedule; nothing is billed until generate_invoices",
    "create_discount": "ungated: applies only to invoices generated afterwards",
    "award_discount": "ungated: applies only to invoices generated afterwards",
    "generate_invoices": "ungated: bills students never billed for the schedule (never twice); an issued invoice "
                         "is changed only by void_invoice or issue_credit_note (gated)",
    "issue_invoices": "ungated: issues drafts with their receivable postings, as generate_invoices does by default",
    "record_payment": "ungated: records money received and allocates it; undoing it is a gated refund or reversal",
    "apply_family_credit": "ungated: allocates the family's own credit to its open invoices; no money leaves",
    "void_invoice": "gated: approve",
    "issue_credit_note": "gated: confirm",
    "refund_family_credit": "gated: approve",
    "generate_family_statement": "ungated: makes a document; changes no balance",

    # ---------------------------------------------------------------- purchasing
    "create_supplier": "ungated: adds a supplier; nothing is ordered or paid",
    "create_purchase_order": "ungated: a draft order; no stock or posting",
    "send_purchase_order": "ungated: marks a draft sent; no stock or posting",
    "cancel_purchase_order": "ungated: only an order nothing was received against; no stock or posting",
    "close_purchase_order": "ungated: only once every unit received is billed; stops expecting the rest",
    "receive_purchase_order": "ungated: records goods received at the order's cost (a receipt, as record_receipt); "
                              "a wrong count is corrected by a stocktake (gated)",
    "record_supplier_bill": "ungated: records a payable only when it matches the order and the goods received; "
                            "no money moves until pay_supplier_bill (gated)",
    "pay_supplier_bill": "gated: confirm; approve when the amount is above "
                         "MCS_ERP_SUPPLIER_PAYMENT_APPROVE_ABOVE_MINOR",

    # ---------------------------------------------------------------- shop (inventory)
    "create_product": "ungated: adds products; no stock or posting yet",
    "create_location": "ungated: adds an empty stock location",
    "record_receipt": "ungated: records goods received (new stock at its cost); a wrong count is corrected by a "
                      "stocktake (gated)",
    "transfer_stock": "ungated: moves units between locations; the value and the ledger are unchanged",
    "set_reorder_point": "ungated: a threshold for list_reorder_needs; no stock changes",
    "start_stocktake": "ungated: opens a count; nothing changes until record_stocktake (gated)",
    "record_stocktake": "gated: confirm; approve when the adjustments are worth more than "
                        "MCS_ERP_STOCKTAKE_APPROVE_ABOVE_MINOR",
    "create_sales_order": "ungated: a draft (or confirmed: units reserved, nothing moved or posted); "
                          "cancel_sales_order releases it",
    "confirm_sales_order": "ungated: reserves units; cancel_sales_order releases them",
    "fulfil_sales_order": "ungated: the units handed over leave stock at average cost; they come back only by "
                          "return_sales_order (gated)",
    "invoice_sales_order": "ungated: charges what was handed over (a family's account, or a counter tax "
                           "invoice); undone only by return_sales_order (gated) or the fees corrections (gated)",
    "pay_sales_order": "ungated: records money taken at the counter; paying it back is return_sales_order (gated)",
    "process_sales_orders": "ungated: confirm_sales_order, fulfil_sales_order and invoice_sales_order for many "
                            "orders; each is undone as theirs are",
    "cancel_sales_order": "ungated: only a draft or confirmed order, whose units never left; releases the "
                          "reservation",
    "return_sales_order": "gated: confirm; approve when the refund is more than "
                          "MCS_ERP_SHOP_REFUND_APPROVE_ABOVE_MINOR",
}


def declared_level(policy: str) -> str | None:
    """The gate level an entry declares ("confirm" or "approve"), or None for an ungated entry; raises ValueError
    for an entry that says neither."""
    if policy.startswith(UNGATED) and policy[len(UNGATED):].strip():
        return None
    if policy.startswith(GATED):
        level = policy[len(GATED):].split(";")[0].strip()
        if level in ("confirm", "approve"):
            return level
    raise ValueError(f"a gate policy is 'gated: confirm|approve[; when ...]' or 'ungated: <why>', not {policy!r}")


def policy_problems(specs: Iterable[ToolSpec], policy: dict[str, str] | None = None, *,
                    awaiting: frozenset[str] = frozenset()) -> list[str]:
    """Say what disagrees between the tools' declarations and the gate policy: a write or destructive tool the
    policy does not list, an entry naming no such tool, an ungated entry for a destructive tool, a gated one for
    a write tool or at another level. `awaiting` names tools whose declaration another change is bringing in
    line with the policy (checked for being listed only). An empty list means they agree."""
    policy = GATE_POLICY if policy is None else policy
    problems: list[str] = []
    writes = {spec.name: spec for spec in specs if spec.effect.value != "read"}
    for name in sorted(writes.keys() - policy.keys()):
        problems.append(f"{name} ({writes[name].effect.value}) has no gate policy: add it to tools/gate_policy.py "
                        "as 'gated: confirm|approve' or 'ungated: <why>'")
    for name in sorted(policy.keys() - writes.keys()):
        problems.append(f"the gate policy lists {name}, which is no write or destructive tool of the catalogue")
    for name in sorted(writes.keys() & policy.keys()):
        spec = writes[name]
        try:
            level = declared_level(policy[name])
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if name in awaiting:
            continue
        if level is None and spec.effect.value == "destructive":
            problems.append(f"{name} is destructive (gate {spec.gate}) but its policy says ungated")
        elif level is not None and spec.effect.value != "destructive":
            problems.append(f"{name} is a write tool but its policy says gated ({level}): declare it destructive "
                            "with a plan")
        elif level is not None and (spec.gate is None or spec.gate.value != level):
            problems.append(f"{name} is gated at {spec.gate.value if spec.gate else None} but its policy says "
                            f"{level}")
    return problems
