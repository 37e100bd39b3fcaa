"""Property test of the confirmation gate: random sequences of grade tools and gate steps by random actors.

How it runs: Hypothesis does not await coroutines, but pytest-asyncio (>= 0.11, here 1.x) recognises an
`async def` test decorated with `@given` and wraps Hypothesis's inner test so that *each example* runs to
completion on the test's event loop - the session loop this suite configures
(asyncio_default_test_loop_scope). So the example bodies await on the same loop as the module-scoped async
fixture below, and `st.data()` lets each step be drawn from the current model (e.g. an action id among those
created so far). A sync wrapper with
its own `asyncio.new_event_loop()` would not work: the engine's connections belong to the session loop.

The steps run on their own fresh database (not the shared session database) so that walking the audit chain
after every step stays cheap and no other test's rows matter; each example makes its own school.

After every step the test checks that:
(a) grades in the database (score_x100, locked, version) and term grades equal a model that changes only when
    a write succeeds or an action is executed - so no destructive tool changes anything before its release;
(b) the audit log grew by exactly one row per successful write or action transition, and by none otherwise;
(c) verify_audit_chain is ok;
(d) releasing an action whose touched rows changed since its preview raises StaleAction, marks it stale and
    changes nothing.
It also predicts every step's outcome (which error, in which order of checks) and compares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from domain.academics import rules
from domain.academics.models import Grade, TermGrade
from domain.actions.models import PendingAction
from domain.kernel.actor import Actor
from domain.kernel.audit import AuditEntry, verify_audit_chain
from domain.kernel.errors import (
    ActionClosed,
    Conflict,
    DomainError,
    GradeLocked,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StaleAction,
)
from tests.conftest import own_runtime
from tests.factories import SchoolSlice, make_school
from tools.invoke import invoke
from tools.runtime import Runtime

UNKNOWN_ACTION = 2_000_000_000
MAX_X100 = {0: 10000, 1: 5000}  # make_school: assessment 1 out of 100 (weight 40%), 2 out of 50 (60%)
WEIGHT_X100 = {0: 4000, 1: 6000}
STUDENTS = 2

ACTORS = ["teacher"] * 4 + ["admin"] * 3 + ["admin2"] * 3 + ["registrar"] * 2 + ["other_teacher", "viewer"]
SCORES = [0, 50, 100, 49.99, 50.01, 100.5, 77.25, 12.345, -1, 100001, "same"]
GRADERS = {"admin", "admin2", "registrar", "teacher", "other_teacher"}
MANAGERS = {"admin", "admin2", "registrar"}  # grade managers (every class) and publishers
ADMINS = {"admin", "admin2"}


@pytest.fixture(scope="module")
async def gate_runtime(tmp_path_factory) -> AsyncIterator[Runtime]:
    """A runtime on a fresh, migrated database of the selected backend, dropped at the end."""
    async with own_runtime(tmp_path_factory, "gate-properties") as runtime:
        yield runtime


# ---------------------------------------------------------------- the model


@dataclass
class GradeState:
    score: int
    locked: bool
    version: int


@dataclass
class ActionState:
    id: int
    tool: str
    level: str
    requester: str
    status: str
    touched: dict[tuple, int]
    change: tuple[tuple[int, int], int] | None = None  # ((assessment, student), new score x100)


@dataclass
class Model:
    school: SchoolSlice
    grades: dict[tuple[int, int], GradeState] = field(default_factory=dict)  # (assessment idx, student idx)
    term_grades: dict[int, int] = field(default_factory=dict)  # student idx -> version, once published
    actions: dict[int, ActionState] = field(default_factory=dict)
    class_version: int = 1  # relative: a recorded score bumps the class row (its gradebook gained a row)

    @property
    def published(self) -> bool:
        return bool(self.term_grades)

    def actor(self, name: str) -> Actor:
        return getattr(self.school, name)

    def assessment_id(self, a: int) -> int:
        return self.school.assessment_id if a == 0 else self.school.assessment2_id

    def version(self, key: tuple) -> int | None:
        if key[0] == "class":
            return self.class_version
        if key[0] == "grade":
            grade = self.grades.get(key[1])
            return None if grade is None else grade.version
        return self.term_grades.get(key[1])

    def stale(self, action: ActionState) -> bool:
        return any(self.version(key) != version for key, version in action.touched.items())

    def percentage(self, s: int) -> int | None:
        items = [rules.ScoredItem(self.grades[(a, s)].score if (a, s) in self.grades else None, MAX_X100[a],
                                  WEIGHT_X100[a]) for a in (0, 1)]
        return rules.round_half_up_x100(rules.weighted_percentage(items))


def score_x100(value: Any) -> int | None:
    """The score in hundredths as the tool's schema reads it, or None when the schema refuses it."""
    d = Decimal(str(value))
    if d < 0 or d > 100000 or d.as_tuple().exponent < -2:
        return None
    return int(d * 100)


