"""The toolsets: every tool belongs to exactly one, named for the work; declared once and reviewed as a whole here.

Issue 16: a client is shown, by default, only the toolsets its roles use daily, so the catalogue a model holds is
small; the rest is one step away. For a caller, `tools/list` shows

- only the tools its roles may call (tools.invoke enforces the roles on every call, listed or not), and of those
- only the tools of its listed toolsets: the always-listed `discovery` toolset, its roles' defaults
  (ROLE_DEFAULTS), and the toolsets widened by the setting MCS_ERP_TOOLSETS (a comma list or `all`), by the
  `toolsets` query parameter of the Streamable HTTP URL (`/mcp?toolsets=fees,ledger` or `all`), or at run time by
  `enable_toolsets` (added to the MCP session; a sessionless connection is told the URL to reconnect with).

Decision (README "Toolsets", list_toolsets' description): a tool outside the listing that the caller's roles allow
WORKS when called by name. The listing keeps the catalogue small; it is not a permission.

The registry takes each tool's toolset from TOOLSETS (`toolset_of`) and refuses a product tool that is in none or
in more than one; tests/server/test_toolsets.py fails when a toolset names no tool of the catalogue.
A new tool needs a line here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from domain.kernel.actor import Actor, Role
from domain.kernel.errors import InvalidInput

if TYPE_CHECKING:
    from tools.registry import Catalogue, ToolSpec

ALL: Final = "all"
"""The toolset list that means every toolset (MCS_ERP_TOOLSETS=all, ?toolsets=all, enable_toolsets(["all"]))."""
DISCOVERY: Final = "discovery"
"""The toolset listed to everyone, always: the tools that show and enable the others."""


@dataclass(frozen=True)
class Toolset:
    """A named group of tools for one kind of work: its name, a one-line description, its tools."""

    name: str
    description: str
    tools: tuple[str, ...]


def _toolset(name: str, description: str, *tools: str) -> Toolset:
    return Toolset(name, description, tools)


TOOLSETS: Final[tuple[Toolset, ...]] = (
    _toolset(DISCOVERY, "Show the toolsets and add one to this session's tools (always listed).",
             "list_toolsets", "enable_toolsets"),
    _toolset("me", "Who you are, your roles and the tools you may call; a health check.",
             "get_me", "ping"),
    _toolset("actions", "Your pending actions: see their previews, confirm or cancel what you asked for.",
             "list_pending_actions", "get_action", "confirm_action", "cancel_action"),
    _toolset("approvals", "Approve or reject actions other users queued for an admin (four eyes).",
             "approve_action", "reject_action"),
    _toolset("audit", "Read the audit log: who did what, when, to which entity; the chain's verification. Domain "
                      "events handlers gave up on.",
             "list_audit_events", "list_dead_letters", "retry_dead_letter"),
    _toolset("tenants", "The operator's schools of this deployment: drop a suspended one (exported first; another "
                        "admin approves).",
             "drop_tenant"),
    _toolset("notifications", "Emails to families and staff: the log with each one's status, retries, and "
                              "recipients' preferences.",
             "list_notifications", "retry_notification", "set_notification_preference"),
    _toolset("jobs", "Long-running work (exports, solves, payroll runs) and the documents it makes.",
             "get_job", "list_jobs", "cancel_job", "list_documents", "get_document"),
    _toolset("staff", "Departments and employees: look staff up, hire, update, terminate.",
             "list_departments", "list_employees", "search_employees", "get_employee", "create_department",
             "create_employee", "update_employee", "terminate_employee"),
    _toolset("classes", "Classes, terms and sections: which classes there are, who teaches them, who is in them.",
             "list_classes", "get_class", "list_terms", "list_sections", "get_section"),
    _toolset("school_setup", "The school's structure: years, terms, year levels, sections, subjects, classes and "
                             "their weekly lessons.",
             "list_academic_years", "create_academic_year", "create_term", "list_year_levels", "create_year_level",
             "create_section", "list_subjects", "create_subject", "list_teachers", "create_class",
             "set_subject_weekly_lessons", "set_class_weekly_lessons"),
    _toolset("students", "Students: find, read, admit, update and enroll them, and the guardians on their records.",
             "list_students", "search_students", "get_student", "list_enrollments", "create_student",
             "update_student", "add_guardian", "update_guardian", "enroll_student"),
    _toolset("family", "A parent's or guardian's own children and family: published grades, report cards, "
                       "attendance, timetable, fees; their contact details and email choices; the office inviting "
                       "a guardian.",
             "get_my_children", "get_child_transcript", "get_child_report_card", "get_child_attendance",
             "get_child_timetable",
             "get_my_family_balance", "list_my_family_invoices", "get_my_family_statement", "get_my_details",
             "update_my_contact_details", "set_my_notification_preference", "invite_guardian"),
    _toolset("gradebook", "A class's assessments and scores: create assessments, record, import and change grades, "
                          "read the gradebook and term grades.",
             "list_assessments", "create_assessment", "get_gradebook", "get_grade", "record_grade", "import_grades",
             "change_grade", "get_term_grades"),
    _toolset("grading_policy", "How grades are computed: grading categories and weights, grading scales.",
             "get_grading_categories", "set_grading_categories", "list_grading_scales", "create_grading_scale",
             "set_class_grading_scale", "set_default_grading_scale"),
    _toolset("term_reports", "The end of a term: report-card comments, publishing term grades, changing a locked "
                             "grade and the change requests.",
             "set_term_comment", "publish_term_grades", "change_locked_grade", "list_grade_change_requests"),
    _toolset("reports", "Reports from grades and attendance: attendance rates, transcripts, report cards, grade "
                        "exports.",
             "get_attendance_rates", "get_transcript", "generate_report_cards", "export_term_grades"),
    _toolset("attendance", "Take the register, read it, correct a past day.",
             "take_attendance", "get_attendance_register", "correct_attendance"),
    _toolset("schedule", "The published timetable: a teacher's or a section's week; free rooms at a time; the "
                         "day's cover; calendars (.ics, secret URLs) and printable weeks.",
             "get_teacher_schedule", "get_section_timetable", "find_free_rooms", "get_cover_sheet",
             "get_timetable_calendar", "print_timetable", "create_timetable_feed", "revoke_timetable_feed"),
    _toolset("timetabling", "Rooms and building the timetable: a room's week, the problem, solving it, "
                            "publishing a solution, changing it with the fewest moves, cover for absent teachers.",
             "list_rooms", "get_room_schedule", "create_room", "build_timetable_problem", "list_timetable_problems",
             "solve_timetable", "get_timetable_solution", "publish_timetable", "propose_timetable_change",
             "publish_cover", "get_cover_load"),
    _toolset("ledger", "Read the books: the chart of accounts, an account's ledger, the trial balance.",
             "list_accounts", "get_account_ledger", "get_trial_balance"),
    _toolset("financials", "The financial statements: income statement and balance sheet.",
             "get_income_statement", "get_balance_sheet"),
    _toolset("journal", "Write to the books: open accounts, post and reverse journal entries.",
             "create_account", "post_journal_entry", "reverse_journal_entry"),
    _toolset("payroll", "Payroll runs per pay calendar: create, calculate, approve, post, mark paid; payslips and "
                        "their documents.",
             "list_payroll_runs", "get_payroll_run", "create_payroll_run", "calculate_payroll_run", "list_pay_calendars",
             "approve_payroll_run", "post_payroll_run", "mark_payroll_run_paid", "list_payslips", "get_payslip",
             "generate_payroll_documents"),
    _toolset("payroll_corrections", "Undo payroll: void a payslip, cancel a draft run, reverse a posted run.",
             "void_payslip", "cancel_payroll_run", "reverse_payroll_run"),
    _toolset("contracts", "Pay terms: salary structures, tax tables, employment contracts, salary changes, unpaid "
                          "leave.",
             "list_salary_structures", "create_salary_structure", "list_tax_tables", "add_tax_table",
             "list_employment_contracts", "create_employment_contract", "change_contract_salary",
             "end_employment_contract", "create_pay_calendar", "record_unpaid_leave"),
    _toolset("leave", "Staff leave: leave types, requests and their approval, balances and their "
                      "adjustment.",
             "list_leave_types", "request_leave", "approve_leave_request", "reject_leave_request",
             "cancel_leave_request", "list_leave_requests", "get_leave_balances", "adjust_leave_balance"),
    _toolset("payroll_setup", "Keep pay rules current: dated payroll rates (super guarantee), editing salary "
                              "structures, moving contracts between them.",
             "list_payroll_rates", "add_payroll_rate", "update_salary_structure", "move_contracts_to_structure"),
    _toolset("payroll_reports", "Pay what payroll owes and report it: super and PAYG remittances, the remittance "
                                "report, STP Phase 2 pay event data and finalisation, the leave liability.",
             "remit_super", "remit_payg", "list_remittances", "get_remittance_report", "get_stp_pay_event",
             "get_stp_finalisation", "export_stp_pay_event", "export_stp_finalisation", "get_leave_liability",
             "post_leave_provision"),
    _toolset("payroll_banking", "Where pay goes: employees' bank accounts, TFNs and super funds (encrypted, masked), "
                                "and a run's ABA bank file.",
             "get_employee_payment_details", "set_employee_payment_details", "export_payroll_bank_file"),
    _toolset("fees", "Families' accounts day to day: families, invoices, payments received, who owes how long.",
             "list_families", "get_family_account", "list_invoices", "get_invoice", "record_payment",
             "list_payments", "get_receivables_aging"),
    _toolset("collections", "Chasing and settling: reminders, collections by period, family statements, applying "
                            "a family's credit.",
             "get_fee_reminders", "get_fee_collections", "generate_family_statement", "apply_family_credit"),
    _toolset("billing", "Set up and issue fees: families, fee items, schedules, discounts, invoice runs, and their "
                        "corrections (void, credit note, refund).",
             "create_family", "add_family_student", "list_fee_items", "create_fee_item", "list_fee_schedules",
             "create_fee_schedule", "list_discounts", "create_discount", "award_discount", "generate_invoices",
             "issue_invoices", "void_invoice", "issue_credit_note", "refund_family_credit"),
    _toolset("purchasing", "Buying for the school: suppliers, purchase orders, goods received against them, supplier "
                           "bills matched to orders and receipts, payments, open orders and what is owed to whom.",
             "create_supplier", "list_suppliers", "get_supplier", "create_purchase_order", "send_purchase_order",
             "cancel_purchase_order", "close_purchase_order", "get_purchase_order", "list_purchase_orders",
             "list_open_purchase_orders", "receive_purchase_order", "record_supplier_bill", "get_supplier_bill",
             "list_supplier_bills", "pay_supplier_bill", "get_payables_aging"),
    _toolset("shop", "The school shop: products and variants, locations, receipts, transfers, stock and its value, "
                     "reorder points, stocktakes; sales orders for families (charged to their account), staff and "
                     "walk-ins, returns and refunds; sales by product and slow movers.",
             "create_product", "list_products", "get_product", "create_location", "list_locations",
             "record_receipt", "transfer_stock", "get_stock", "set_reorder_point", "list_reorder_needs",
             "start_stocktake", "record_stocktake", "create_sales_order", "get_sales_order", "list_sales_orders",
             "confirm_sales_order", "fulfil_sales_order", "invoice_sales_order", "pay_sales_order",
             "cancel_sales_order", "process_sales_orders", "return_sales_order", "get_sales_by_product",
             "list_slow_movers", "get_stock_valuation", "get_shop_takings"),
)

ROLE_DEFAULTS: Final[dict[Role, tuple[str, ...]]] = {
    # What each role uses daily; `discovery` is listed to everyone besides these.
    Role.ADMIN: ("me", "actions", "approvals", "audit", "jobs"),
    Role.TEACHER: ("me", "actions", "classes", "gradebook", "attendance", "schedule"),
    Role.REGISTRAR: ("me", "actions", "classes", "students", "term_reports"),
    Role.FINANCE: ("me", "actions", "fees", "ledger"),
    Role.PAYROLL: ("me", "actions", "payroll", "jobs"),
    Role.HR: ("me", "actions", "staff", "contracts", "leave"),
    Role.VIEWER: ("me", "actions", "classes", "schedule"),
    Role.GUARDIAN: ("me", "actions", "family"),
}

BY_NAME: Final[dict[str, Toolset]] = {toolset.name: toolset for toolset in TOOLSETS}


def _toolsets_of_tools() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for toolset in TOOLSETS:
        for tool in toolset.tools:
            found.setdefault(tool, []).append(toolset.name)
    return found


_OF_TOOL: Final[dict[str, list[str]]] = _toolsets_of_tools()


def toolsets_of(tool: str) -> list[str]:
    """The names of the toolsets that declare `tool` (exactly one for a well-declared product tool)."""
    return list(_OF_TOOL.get(tool, ()))


def known() -> str:
    """The toolset names, comma-separated, for error messages."""
    return ", ".join(BY_NAME)


def parse_toolsets(names: str | Iterable[str], *, source: str = "toolsets") -> frozenset[str]:
    """Parse a toolset list ("fees,ledger", ["fees", "ledger"], or `all`) into toolset names; `all` gives every
    toolset. Blank entries are ignored. Raises InvalidInput naming `source`, the unknown names and the known ones.
    """
    raw = names.split(",") if isinstance(names, str) else list(names)
    wanted = [name.strip().lower() for name in raw if name and name.strip()]
    if ALL in wanted:
        return frozenset(BY_NAME)
    unknown = [name for name in wanted if name not in BY_NAME]
    if unknown:
        raise InvalidInput(f"unknown toolset{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in "
                           f"{source}; the toolsets are: {known()} (or {ALL})", field=source)
    return frozenset(wanted)


def default_toolsets(roles: Collection[Role]) -> frozenset[str]:
    """The toolsets listed by default to a caller with `roles`: `discovery` and each role's daily toolsets."""
    return frozenset({DISCOVERY, *(name for role in roles for name in ROLE_DEFAULTS.get(role, ()))})


