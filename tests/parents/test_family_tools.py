"""The guardian role (issue 21, part 4): a guardian reads only their own children's published grades, report
cards, transcript and attendance, and their own family's invoices, statement and balance; changes only their own
contact details and email preferences; and never sees another family's data.

The property test draws a guardian, a family tool and arguments naming any student or family of the school (their
own, another family's, one that does not exist): another family's id answers exactly as a missing one (NotFound,
same message but for the id), an answer names no student, family or invoice outside the guardian's scope, and
nothing is written by a read or by a refused call."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from domain.academics.models import Guardian, GuardianAccount
from domain.identity.models import SignInLink
from domain.kernel.audit import AuditEntry
from domain.kernel.errors import InvalidInput, NotFound, PermissionDenied
from domain.notifications.models import Notification, NotificationPreference
from tests.conftest import own_runtime
from tests.parents.world import LINKED, World, build_world
from tools.invoke import invoke
from tools.toolsets import listed_tools

MISSING_ID = 2_000_000_000


def dumped(out) -> str:
    return json.dumps(out.model_dump(mode="json"))


async def test_a_guardian_lists_their_own_children_with_their_family(grt, world):
    for who in LINKED:
        out = await invoke(grt, "get_my_children", {}, world.guardians[who])
        assert {c.student_id for c in out.children} == world.children(who)
        assert {c.family_id for c in out.children} == {world.family(who)}
        assert all(c.date_of_birth is not None and c.student_code for c in out.children)


async def test_only_published_grades_are_shown_with_the_gpa(grt, world):
    kim = world.guardians["kim"]
    ana = world.students["Ana"]
    out = await invoke(grt, "get_child_transcript", {"student_id": ana}, kim)
    assert [g.percentage for g in out.grades] == [91.0] and out.grades[0].class_id in world.published_classes
    assert out.student_code == world.student_codes[ana] and out.credits_earned == 1.0
    assert out.grades_total == 1
    card = await invoke(grt, "get_child_report_card", {"student_id": ana, "term_id": world.term_id}, kim)
    assert [line.percentage for line in card.lines] == [91.0]
    counts = card.attendance
    assert counts.present + counts.absent + counts.late + counts.excused == 5
    with pytest.raises(NotFound, match="is one of your children"):  # Cai: Kim's family, another guardian's child
        await invoke(grt, "get_child_transcript", {"student_id": world.students["Cai"]}, kim)


async def test_a_long_transcript_answers_within_the_read_budget_and_counts_every_grade(tmp_path_factory):
    """A child with many published grades (60 here: 30 terms of two classes) gets the most recent `limit` (40 by
    default) within the read budget of a default answer (tests/tools/test_read_budget.BUDGET), oldest first, and a
    GPA and credits over all of them."""
    from datetime import date, timedelta

    from domain.academics.models import Enrollment, Term, TermGrade
    from domain.kernel.clock import utcnow
    from tests.tools.test_read_budget import BUDGET

    async with own_runtime(tmp_path_factory, "long-transcript", in_process_jobs=True, currency="AUD") as rt:
        world = await build_world(rt)
        ana = world.students["Ana"]
        async with rt.db.write() as s:
            year_id = (await s.get(Term, world.term_id)).academic_year_id
            classes = [e.class_id for e in (await s.exec(select(Enrollment).where(Enrollment.student_id == ana)))]
            for n in range(30):
                start = date(2026, 1, 5) + timedelta(days=10 * n)
                term = Term(academic_year_id=year_id, number=100 + n, name=f"Block {n:02d} with a long name",
                            start_date=start, end_date=start + timedelta(days=9))
                s.add(term)
                await s.flush()
                for class_id in classes:
                    s.add(TermGrade(class_id=class_id, term_id=term.id, student_id=ana, percentage_x100=7000 + n,
                                    letter="B", gpa_points_x100=300, passing=True, earns_credit=True,
                                    scale_code="DEFAULT", published_at=utcnow()))
        out = await invoke(rt, "get_child_transcript", {"student_id": ana}, world.guardians["kim"])
        assert out.grades_total == 60 + 1 and len(out.grades) == 40
        assert len(out.model_dump_json()) <= BUDGET
        assert out.grades[-1].term == "Block 29 with a long name" and out.credits_earned == 61.0
        everything = await invoke(rt, "get_child_transcript", {"student_id": ana, "limit": 400},
                                  world.guardians["kim"])
        assert len(everything.grades) == 61 and everything.gpa == out.gpa


async def test_attendance_shows_the_register_days_newest_first(grt, world):
    out = await invoke(grt, "get_child_attendance", {"student_id": world.students["Dee"], "from_date": "2026-01-01",
                                                     "to_date": "2026-12-31", "limit": 3}, world.guardians["lee"])
    assert len(out.days) == 3 and out.truncated is True
    assert [d.on_date for d in out.days] == sorted((d.on_date for d in out.days), reverse=True)
    assert sum((out.counts.present, out.counts.absent, out.counts.late, out.counts.excused)) == 3


async def test_the_timetable_of_a_child_in_no_section_or_before_publication_is_empty(grt, world):
    out = await invoke(grt, "get_child_timetable", {"student_id": world.students["Dee"]}, world.guardians["lee"])
    assert out.student_id == world.students["Dee"] and out.lessons == [] and out.published is False
    with pytest.raises(NotFound, match="is one of your children"):
        await invoke(grt, "get_child_timetable", {"student_id": world.students["Dee"]}, world.guardians["moe"])


async def test_the_family_balance_invoices_and_statement_agree(grt, world):
    kim = world.guardians["kim"]
    balance = await invoke(grt, "get_my_family_balance", {}, kim)
    invoices = await invoke(grt, "list_my_family_invoices", {"limit": 100}, kim)
    assert {i.invoice_id for i in invoices.items} == set(world.invoices[world.families["Kim"]])
    assert balance.family.family_id == world.families["Kim"] and balance.currency == "AUD"
    assert balance.owed_minor == sum(i.balance_minor for i in invoices.items) > 0
    statement = await invoke(grt, "get_my_family_statement", {"from_date": "2026-01-01", "to_date": "2026-12-31"},
                             kim)
    assert statement.closing_balance_minor == balance.balance_minor
    assert sum(x.charge_minor for x in statement.lines) == sum(i.total_minor for i in invoices.items)
    with pytest.raises(NotFound, match="no family|not billed|none of your children"):
        await invoke(grt, "get_my_family_balance", {}, world.guardians["ned"])


async def test_a_guardian_is_offered_and_may_call_only_the_family_tools(grt, world):
    kim = world.guardians["kim"]
    listed = {spec.toolset for spec in listed_tools(grt.catalogue, kim)}
    assert listed == {"discovery", "me", "actions", "family"}
    callable_sets = {spec.toolset for spec in grt.catalogue.for_actor(kim)}
    assert callable_sets == {"discovery", "me", "actions", "family"}
    for tool, args in (("list_students", {}), ("get_student", {"student_id": world.students["Ana"]}),
                       ("list_invoices", {}), ("get_section_timetable", {"curriculum": "x"}),
                       ("list_jobs", {}), ("invite_guardian", {"guardian_id": 1})):
        with pytest.raises(PermissionDenied):
            await invoke(grt, tool, args, kim)
    with pytest.raises(PermissionDenied):  # staff do not use the guardian's tools
        await invoke(grt, "get_my_children", {}, world.registrar)


async def test_a_guardian_changes_only_their_own_contact_details_and_preferences(grt, world):
    lee, moe = world.guardians["lee"], world.guardians["moe"]
    async with grt.db.read() as s:
        before = {g.id: (g.phone, g.email) for g in (await s.exec(select(Guardian))).all()}
    out = await invoke(grt, "update_my_contact_details", {"phone": "+61 411 222 333"}, lee)
    assert [r.phone for r in out.records] == ["+61 411 222 333"]
    async with grt.db.read() as s:
        after = {g.id: (g.phone, g.email) for g in (await s.exec(select(Guardian))).all()}
        lees = {a.guardian_id for a in (await s.exec(select(GuardianAccount).where(
            GuardianAccount.user_id == lee.id))).all()}
    assert {gid for gid in after if after[gid] != before[gid]} == lees
    with pytest.raises(InvalidInput, match="email"):
        await invoke(grt, "update_my_contact_details", {"email": "not an address"}, lee)
    prefs = await invoke(grt, "set_my_notification_preference", {"category": "fees", "receive": False}, moe)
    assert prefs.receives["fees"] is False and prefs.emails == [world.emails["moe"]]
    with pytest.raises(InvalidInput, match="required"):
        await invoke(grt, "set_my_notification_preference", {"category": "attendance", "receive": False}, moe)
    async with grt.db.read() as s:
        opted = (await s.exec(select(NotificationPreference).where(NotificationPreference.opted_out))).all()
    assert {p.recipient_email for p in opted} == {world.emails["moe"]}


async def test_inviting_links_the_records_of_one_address_and_refuses_another_accounts(grt, world):
    from domain.academics import service as academics
    from domain.kernel.errors import Conflict

    async with grt.db.read() as s:
        ana, cai, eli = [(await s.exec(select(Guardian).where(Guardian.student_id == world.students[name]))).first()
                         for name in ("Ana", "Cai", "Eli")]
    moe = world.guardians["moe"]
    async with grt.db.write() as s:  # Cai's record loses its address, then takes Moe's parent's
        row = await s.get(Guardian, cai.id)
        saved, row.email = row.email, None
        s.add(row)
    try:
        with pytest.raises(InvalidInput, match="has no email"):
            await invoke(grt, "invite_guardian", {"guardian_id": cai.id}, world.registrar)
        async with grt.db.write() as s:
            row = await s.get(Guardian, cai.id)
            row.email = world.emails["moe"].upper()  # an address matches whatever its case
            s.add(row)
        out = await invoke(grt, "invite_guardian", {"guardian_id": eli.id, "send_sign_in_link": False},
                           world.registrar)
        assert out.student_ids == sorted([world.students["Cai"], world.students["Eli"]])
        assert {c.student_id for c in (await invoke(grt, "get_my_children", {}, moe)).children} == {
            world.students["Cai"], world.students["Eli"]}
        with pytest.raises(Conflict, match="another account"):  # Ana's record is Kim's parent's
            async with grt.db.write() as s:
                await academics.link_guardian_account(s, world.registrar, guardian_ids=[ana.id], user_id=moe.id)
    finally:
        async with grt.db.write() as s:
            row = await s.get(Guardian, cai.id)
            row.email = saved
            s.add(row)
            for link in (await s.exec(select(GuardianAccount).where(GuardianAccount.guardian_id == cai.id))).all():
                await s.delete(link)
    assert cai.student_id not in {c.student_id for c in (await invoke(grt, "get_my_children", {}, moe)).children}


# ---------------------------------------------------------------- the property: no other family's data, ever

CHILD_TOOLS = {
    "get_child_transcript": lambda sid, w: {"student_id": sid},
    "get_child_report_card": lambda sid, w: {"student_id": sid, "term_id": w.term_id},
    "get_child_attendance": lambda sid, w: {"student_id": sid, "from_date": "2026-01-01", "to_date": "2026-12-31"},
    "get_child_timetable": lambda sid, w: {"student_id": sid},
}
FAMILY_TOOLS = {
    "get_my_family_balance": lambda fid: {"family_id": fid},
    "list_my_family_invoices": lambda fid: {"family_id": fid, "limit": 100},
    "get_my_family_statement": lambda fid: {"family_id": fid, "from_date": "2026-01-01", "to_date": "2026-12-31"},
}
SELF_TOOLS = ("get_my_children", "get_my_details")
WRITTEN = (AuditEntry, Guardian, GuardianAccount, NotificationPreference, Notification, SignInLink)


async def counts(rt) -> dict[str, int]:
    async with rt.db.read() as s:
        return {m.__name__: (await s.exec(select(func.count()).select_from(m))).one() for m in WRITTEN}


def outside_scope(world: World, who: str) -> list[str]:
    """What a guardian must never read: the codes of the students outside their scope (other families'; for
    child tools also their own family's other children) and the invoice numbers of other families."""
    own_family = world.family(who)
    others = [code for sid, code in world.student_codes.items() if sid not in world.children(who)]
    numbers = [world.invoice_numbers[i] for fid, ids in world.invoices.items() if fid != own_family for i in ids]
    return others + numbers


def message_shape(exc: Exception, asked: int) -> str:
    return str(exc).replace(str(asked), "<id>")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
async def test_no_guardian_reaches_another_familys_data(grt, world, data):
    who = data.draw(st.sampled_from(sorted(LINKED)), label="guardian")
    actor = world.guardians[who]
    kind = data.draw(st.sampled_from(["child", "family", "self"]), label="kind")
    before = await counts(grt)
    if kind == "child":
        tool = data.draw(st.sampled_from(sorted(CHILD_TOOLS)), label="tool")
        target = data.draw(st.sampled_from(sorted(world.students.values()) + [MISSING_ID]), label="student")
        args = CHILD_TOOLS[tool](target, world)
        if target in world.children(who):
            out = dumped(await invoke(grt, tool, args, actor))
            assert all(secret not in out for secret in outside_scope(world, who)
                       if not secret.startswith("INV")), (tool, out)
        else:
            with pytest.raises(NotFound) as refused:
                await invoke(grt, tool, args, actor)
            with pytest.raises(NotFound) as missing:
                await invoke(grt, tool, CHILD_TOOLS[tool](MISSING_ID, world), actor)
            assert message_shape(refused.value, target) == message_shape(missing.value, MISSING_ID)
            assert all(secret not in str(refused.value) for secret in outside_scope(world, who))
    elif kind == "family":
        tool = data.draw(st.sampled_from(sorted(FAMILY_TOOLS)), label="tool")
        target = data.draw(st.sampled_from(sorted(world.families.values()) + [MISSING_ID, None]), label="family")
        args = {k: v for k, v in FAMILY_TOOLS[tool](target).items() if v is not None}
        own = world.family(who)
        if own is not None and target in (own, None):
            out = dumped(await invoke(grt, tool, args, actor))
            assert all(secret not in out for secret in outside_scope(world, who)
                       if secret.startswith("INV")), (tool, out)
            other_codes = [world.student_codes[sid] for sid in world.student_codes
                           if sid not in {world.students[n] for n in ("Ana", "Ben", "Cai")}] if who == "kim" else []
            assert all(code not in out for code in other_codes), (tool, out)
        else:
            with pytest.raises(NotFound) as refused:
                await invoke(grt, tool, args, actor)
            assert all(secret not in str(refused.value) for secret in outside_scope(world, who))
            if target is not None:
                with pytest.raises(NotFound) as missing:
                    await invoke(grt, tool, FAMILY_TOOLS[tool](MISSING_ID), actor)
                assert message_shape(refused.value, target) == message_shape(missing.value, MISSING_ID)
    else:
        tool = data.draw(st.sampled_from(SELF_TOOLS), label="tool")
        out = dumped(await invoke(grt, tool, {}, actor))
        assert all(secret not in out for secret in outside_scope(world, who)), (tool, out)
        assert all(world.emails[other] not in out for other in LINKED if other != who)
    assert await counts(grt) == before, "a read or a refused call wrote something"


async def test_a_childs_timetable_is_their_sections_week_in_the_published_timetable(tmp_path_factory):
    """The school's timetable built from its classes, solved and published: a guardian sees their child's section's
    lessons (both of its classes, as many as their weekly lessons), with the period times."""
    from domain.academics.models import Guardian
    from tests.gate_helpers import released
    from tests.tools.test_timetable_school_tools import school_with_rooms

    async with own_runtime(tmp_path_factory, "child-week", in_process_jobs=True) as rt:
        school = await school_with_rooms(rt)
        problem = await invoke(rt, "build_timetable_problem", {"academic_year_id": school.year_id, "days": 5,
                                                               "periods_per_day": 6, "starts_at": "08:30",
                                                               "period_minutes": 50, "break_minutes": 10},
                               school.registrar)
        job = await invoke(rt, "solve_timetable", {"problem_id": problem.problem_id, "time_limit_s": 5,
                                                   "wait_s": 60}, school.registrar)
        assert job.status == "succeeded", job
        pending = await invoke(rt, "publish_timetable", {"solution_id": job.result["solution_id"]}, school.registrar)
        await released(rt, pending, school.registrar, school.admin)
        child = school.student_ids[0]
        async with rt.db.write() as s:
            record = (await s.exec(select(Guardian).where(Guardian.student_id == child))).first()
            record.email = "pat.week@example.org"
            s.add(record)
        await invoke(rt, "invite_guardian", {"guardian_id": record.id, "send_sign_in_link": False}, school.registrar)
        pat = await rt.actor_for_user("pat.week@example.org", school.admin.channel)
        week = await invoke(rt, "get_child_timetable", {"student_id": child}, pat)
        classes = {(await invoke(rt, "get_class", {"class_id": c}, school.admin)).code
                   for c in (school.class_id, school.other_class_id)}
        assert week.published is True and week.section_code is not None
        assert {lesson.class_code for lesson in week.lessons} == classes and len(week.lessons) == 4 + 2
        assert all(lesson.starts_at and lesson.ends_at for lesson in week.lessons)
        assert len({(lesson.weekday, lesson.period) for lesson in week.lessons}) == 6  # never two at once
        with pytest.raises(NotFound):
            await invoke(rt, "get_child_timetable", {"student_id": school.student_ids[1]}, pat)
        await _check_week_grid_page(rt, pat, child, week)


async def _check_week_grid_page(rt, guardian, child: int, week) -> None:
    """Issue 24, part 4: the parent page draws the child's week as a grid, a row per period (with its times) and a
    column per teaching day, each lesson in its own (day, period) cell; read back from the page's HTML."""
    import html as html_lib
    import re

    from server.parents.routes import ParentPages, week_grid

    grid = week_grid(week.lessons)
    page = ParentPages(rt).env.get_template("child.html").render(
        base="/parents", me=guardian, csrf_field="csrf_token", csrf_token="t", minutes=15,
        transcript=await invoke(rt, "get_child_transcript", {"student_id": child}, guardian),
        attendance=await invoke(rt, "get_child_attendance", {"student_id": child}, guardian),
        week=week, grid=grid, account=None, days=30)
    table = page[page.index('<table id="timetable"'):]
    table = table[:table.index("</table>")]
    heads = [h.strip() for h in re.findall(r'<th scope="col">([^<]*)</th>', table)]
    assert heads[0] == "Period" and heads[1:] == [d.capitalize() for d in grid.days]
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", table, re.S)
    assert len(rows) == len(grid.periods) and rows
    seen = set()
    for (period, times), row in zip(grid.periods, rows, strict=True):
        assert row.startswith(str(period + 1)) and (not times or html_lib.escape(times) in row)
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        assert len(cells) == len(grid.days)
        for day, cell in zip(grid.days, cells, strict=True):
            codes = re.findall(r"<strong>([^<]+)</strong>", cell)
            expected = sorted(lesson.class_code for lesson in week.lessons
                              if lesson.weekday.lower() == day and lesson.period == period)
            assert sorted(codes) == expected, (day, period, cell)
            seen.update((day, period, code) for code in codes)
    assert len(seen) == len(week.lessons)  # every lesson drawn once, in its own cell


def test_a_week_grid_keeps_free_periods_and_orders_days():
    """The grid's rows run from the first to the last period that has a lesson (a free period between keeps its
    row); its columns are the days with lessons in week order; times come from the lessons."""
    from types import SimpleNamespace

    from server.parents.routes import week_grid

    def lesson(day, period, code, start=None, end=None):
        return SimpleNamespace(weekday=day, period=period, class_code=code, room="R1", starts_at=start, ends_at=end)

    grid = week_grid([lesson("friday", 3, "9A-ART", "11:10", "12:00"), lesson("monday", 1, "9A-MATH", "09:20", "10:10"),
                      lesson("Monday", 1, "9A-SCI")])
    assert grid.days == ("monday", "friday")
    assert grid.periods == ((1, "09:20–10:10"), (2, ""), (3, "11:10–12:00"))
    assert [x.class_code for x in grid.cells[("monday", 1)]] == ["9A-MATH", "9A-SCI"]
    assert ("friday", 2) not in grid.cells and week_grid([]).periods == ()