# ---------------------------------------------------------------- one step: predict, run, update the model


@dataclass
class Outcome:
    """What the model predicts: an error class, or success with the model update and the audit rows added."""

    error: type[DomainError] | None = None
    apply: Any = None
    audit_rows: int = 0


def _predict_grade_write(model: Model, op: str, actor: str, key: tuple[int, int], x: int | None) -> Outcome:
    grade = model.grades.get(key)
    if x is None:
        return Outcome(InvalidInput)
    if actor not in GRADERS:
        return Outcome(PermissionDenied)
    if actor == "other_teacher":
        return Outcome(PermissionDenied)
    if op == "record_grade":
        if model.published or (grade is not None and grade.locked):
            return Outcome(GradeLocked)
        if grade is not None:
            return Outcome(Conflict)
        if x > MAX_X100[key[0]]:
            return Outcome(InvalidInput)

        def record(out: Any) -> None:
            model.grades[key] = GradeState(score=x, locked=False, version=1)
            model.class_version += 1

        return Outcome(apply=record, audit_rows=1)
    if grade is None:
        return Outcome(NotFound)
    locked_tool = op == "change_locked_grade"
    if not locked_tool and grade.locked:
        return Outcome(GradeLocked)
    if locked_tool and not grade.locked:
        return Outcome(InvalidInput)
    if x > MAX_X100[key[0]] or x == grade.score:
        return Outcome(InvalidInput)
    touched: dict[tuple, int] = {("grade", key): grade.version}
    if locked_tool and key[1] in model.term_grades:
        touched[("term_grade", key[1])] = model.term_grades[key[1]]

    def propose(out: Any) -> None:
        assert out.pending and out.status == "proposed"
        assert out.preview["before"]["score"] == grade.score / 100
        assert out.preview["after"]["score"] == x / 100
        model.actions[out.action_id] = ActionState(out.action_id, op, "approve" if locked_tool else "confirm",
                                                   actor, "proposed", touched, (key, x))

    return Outcome(apply=propose, audit_rows=1)


def _predict_publish(model: Model, actor: str) -> Outcome:
    if actor not in MANAGERS:
        return Outcome(PermissionDenied)
    if model.published:
        return Outcome(Conflict)
    touched: dict[tuple, int] = {("class",): model.class_version}
    touched.update({("grade", key): g.version for key, g in model.grades.items()})

    def propose(out: Any) -> None:
        assert out.pending and out.status == "proposed" and out.level == "approve"
        assert out.preview["after"]["locked_grades"] == len(model.grades)
        model.actions[out.action_id] = ActionState(out.action_id, "publish_term_grades", "approve", actor,
                                                   "proposed", touched)

    return Outcome(apply=propose, audit_rows=1)