def default_roles(toolset: str) -> list[str]:
    """The roles that have `toolset` listed by default (all of them for `discovery`)."""
    return sorted(role.value for role in Role if toolset == DISCOVERY or toolset in ROLE_DEFAULTS.get(role, ()))


@dataclass
class Listing:
    """Which toolsets a connection lists beyond its roles' defaults, and whether it can add more at run time.

    `widened`: from the setting and the URL; `enabled`: added by enable_toolsets. `session`: the connection keeps
    state between requests (stdio, an MCP session, an agent run), so enabling lasts; otherwise `reconnect`, when
    given, says how to connect again with a set of toolsets (a URL). `changed` is set when enabling added a toolset,
    for the transport to announce (notifications/tools/list_changed).
    """

    widened: frozenset[str] = frozenset()
    enabled: set[str] = field(default_factory=set)
    session: bool = True
    reconnect: Callable[[Collection[str]], str] | None = None
    changed: bool = False

    def listed(self, actor: Actor) -> frozenset[str]:
        """The toolsets listed to `actor` on this connection."""
        return default_toolsets(actor.roles) | self.widened | self.enabled

    def enable(self, actor: Actor, names: Collection[str]) -> list[str]:
        """Add the toolsets `names` (already parsed) for `actor`; return those newly listed, in declaration order.
        On a sessionless connection nothing is kept; the names are still returned."""
        listed = self.listed(actor)
        added = [toolset.name for toolset in TOOLSETS if toolset.name in names and toolset.name not in listed]
        if self.session and added:
            self.enabled.update(added)
            self.changed = True
        return added


