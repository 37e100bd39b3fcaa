"""Markdown templates: MCP prompts and the agent's system prompt, and the MCP prompts' declarations.

`MCP_PROMPTS` declares each MCP prompt once: its name (the template prompts/NAME.md), title, description and
arguments. An argument's `suggest` names the kind of value a client may be offered while it is typed
(`completion/complete`): the server fills it from the caller's own records, through the list tools the caller
may call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal

HERE = Path(__file__).resolve().parent

Suggestion = Literal["class_code", "section_code", "term", "student", "pay_period"]
"""What `completion/complete` offers for an argument: class codes (7B-MATH), section codes (7B), term names
(Term 1), students (code S2026-0117 or first and last name), pay periods of payroll runs (2026-11)."""


def render(name: str, **values: str) -> str:
    """Render prompts/NAME.md with $placeholders filled from `values` (missing ones stay as written)."""
    return Template((HERE / f"{name}.md").read_text(encoding="utf-8")).safe_substitute(values)


@dataclass(frozen=True)
class PromptArgument:
    """One argument of an MCP prompt: a string of at most `max_length` characters; `default` when optional."""

    name: str
    description: str
    max_length: int
    default: str | None = None
    suggest: Suggestion | None = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class PromptSpec:
    """An MCP prompt; offered only when `requires_tool` (its module's tool) is in the catalogue, if set."""

    name: str
    title: str
    description: str
    arguments: tuple[PromptArgument, ...]
    requires_tool: str | None = None

    def argument(self, name: str) -> PromptArgument | None:
        return next((arg for arg in self.arguments if arg.name == name), None)


MCP_PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec(
        "review_class_grades", "Review a class's grades before publication",
        "Check a class's term grades for missing or suspicious scores before they are published; changes nothing.",
        (PromptArgument("class_code", "The class code, e.g. 7B-MATH.", 40, suggest="class_code"),
         PromptArgument("term", "The term's name or number, e.g. Term 1.", 60, suggest="term"))),
    PromptSpec(
        "missing_grades", "Who has no grade yet",
        "List, class by class, the students of a section who still lack a score this term.",
        (PromptArgument("section_code", "The section code, e.g. 7B.", 40, suggest="section_code"),)),
    PromptSpec(
        "timetable_question", "Answer a parent's question about a timetable",
        "Find a student's section and its published timetable, and answer a parent's question about it (days, "
        "times, subjects, rooms); changes nothing.",
        (PromptArgument("student", "The student's name or code, e.g. Amira Haddad or S2026-0117.", 120,
                        suggest="student"),
         PromptArgument("question", "The parent's question, e.g. When does maths start on Tuesday?", 1000))),
    PromptSpec(
        "payroll_review", "Monthly payroll review",
        "Compare a month's payroll run with the previous one and flag what looks wrong before it is approved; "
        "approves and posts nothing.",
        (PromptArgument("period", "The pay period, e.g. 2026-11.", 20, suggest="pay_period"),
         PromptArgument("threshold_percent", "Flag net pay changes above this percentage (default 10).", 5,
                        default="10")),
        requires_tool="get_payroll_run"),
    PromptSpec(
        "receivables_review", "Who owes the school what",
        "Age the fees owed on a day, list the families to remind and what was collected since a date; changes "
        "nothing.",
        (PromptArgument("as_of", "The day to age on, e.g. 2026-12-04.", 10),
         PromptArgument("since", "Collections from this day, e.g. the term's first day 2026-09-01.", 10),
         PromptArgument("days", "Remind families this many days overdue or more (default 30).", 4, default="30")),
        requires_tool="get_receivables_aging"),
    PromptSpec(
        "cover_absence", "Cover an absent teacher's lessons",
        "Propose cover for a teacher's lessons while they are away and show it for confirmation; publishes only "
        "once the user confirms.",
        (PromptArgument("teacher", "The absent teacher's employee code, e.g. E0042.", 60),
         PromptArgument("start_date", "The first day away, e.g. 2026-11-23.", 10),
         PromptArgument("end_date", "The last day away (default: the first).", 10, default="")),
        requires_tool="publish_cover"),
    PromptSpec(
        "reorder_before_term", "What should we reorder before term starts",
        "List the products below their reorder point, less what open purchase orders bring in time, and propose "
        "draft purchase orders per supplier; creates nothing until the user agrees.",
        (PromptArgument("term_start", "The first day of term, e.g. 2027-01-28.", 10),
         PromptArgument("location", "Only this stock location's code, e.g. SHOP (default: every location).", 20,
                        default="")),
        requires_tool="list_open_purchase_orders"),
    PromptSpec(
        "shop_takings", "Reconcile the shop's takings",
        "Compare the shop's counter payments and refunds with the till count, the card settlements and the "
        "ledger for a period, and explain the differences; changes nothing.",
        (PromptArgument("from_date", "The first day, e.g. 2026-01-27.", 10),
         PromptArgument("to_date", "The last day (default: the first).", 10, default=""),
         PromptArgument("till_count", "The cash counted in the till, e.g. 1,234.50 AUD (default: unknown).", 60,
                        default="unknown"),
         PromptArgument("location", "The shop's location code, e.g. SHOP (default: every location).", 20,
                        default="")),
        requires_tool="get_shop_takings"),
)