def _execute(model: Model, action: ActionState) -> Outcome:
    """Release an action: stale when a touched row changed, else the tool runs (or fails) as the requester."""
    if model.stale(action):
        def mark_stale(out: Any) -> None:
            action.status = "stale"

        return Outcome(StaleAction, apply=mark_stale, audit_rows=1)
    if action.tool == "publish_term_grades":
        if model.published:  # nothing it read changed, but planned again it no longer plans: stale (plan/apply)
            def mark_unplannable(out: Any) -> None:
                action.status = "stale"

            return Outcome(StaleAction, apply=mark_unplannable, audit_rows=1)

        def publish(out: Any) -> None:
            for grade in model.grades.values():
                grade.locked = True
                grade.version += 1
            model.term_grades.update({s: 1 for s in range(STUDENTS)})
            action.status = "executed"
            assert out.status == "executed" and out.result["locked_grades"] == len(model.grades)

        return Outcome(apply=publish, audit_rows=1)
    assert action.change is not None
    key, x = action.change

    def change(out: Any) -> None:
        grade = model.grades[key]
        grade.score = x
        grade.version += 1
        if action.tool == "change_locked_grade" and key[1] in model.term_grades:
            model.term_grades[key[1]] += 1
        action.status = "executed"
        assert out.status == "executed"

    return Outcome(apply=change, audit_rows=1)


def _predict_gate(model: Model, op: str, actor: str, action_id: int, reason: str | None) -> Outcome:
    action = model.actions.get(action_id)
    if reason is not None and len(reason) < 5 or (op == "reject_action" and reason is None):
        return Outcome(InvalidInput)  # arguments are validated before roles
    if op in ("approve_action", "reject_action") and actor not in ADMINS:
        return Outcome(PermissionDenied)
    if action is None:
        return Outcome(NotFound)
    is_open = action.status in ("proposed", "queued")
    if op == "confirm_action":
        if actor != action.requester:
            return Outcome(PermissionDenied)
        if action.status != "proposed":
            return Outcome(ActionClosed)
        if action.level == "approve":
            def queue(out: Any) -> None:
                action.status = "queued"
                assert out.status == "queued"

            return Outcome(apply=queue, audit_rows=1)
        return _execute(model, action)
    if op == "approve_action":
        if actor == action.requester:
            return Outcome(PermissionDenied)
        if action.status != "queued":
            return Outcome(ActionClosed)
        return _execute(model, action)
    if not is_open:
        return Outcome(ActionClosed)
    if op == "reject_action" and actor == action.requester:
        return Outcome(PermissionDenied)
    if op == "cancel_action" and actor != action.requester and actor not in ADMINS:
        return Outcome(PermissionDenied)
    status = "rejected" if op == "reject_action" else "cancelled"

    def close(out: Any) -> None:
        action.status = status
        assert out.status == status

    return Outcome(apply=close, audit_rows=1)


# ---------------------------------------------------------------- checks against the database


async def _audit_rows(runtime: Runtime) -> int:
    async with runtime.db.read() as s:
        return (await s.exec(select(func.count(AuditEntry.id)))).one()


async def _check_database(runtime: Runtime, model: Model, step: str) -> None:
    school = model.school
    ids = {model.assessment_id(a): a for a in (0, 1)}
    students = {sid: i for i, sid in enumerate(school.student_ids)}
    async with runtime.db.read() as s:
        grades = (await s.exec(select(Grade).where(Grade.assessment_id.in_(list(ids))))).all()  # type: ignore
        term_grades = (await s.exec(select(TermGrade).where(TermGrade.class_id == school.class_id,
                                                            TermGrade.term_id == school.term_id))).all()
        actions = (await s.exec(select(PendingAction).where(
            PendingAction.id.in_(list(model.actions) or [0])))).all()  # type: ignore[union-attr]
        chain = await verify_audit_chain(s)
    seen = {(ids[g.assessment_id], students[g.student_id]): GradeState(g.score_x100, g.locked, g.version)
            for g in grades}
    assert seen == model.grades, f"after {step}: grades in the database differ from the model"
    assert {students[t.student_id]: t.version for t in term_grades} == model.term_grades, f"after {step}"
    for t in term_grades:
        expected = model.percentage(students[t.student_id])
        assert t.percentage_x100 == expected and t.letter == rules.letter_for(expected), f"after {step}"
    expected_statuses = {i: a.status for i, a in model.actions.items()}
    assert {a.id: a.status for a in actions} == expected_statuses, f"after {step}"
    assert chain.ok, f"after {step}: {chain.problem}"


# ---------------------------------------------------------------- drawing steps


def _pick(data, options: list, label: str):
    return data.draw(st.sampled_from(options), label=label)