def listed_tools(catalogue: Catalogue, actor: Actor, listing: Listing | None = None) -> list[ToolSpec]:
    """The tools listed to `actor`: those its roles may call, of the toolsets `listing` lists (the defaults
    without one), in catalogue order."""
    toolsets = (listing or Listing()).listed(actor)
    return [spec for spec in catalogue.for_actor(actor) if spec.toolset in toolsets]


def callable_count(catalogue: Catalogue, actor: Actor) -> dict[str, int]:
    """How many tools of each toolset `actor`'s roles may call (0 for a toolset of tools they may not)."""
    counts = {toolset.name: 0 for toolset in TOOLSETS}
    for spec in catalogue.for_actor(actor):
        counts[spec.toolset] = counts.get(spec.toolset, 0) + 1
    return counts


def toolset_problems(specs: Iterable[ToolSpec]) -> list[str]:
    """Say what disagrees between the declaration and the tools: a toolset naming no tool of the catalogue, an
    empty toolset, a role default naming no toolset. An empty list means they agree."""
    names = {spec.name for spec in specs}
    problems = [f"toolset {toolset.name!r} lists {tool}, which is no tool of the catalogue"
                for toolset in TOOLSETS for tool in toolset.tools if tool not in names]
    problems += [f"toolset {toolset.name!r} has no tools" for toolset in TOOLSETS if not toolset.tools]
    problems += [f"the defaults of {role.value} name {name!r}, which is no toolset"
                 for role, defaults in ROLE_DEFAULTS.items() for name in defaults if name not in BY_NAME]
    problems += [f"toolsets {a.name!r} and {b.name!r} share a name" for i, a in enumerate(TOOLSETS)
                 for b in TOOLSETS[i + 1:] if a.name == b.name]
    return problems
