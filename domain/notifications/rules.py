"""Pure rules of notifications: categories and which are required, addresses, retry timing, SMTP replies and
rendering from templates. No I/O but reading this package's template files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from domain.kernel.errors import InvalidInput


@dataclass(frozen=True)
class Category:
    """A kind of message. A required one is sent whatever the recipient's preferences and carries no unsubscribe
    link; an optional one honours the recipient's choice and carries a link to opt out (RFC 8058 one-click
    List-Unsubscribe too)."""

    code: str
    required: bool
    description: str


CATEGORIES: dict[str, Category] = {c.code: c for c in (
    Category("account", True, "Sign-in links and changes to your own account."),
    Category("attendance", True, "Your child was marked absent today (the school's duty of care)."),
    Category("payroll", True, "Your payslip (Fair Work Regulations 2009 reg 3.44: a payslip within one working "
                              "day of payment; it may be sent electronically, reg 3.44(6))."),
    Category("grades", False, "Term grades and report cards published for your child."),
    Category("fees", False, "Invoices issued to your family and reminders of overdue ones."),
    Category("announcements", False, "News from the school."),
)}

MAX_ADDRESS = 254
"""RFC 5321 s 4.5.3.1.3 limits a path to 256 octets including its angle brackets: an address of 254."""
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
MAX_NAME = 200
MAX_CONTEXT_CHARS = 64_000
"""What a message's template data may hold, as JSON: a child's term results fit many times over."""
MAX_BODY_CHARS = 100_000
ATTACHMENT = re.compile(r"^payslip:[1-9][0-9]{0,11}$")
"""The attachments the sender makes when it sends (workers/notifications.py): a payslip's PDF."""


def category(code: str) -> Category:
    """The category `code`; raises InvalidInput naming the categories."""
    found = CATEGORIES.get(code)
    if found is None:
        raise InvalidInput(f"notification category {code!r} is unknown; the categories are "
                           f"{', '.join(CATEGORIES)}", field="category")
    return found


def check_address(address: str, *, field: str = "recipient_email") -> str:
    """Return the address trimmed and lower-cased (RFC 5321 lets a server tell local parts apart by case; none a
    school meets does, and one person's log and preferences need one key); raises InvalidInput for anything that is
    not one plain address of at most 254 characters (a line break could add a header: never accepted)."""
    text = (address or "").strip()
    if not text or len(text) > MAX_ADDRESS or not _ADDRESS.match(text):
        raise InvalidInput(f"{text[:80]!r} is not an email address such as name@school.example (one address, at "
                           f"most {MAX_ADDRESS} characters)", field=field)
    return text.lower()


def check_name(name: str | None) -> str:
    """A display name for the To header: one line, at most 200 characters."""
    text = (name or "").strip()
    if len(text) > MAX_NAME or any(c in text for c in "\r\n\0"):
        raise InvalidInput(f"a recipient's name is one line of at most {MAX_NAME} characters", field="recipient_name")
    return text


BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)


def next_attempt(attempts: int, now: datetime) -> datetime:
    """When to try again after `attempts` failed attempts (1, 2, ...): 1, 2, 4, 8 ... minutes, at most 6 hours
    (exponential backoff, as RFC 5321 s 4.5.4.1 asks of a client retrying a transient failure: give up only after
    days, wait at least 30 minutes between tries on a mail server; here one school's relay, so shorter first)."""
    delay = BACKOFF_BASE * (2 ** max(0, min(attempts - 1, 20)))
    return now + min(delay, BACKOFF_CAP)


def is_permanent(code: int | None) -> bool:
    """An SMTP reply code that says "do not retry": 5yz, a permanent negative completion (RFC 5321 s 4.2.1). 4yz
    and no reply at all (a connection refused or dropped) are transient."""
    return code is not None and 500 <= code <= 599


TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def _environment() -> Any:
    """The templates' jinja2 Environment, made at the first render (a server that sends no mail never loads jinja2:
    tests/workers/test_job_start.py keeps start-up light)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=select_autoescape(
        enabled_extensions=("html.j2",), default_for_string=False), trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def template_names() -> list[str]:
    """The templates there are (each a `NAME.subject.j2` and `NAME.txt.j2`, and optionally `NAME.html.j2`)."""
    return sorted(p.name.removesuffix(".subject.j2") for p in TEMPLATES.glob("*.subject.j2"))


def render(template: str, context: dict[str, Any]) -> Rendered:
    """Render template `template` with `context` (JSON-like data; the HTML part escapes it). Every template also
    sees `unsubscribe_url` (None for a required category) and `school_name` when the caller gives them. Raises
    InvalidInput for an unknown template, data too large, or a value the template needs that is missing."""
    if template not in template_names():
        raise InvalidInput(f"template {template!r} does not exist; the templates are {', '.join(template_names())}",
                           field="template")
    try:
        size = len(json.dumps(context, default=str))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"template data must be JSON-like: {exc}", field="context") from None
    if size > MAX_CONTEXT_CHARS:
        raise InvalidInput(f"template data is {size} characters as JSON; at most {MAX_CONTEXT_CHARS}",
                           field="context")
    env = _environment()
    html_name = f"{template}.html.j2"
    try:
        subject = " ".join(env.get_template(f"{template}.subject.j2").render(context).split())
        text = env.get_template(f"{template}.txt.j2").render(context)
        html = env.get_template(html_name).render(context) if (TEMPLATES / html_name).is_file() else None
    except Exception as exc:  # jinja2's UndefinedError and friends: the data does not fit the template
        raise InvalidInput(f"template {template!r} could not be rendered with this data: {exc}",
                           field="context") from None
    if len(subject) > 200:
        subject = subject[:197] + "..."
    if len(text) > MAX_BODY_CHARS or (html is not None and len(html) > 2 * MAX_BODY_CHARS):
        raise InvalidInput(f"the message would be over {MAX_BODY_CHARS} characters; send less data",
                           field="context")
    return Rendered(subject=subject, text=text, html=html)