def _often(data, label: str, in_five: int = 4) -> bool:
    """True `in_five` times out of five: steers the walk to meaningful steps while keeping some noise."""
    return data.draw(st.integers(0, 4), label=label) < in_five


def _draw_grade_step(data, model: Model, op: str) -> tuple[str, dict[str, Any], Outcome]:
    actor = _pick(data, ACTORS, "actor")
    existing = sorted(model.grades)
    free = [(a, s) for a in (0, 1) for s in range(STUDENTS) if (a, s) not in model.grades]
    pending = sorted({a.change[0] for a in model.actions.values()
                      if a.change is not None and a.status in ("proposed", "queued")})
    if op == "record_grade" and free and _often(data, "a pair without a score?"):
        key = _pick(data, free, "grade")
    elif op != "record_grade" and pending and _often(data, "a score with an open change?", 2):
        key = _pick(data, pending, "grade")  # a second proposal on the same row: one of them will go stale
    elif op != "record_grade" and existing and _often(data, "an existing score?"):
        key = _pick(data, existing, "grade")
    else:
        key = (data.draw(st.integers(0, 1), label="assessment"),
               data.draw(st.integers(0, STUDENTS - 1), label="student"))
    raw = data.draw(st.one_of(st.integers(0, 50), st.sampled_from(SCORES)), label="score")
    if raw == "same":
        raw = model.grades[key].score / 100 if key in model.grades else 40
    args: dict[str, Any] = {"assessment_id": model.assessment_id(key[0]),
                            "student_id": model.school.student_ids[key[1]], "score": raw}
    if op == "change_locked_grade":
        args["reason"] = "Re-marked after an appeal"
    return actor, args, _predict_grade_write(model, op, actor, key, score_x100(raw))


WANTED_STATUS = {"confirm_action": ("proposed",), "approve_action": ("queued",),
                 "reject_action": ("proposed", "queued"), "cancel_action": ("proposed", "queued")}


def _draw_gate_step(data, model: Model, op: str) -> tuple[str, dict[str, Any], Outcome]:
    known = sorted(model.actions)
    fitting = [i for i in known if model.actions[i].status in WANTED_STATUS[op]]
    if fitting and _often(data, "an action in the right status?"):
        action_id = _pick(data, fitting, "action")
    elif _often(data, "a known action?"):
        action_id = _pick(data, known, "action")
    else:
        action_id = UNKNOWN_ACTION
    requester = model.actions[action_id].requester if action_id in model.actions else "admin"
    other_admin = "admin2" if requester != "admin2" else "admin"
    usual = requester if op in ("confirm_action", "cancel_action") else other_admin
    actor = usual if _often(data, "the usual actor?", 3) else _pick(data, ACTORS, "actor")
    reason = None
    if op != "confirm_action":  # confirm_action takes no reason
        reason = _pick(data, [None, "Checked with the teacher", "Checked twice", "Agreed in person", "no"],
                       "reason")
    args: dict[str, Any] = {"action_id": action_id}
    if reason is not None:
        args["reason"] = reason
    return actor, args, _predict_gate(model, op, actor, action_id, reason)


def _ops(model: Model) -> list[str]:
    """The tools to draw from, weighted by the state so that every path (stale, queued, approved, locked
    changes, failed publication) is reached in a few examples."""
    statuses = [a.status for a in model.actions.values()]
    return (["record_grade"] * 3 + ["change_grade"] * 4
            + ["change_locked_grade"] * (5 if model.published else 1)
            + ["publish_term_grades"] * (1 if model.published else 3)
            + ["confirm_action"] * (6 if "proposed" in statuses else 1)
            + ["approve_action"] * (6 if "queued" in statuses else 1) + ["reject_action", "cancel_action"])


def _draw_step(data, model: Model) -> tuple[str, str, dict[str, Any], Outcome]:
    op = _pick(data, _ops(model), "tool")
    if op.endswith("_action") and not model.actions:
        op = "change_grade"  # nothing to decide yet: propose something instead
    if op in ("change_grade", "change_locked_grade") and not model.grades:
        op = "record_grade"
    if op == "publish_term_grades":
        publishers = sorted(MANAGERS) if _often(data, "a publisher?") else ACTORS
        actor = _pick(data, publishers, "actor")
        args = {"class_id": model.school.class_id, "term_id": model.school.term_id}
        return op, actor, args, _predict_publish(model, actor)
    if op.endswith("_action"):
        return (op, *_draw_gate_step(data, model, op))
    return (op, *_draw_grade_step(data, model, op))


