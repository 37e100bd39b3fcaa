"""The plan kernel (domain/kernel/plan.py): canonical form and hash, what differs between two plans, and
apply_plan writing exactly a plan's changes on a real database (its own rows, unique codes)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import InvalidInput, StaleAction
from domain.kernel.plan import (
    ACTION_ID,
    DECIDED_BY,
    NOW,
    ApplyContext,
    Delete,
    Insert,
    NewId,
    Plan,
    Read,
    Update,
    apply_plan,
    canonical_value,
    differences,
)
from tests.factories import unique


class Colour(Enum):
    RED = "red"


def test_values_are_canonical_json():
    assert canonical_value({"d": dt.date(2026, 12, 6), "t": dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC),
                            "m": Decimal("12.50"), "e": Colour.RED, "now": NOW, "who": DECIDED_BY,
                            "id": NewId("entry"), "xs": (1, [ACTION_ID])}) == {
        "d": "2026-12-06", "t": "2026-12-06T09:30:00+00:00", "m": "12.50", "e": "red", "now": {"$": "now"},
        "who": {"$": "decided_by"}, "id": {"$new": "entry"}, "xs": [1, [{"$": "action_id"}]]}


def _plan(**changes) -> Plan:
    return Plan(command="publish", summary="s", preview={"shown": 1},
                changes=[Insert("term_grades", {"student_id": 1, "letter": changes.get("letter", "A")}),
                         Update("grades", 7, 3, before={"locked": False}, after={"locked": True})],
                basis=[Read("grading_scales", 2, changes.get("scale_version", 1), "the default grading scale")],
                inputs={"grading scale": changes.get("scale", "BASIC")})


def test_the_hash_covers_changes_basis_and_inputs_but_not_the_preview():
    base = _plan()
    assert base.digest() == _plan().digest()
    reworded = _plan()
    reworded.summary, reworded.preview = "other words", {"other": "names"}
    assert reworded.digest() == base.digest()
    for other in (_plan(letter="B"), _plan(scale_version=2), _plan(scale="HONOURS")):
        assert other.digest() != base.digest()


def test_differences_say_what_changed():
    assert differences(_plan().canonical(), _plan().canonical()) == []
    said = differences(_plan().canonical(), _plan(letter="F", scale_version=2, scale="ALLA").canonical())
    assert "the default grading scale changed since the preview (version 1 -> 2)" in said
    assert "the grading scale changed since the preview (BASIC -> ALLA)" in said
    assert "term_grades: letter for 1 of 1 differ" in said
    more = _plan()
    more.changes.append(Update("grades", 8, 1, before={"locked": False}, after={"locked": True}))
    assert differences(_plan().canonical(), more.canonical()) == ["grades: 1 more row(s) than at the preview"]
    assert differences(more.canonical(), _plan().canonical()) == [
        "grades: 1 row(s) of the preview are no longer part of it"]


@settings(max_examples=200, deadline=None)
@given(a=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.sampled_from("ABCF")), max_size=5),
       b=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.sampled_from("ABCF")), max_size=5))
def test_plans_differ_exactly_when_their_hashes_do(a, b):
    """Property: differences() is empty exactly when the two plans hash the same, whatever rows they hold."""
    def plan(rows):
        return Plan("c", "s", {}, changes=[Update("grades", i, v, before={}, after={"letter": x}) for i, v, x in rows])

    same_hash = plan(a).digest() == plan(b).digest()
    assert (differences(plan(a).canonical(), plan(b).canonical()) == []) == same_hash


async def _department(runtime, code: str):
    async with runtime.db.read() as s:
        return (await s.exec(text("SELECT id, name, version, deleted_at FROM departments WHERE code = :c")
                             .bindparams(c=code))).first()  # type: ignore[call-overload]


async def test_apply_writes_exactly_the_plan(runtime):
    code, other = unique("PD"), unique("PD")
    context = ApplyContext(actor=SYSTEM_ACTOR, action_id=None, decided_by=None)
    async with runtime.db.write() as s:
        applied = await apply_plan(s, Plan("make", "s", {}, changes=[
            Insert("departments", {"code": code, "name": "Planned"}, ref="dep"),
            Insert("departments", {"code": other, "name": "Second"}, ref="second")]), context)
    assert applied.inserted == {"departments": 2} and set(applied.ids) == {"dep", "second"}
    row = await _department(runtime, code)
    assert (row.id, row.name, row.version) == (applied.ids["dep"], "Planned", 1)

    async with runtime.db.write() as s:
        await apply_plan(s, Plan("rename", "s", {}, changes=[
            Update("departments", row.id, 1, before={"name": "Planned"}, after={"name": "Renamed"}),
            Delete("departments", applied.ids["second"], 1)]), context)
    renamed = await _department(runtime, code)
    assert (renamed.name, renamed.version) == ("Renamed", 2)
    assert (await _department(runtime, other)).deleted_at is not None  # soft: the table has deleted_at

    # A row no longer at its planned version is stale; the caller's transaction then rolls back everything.
    with pytest.raises(StaleAction, match="expected version 1"):
        async with runtime.db.write() as s:
            await apply_plan(s, Plan("again", "s", {}, changes=[
                Insert("departments", {"code": unique("PD"), "name": "Never"}),
                Update("departments", row.id, 1, before={"name": "Planned"}, after={"name": "Lost"})]), context)
    assert (await _department(runtime, code)).name == "Renamed"
    with pytest.raises(StaleAction, match="version 1 planned, now 2"):
        async with runtime.db.write() as s:
            await apply_plan(s, Plan("basis", "s", {}, basis=[Read("departments", row.id, 1)], changes=[
                Update("departments", row.id, 2, before={}, after={"name": "Also lost"})]), context)
    assert (await _department(runtime, code)).name == "Renamed"


async def test_apply_refuses_what_no_table_or_context_knows(runtime):
    context = ApplyContext(actor=SYSTEM_ACTOR, action_id=None, decided_by=None)
    for plan, message in ((Plan("x", "s", {}, changes=[Insert("no_such_table", {"a": 1})]), "unknown table"),
                          (Plan("x", "s", {}, changes=[Insert("departments", {"nope": 1})]), "unknown column"),
                          (Plan("x", "s", {}, changes=[Update("departments", 1, 1, {}, {"code": NewId("later")})]),
                           "before the change that creates it")):
        with pytest.raises(InvalidInput, match=message):
            async with runtime.db.write() as s:
                await apply_plan(s, plan, context)
