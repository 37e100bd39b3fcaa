"""Prompt arguments through the MCP SDK's client: completion/complete offers the caller's own records, prompts/get
answers a wrong call with invalid params (-32602).

The client is the SDK's `Client` on the server object (its in-memory transport: the same requests, handlers and
error mapping as stdio and HTTP; tests/server/test_conformance.py repeats the main cases over Streamable HTTP).
Each client acts as one actor of a school slice made for the test (tests/factories.py), so the values offered are
checked against what that actor's list tools return.
"""

from __future__ import annotations

import logging
from datetime import date

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from domain.academics import service as academics
from domain.kernel.actor import Actor
from server.mcp_server import MAX_COMPLETION_VALUES, build_mcp_server
from tests.factories import SchoolSlice, make_school, make_user, unique
from tools.invoke import invoke


def client_as(rt, actor: Actor) -> Client:
    async def resolve(ctx):
        return actor

    return Client(build_mcp_server(rt, resolve))


def prompt(name: str) -> types.PromptReference:
    return types.PromptReference(type="ref/prompt", name=name)


async def complete(client: Client, prompt_name: str, argument: str, value: str) -> types.Completion:
    return (await client.complete(prompt(prompt_name), {"name": argument, "value": value})).completion


@pytest.fixture(scope="module")
async def school(rt) -> SchoolSlice:
    return await make_school(rt, students=3)


async def codes_of(rt, actor: Actor, tool: str, field: str = "code") -> set[str]:
    """Every value of `field` the actor's list tool returns (all pages)."""
    out: set[str] = set()
    cursor = None
    while True:
        page = await invoke(rt, tool, {"limit": 100, "cursor": cursor}, actor)
        out |= {getattr(item, field) for item in page.items}
        cursor = page.next_cursor
        if cursor is None:
            return out


async def test_class_section_and_term_values_come_from_the_school(rt, school: SchoolSlice):
    section = await invoke(rt, "get_section", {"section_id": school.section_id}, school.admin)
    class_codes = sorted([(await invoke(rt, "get_class", {"class_id": cid}, school.admin)).code
                          for cid in (school.class_id, school.other_class_id)])
    async with client_as(rt, school.admin) as client:
        assert client.server_capabilities.completions is not None  # advertised, so clients ask

        # Case-insensitive prefix of the section's code: exactly its two classes, all of them, nothing more.
        got = await complete(client, "review_class_grades", "class_code", section.code.lower())
        assert got.values == class_codes and got.total == 2 and got.has_more is False
        got = await complete(client, "review_class_grades", "class_code", class_codes[0])
        assert got.values == [class_codes[0]] and got.total == 1

        got = await complete(client, "missing_grades", "section_code", section.code[:-1])
        assert section.code in got.values and all(v.startswith(section.code[:-1]) for v in got.values)

        # Term names are offered once each even though every school slice has a Term 1 and a Term 2.
        got = await complete(client, "review_class_grades", "term", "term")
        assert {"Term 1", "Term 2"} <= set(got.values) and len(got.values) == len(set(got.values))
        assert all(v.lower().startswith("term") for v in got.values)

        # Nothing matches: no values, and the result says so.
        got = await complete(client, "review_class_grades", "class_code", "ZZ-NO-SUCH-CLASS")
        assert got.values == [] and got.total == 0 and got.has_more is False


async def test_students_by_code_or_name(rt, school: SchoolSlice):
    students = [await invoke(rt, "get_student", {"student_id": sid}, school.admin) for sid in school.student_ids]
    first = students[0]
    async with client_as(rt, school.registrar) as client:
        got = await complete(client, "timetable_question", "student", first.code)
        assert got.values == [first.code] and got.total == 1
        full_name = f"{first.first_name} {first.last_name}"
        got = await complete(client, "timetable_question", "student", full_name.upper())
        assert got.values == [full_name] and got.has_more is False
        # The question is free text: nothing to offer.
        got = await complete(client, "timetable_question", "question", "When")
        assert got.values == [] and got.has_more is False


async def test_values_are_bounded_to_100_with_has_more_and_total(rt, school: SchoolSlice):
    tag = unique("Zq").capitalize()
    level_id = (await invoke(rt, "get_section", {"section_id": school.section_id}, school.admin)).year_level_id
    async with rt.db.write() as session:
        for i in range(MAX_COMPLETION_VALUES + 5):
            await academics.create_student(session, school.admin, first_name=f"{tag}{i:03d}", last_name="Bound",
                                           date_of_birth=date(2014, 1, 1), year_level_id=level_id,
                                           section_id=school.section_id,
                                           guardians=[academics.GuardianInput("Pat Parent", "mother", "+1 555 0100",
                                                                              "pat@example.org")])
    async with client_as(rt, school.admin) as client:
        got = await complete(client, "timetable_question", "student", tag)
        assert len(got.values) == MAX_COMPLETION_VALUES
        assert got.has_more is True and got.total == MAX_COMPLETION_VALUES + 5
        assert got.values[0] == f"{tag}000 Bound" and all(v.startswith(tag) for v in got.values)


