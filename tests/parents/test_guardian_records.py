"""The office keeps the guardians on a student's record: add_guardian and update_guardian (registrars and admins),
the path from a record without an email to a parent reading their child (invite_guardian needs the address), and
the refusals: too many guardians, a missing record or student, another role, bad input with nothing written."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from domain.academics.models import Guardian, GuardianAccount
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.factories import make_user
from tools.invoke import invoke

MISSING_ID = 2_000_000_000


async def guardian_rows(rt) -> int:
    async with rt.db.read() as s:
        return (await s.exec(select(func.count()).select_from(Guardian))).one()


async def test_a_guardian_added_by_the_office_is_invited_and_reads_only_that_child(grt, world):
    ned = world.students["Ned"]
    out = await invoke(grt, "add_guardian", {"student_id": ned, "name": "Nora Grandparent",
                                             "relationship": "grandmother"}, world.registrar)
    added = next(g for g in out.guardians if g.name == "Nora Grandparent")
    assert out.id == ned and added.relationship == "grandmother" and added.email is None
    with pytest.raises(InvalidInput, match="has no email.*update_guardian sets it"):
        await invoke(grt, "invite_guardian", {"guardian_id": added.id, "send_sign_in_link": False}, world.registrar)
    out = await invoke(grt, "update_guardian", {"guardian_id": added.id, "email": "nora.gp@example.org",
                                                "phone": "+61 400 111 222"}, world.registrar)
    changed = next(g for g in out.guardians if g.id == added.id)
    assert (changed.email, changed.phone, changed.name) == ("nora.gp@example.org", "+61 400 111 222",
                                                            "Nora Grandparent")
    invited = await invoke(grt, "invite_guardian", {"guardian_id": added.id, "send_sign_in_link": False},
                           world.registrar)
    assert invited.student_ids == [ned]
    nora = await grt.actor_for_user("nora.gp@example.org", world.admin.channel)
    assert [c.student_id for c in (await invoke(grt, "get_my_children", {}, nora)).children] == [ned]
    # A linked record stays linked when the office corrects it: the account is the person's.
    await invoke(grt, "update_guardian", {"guardian_id": added.id, "relationship": "grandparent"}, world.admin)
    async with grt.db.read() as s:
        links = (await s.exec(select(GuardianAccount).where(GuardianAccount.guardian_id == added.id))).all()
    assert [link.user_id for link in links] == [nora.id]
    assert [c.student_id for c in (await invoke(grt, "get_my_children", {}, nora)).children] == [ned]


async def test_a_student_has_at_most_six_guardians_and_refusals_write_nothing(grt, world):
    dee = world.students["Dee"]
    async with grt.db.read() as s:
        have = (await s.exec(select(func.count()).select_from(Guardian).where(Guardian.student_id == dee,
                                                                              Guardian.deleted_at.is_(None)))).one()
    for n in range(6 - have):
        await invoke(grt, "add_guardian", {"student_id": dee, "name": f"Extra Carer {n}", "relationship": "carer"},
                     world.registrar)
    before = await guardian_rows(grt)
    with pytest.raises(Conflict, match="has 6 guardians already") as refused:
        await invoke(grt, "add_guardian", {"student_id": dee, "name": "One Too Many", "relationship": "carer"},
                     world.registrar)
    assert refused.value.field == "student_id"
    with pytest.raises(NotFound, match="no student with id"):
        await invoke(grt, "add_guardian", {"student_id": MISSING_ID, "name": "Nobody", "relationship": "carer"},
                     world.registrar)
    with pytest.raises(NotFound, match="no guardian record with id .*get_student"):
        await invoke(grt, "update_guardian", {"guardian_id": MISSING_ID, "name": "Nobody"}, world.registrar)
    with pytest.raises(InvalidInput, match="at least one field"):
        await invoke(grt, "update_guardian", {"guardian_id": 1}, world.registrar)
    with pytest.raises(InvalidInput):
        await invoke(grt, "update_guardian", {"guardian_id": 1, "email": "not an address"}, world.registrar)
    async with grt.db.write() as s:
        teacher = await make_user(s, roles="teacher")
        bursar = await make_user(s, roles="finance")
    for actor in (teacher, bursar, world.guardians["kim"]):
        with pytest.raises(PermissionDenied):
            await invoke(grt, "add_guardian", {"student_id": dee, "name": "Sneaky", "relationship": "carer"}, actor)
        with pytest.raises(PermissionDenied):
            await invoke(grt, "update_guardian", {"guardian_id": 1, "email": "x@example.org"}, actor)
    assert await guardian_rows(grt) == before
