"""Graders: a task's check of the database's final state and of the answer the agent gave.

A grader is `async def check(g: Grading) -> None`. It reads the final state through `g.read()` (a read session on
the task's database) or `g.tool(...)` (a read tool, called as the school's admin), and records what is wrong with
`g.expect(...)` / `g.mentions(...)`; the task passes when nothing was recorded. Facts an answer must contain are
computed from the database in the grader, never written into it, so a grader stays right if the demo changes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.identity.service import actor_for, get_user_by_username
from domain.kernel.actor import Channel
from evals.scripted import fold
from tools.invoke import invoke
from tools.runtime import Runtime


def plain(text: str) -> str:
    """Return `text` folded for matching: lower case, no accents, no thousands separators, single spaces."""
    text = re.sub(r"(?<=\d)[,\u202f\u00a0'](?=\d{3}\b)", "", fold(text))
    return re.sub(r"\s+", " ", text)


def says(answer: str, fact: str) -> bool:
    """Whether `answer` contains `fact`, both folded (`plain`), a number only as a whole: "14.2" is not in "14.28",
    nor "93" in "193"."""
    pattern = rf"(?<!\d)(?<!\d\.){re.escape(plain(fact))}(?!\d)(?!\.\d)"
    return re.search(pattern, plain(answer)) is not None


def money(minor: int) -> str:
    """Return minor units as an amount a person writes, e.g. 123456 -> '1234.56' (matched without separators)."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


@dataclass
class Grading:
    """The final state of one task's run: its database, the agent's answer, the tools it called."""

    runtime: Runtime
    answer: str
    tools_called: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read session on the task's database."""
        async with self.runtime.db.read() as session:
            yield session

    async def tool(self, name: str, arguments: dict[str, Any] | None = None, *, as_user: str = "admin") -> Any:
        """Call read tool `name` as `as_user` and return its output as plain JSON data."""
        async with self.runtime.db.read() as session:
            user = await get_user_by_username(session, as_user)
        assert user is not None, f"grader: no user {as_user!r}"
        out = await invoke(self.runtime, name, arguments or {}, actor_for(user, Channel.CLI))
        return out.model_dump(mode="json")

    def expect(self, condition: bool, message: str) -> None:
        """Record `message` as a failure unless `condition` holds."""
        if not condition:
            self.failures.append(message)

    def mentions(self, *facts: str) -> None:
        """Expect the answer to contain each of `facts` (ignoring case, accents and thousands separators; a number
        only as a whole, see `says`)."""
        missing = [fact for fact in facts if not says(self.answer, fact)]
        self.expect(not missing, f"the answer does not mention {missing}")

    def mentions_any(self, *spellings: str) -> None:
        """Expect the answer to contain at least one of `spellings` (one fact written in several ways)."""
        self.expect(any(says(self.answer, s) for s in spellings), f"the answer says none of {list(spellings)}")

    def mentions_number(self, value: Decimal, *, places: tuple[int, ...] = (1, 2)) -> None:
        """Expect the answer to give `value` rounded half up to any of `places` decimals (14.275: 14.3 or 14.28)."""
        self.mentions_any(*(str(value.quantize(Decimal(1).scaleb(-n), ROUND_HALF_UP)) for n in places))

    def omits(self, *facts: str) -> None:
        """Expect the answer not to contain any of `facts` (a wrong person, a wrong amount)."""
        present = [fact for fact in facts if says(self.answer, fact)]
        self.expect(not present, f"the answer wrongly mentions {present}")


Grader = Callable[[Grading], Awaitable[None]]