# ---------------------------------------------------------------- the property


@settings(max_examples=20, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
async def test_random_gate_sequences_keep_the_invariants(gate_runtime, data):
    runtime = gate_runtime
    model = Model(await make_school(runtime, students=STUDENTS))
    steps = data.draw(st.integers(min_value=8, max_value=30), label="number of steps")
    audit_rows = await _audit_rows(runtime)
    for number in range(steps):
        op, actor, args, outcome = _draw_step(data, model)
        step = f"step {number}: {actor} {op}({args})"
        try:
            out = await invoke(runtime, op, args, model.actor(actor))
        except DomainError as exc:
            assert outcome.error is not None, f"{step}: unexpected {type(exc).__name__}: {exc.message}"
            assert type(exc) is outcome.error, f"{step}: {type(exc).__name__} ({exc.message}), " \
                                               f"expected {outcome.error.__name__}"
            if outcome.apply is not None:  # a transition that ends in an error: stale or failed
                outcome.apply(None)
        else:
            assert outcome.error is None, f"{step}: succeeded, expected {outcome.error.__name__}"
            outcome.apply(out)
        event(f"{op} -> {outcome.error.__name__ if outcome.error else 'ok'}")
        audit_before, audit_rows = audit_rows, await _audit_rows(runtime)
        added = audit_rows - audit_before
        assert added == outcome.audit_rows, f"{step}: {added} audit rows, expected {outcome.audit_rows}"
        await _check_database(runtime, model, step)


async def test_stale_action_changes_nothing(gate_runtime):
    """(d) spelled out: a change proposed, then the grade changes; confirming the first is stale."""
    runtime = gate_runtime
    school = await make_school(runtime, students=1)
    key = {"assessment_id": school.assessment_id, "student_id": school.student_ids[0]}
    await invoke(runtime, "record_grade", {**key, "score": 60}, school.teacher)
    first = await invoke(runtime, "change_grade", {**key, "score": 70}, school.teacher)
    second = await invoke(runtime, "change_grade", {**key, "score": 80}, school.teacher)
    await invoke(runtime, "confirm_action", {"action_id": second.action_id}, school.teacher)
    before = await _audit_rows(runtime)
    with pytest.raises(StaleAction) as info:
        await invoke(runtime, "confirm_action", {"action_id": first.action_id}, school.teacher)
    # The plan now reads 80 at version 2 where the preview read 60 at version 1 (change_grade is planned).
    assert "grades: score_x100 (before) for 1 of 1, version for 1 of 1 differ" in info.value.message
    assert await _audit_rows(runtime) == before + 1
    grade = await invoke(runtime, "get_grade", key, school.teacher)
    assert grade.score == 80 and grade.version == 2
    action = await invoke(runtime, "get_action", {"action_id": first.action_id}, school.teacher)
    assert action.status == "stale"
    async with runtime.db.read() as s:
        assert (await verify_audit_chain(s)).ok


async def test_publish_is_stale_when_a_score_was_recorded_after_its_preview(gate_runtime):
    runtime = gate_runtime
    school = await make_school(runtime, students=2)
    first, second = school.student_ids
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": first,
                                           "score": 90}, school.teacher)
    pending = await invoke(runtime, "publish_term_grades", {"class_id": school.class_id,
                                                            "term_id": school.term_id}, school.registrar)
    assert pending.preview["after"]["locked_grades"] == 1
    await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.registrar)
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": second,
                                           "score": 10}, school.teacher)
    # The preview promised one locked score and a class average of 90; executing now would lock two and
    # freeze an average of 50. DESIGN.md: any row the action touches changed since the preview -> stale.
    with pytest.raises(StaleAction):
        await invoke(runtime, "approve_action", {"action_id": pending.action_id}, school.admin)