async def test_roles_decide_what_is_offered(rt, school: SchoolSlice):
    section = await invoke(rt, "get_section", {"section_id": school.section_id}, school.admin)
    period = "2047-03"
    await invoke(rt, "create_payroll_run", {"period": period, "pay_date": "2047-03-28", "currency": "AUD"},
                 school.admin)
    async with rt.db.write() as session:
        finance = await make_user(session, roles="finance")
        hr = await make_user(session, roles="hr")
        payroll = await make_user(session, roles="payroll")

    # A teacher is offered exactly the classes list_classes shows a teacher (the tools do not narrow classes to
    # a teacher's own, so neither does completion), including the other teacher's class of the section.
    teacher_classes = {c for c in await codes_of(rt, school.teacher, "list_classes") if c.startswith(section.code)}
    assert len(teacher_classes) == 2
    async with client_as(rt, school.teacher) as client:
        got = await complete(client, "review_class_grades", "class_code", section.code)
        assert set(got.values) == teacher_classes
        # Pay periods need a payroll role: a teacher is offered none, whatever exists.
        got = await complete(client, "payroll_review", "period", "2047")
        assert got.values == [] and got.total == 0

    async with client_as(rt, payroll) as client:
        got = await complete(client, "payroll_review", "period", "2047-0")
        assert got.values == [period] and got.total == 1

    # Finance may list no classes, sections or students; HR may list classes and sections but not students. Each is
    # offered only what it may list, and a refusal is no error (which would tell that such records exist).
    async with client_as(rt, finance) as client:
        for prompt_name, argument, typed in (("review_class_grades", "class_code", section.code),
                                             ("missing_grades", "section_code", section.code),
                                             ("timetable_question", "student", "S")):
            got = await complete(client, prompt_name, argument, typed)
            assert got.values == [] and got.has_more is False, (argument, got)
    async with client_as(rt, hr) as client:
        assert set((await complete(client, "review_class_grades", "class_code", section.code)).values) \
            == teacher_classes
        assert (await complete(client, "timetable_question", "student", "S")).values == []


async def test_unknown_prompts_and_arguments_get_no_values(rt, school: SchoolSlice):
    async with client_as(rt, school.admin) as client:
        for ref, argument in ((prompt("no_such_prompt"), "arg1"), (prompt("review_class_grades"), "no_such_arg")):
            got = (await client.complete(ref, {"name": argument, "value": "x"})).completion
            assert got.values == [] and got.total == 0
        template = types.ResourceTemplateReference(type="ref/resource", uri="mcs-erp://students/{code}")
        assert (await client.complete(template, {"name": "code", "value": "S"})).completion.values == []


async def test_prompt_get_with_a_wrong_argument_is_invalid_params_without_a_traceback(rt, school: SchoolSlice, caplog):
    caplog.set_level(logging.INFO)
    async with client_as(rt, school.admin) as client:
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("timetable_question", {"student": "Amira Haddad"})
        assert missing.value.code == types.INVALID_PARAMS == -32602
        assert "'question'" in missing.value.message and "needs the argument" in missing.value.message
        assert missing.value.data == {"prompt": "timetable_question", "missing": ["question"]}

        with pytest.raises(MCPError) as blank:
            await client.get_prompt("review_class_grades", {"class_code": "  ", "term": "Term 1"})
        assert blank.value.code == -32602 and "'class_code'" in blank.value.message

        with pytest.raises(MCPError) as unknown_prompt:
            await client.get_prompt("no_such_prompt", {})
        assert unknown_prompt.value.code == -32602
        assert "unknown prompt 'no_such_prompt'" in unknown_prompt.value.message
        assert "review_class_grades" in unknown_prompt.value.message  # says what exists

        with pytest.raises(MCPError) as extra:
            await client.get_prompt("missing_grades", {"section_code": "7B", "term": "Term 1"})
        assert extra.value.code == -32602 and "no argument 'term'" in extra.value.message
        assert "section_code" in extra.value.message

        with pytest.raises(MCPError) as too_long:
            await client.get_prompt("missing_grades", {"section_code": "7" * 41})
        assert too_long.value.code == -32602 and "at most 40" in too_long.value.message

        # A right call still renders, with an optional argument's default filled in.
        got = await client.get_prompt("payroll_review", {"period": "2026-11"}) \
            if "get_payroll_run" in rt.catalogue.tools else None
        if got is not None:
            text = got.messages[0].content.text
            assert "for 2026-11" in text and "above 10 %" in text and "$" not in text
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert problems == [], [(r.name, r.getMessage()) for r in problems]
