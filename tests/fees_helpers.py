"""A small school for fee tests: two year levels, students in families (one with three siblings), AUD income
accounts, fee items, a term's fee schedule, a sibling discount and a scholarship, and the bursar's people."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from domain.academics import service as academics
from domain.fees import service as fees
from domain.finance import service as finance
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from tests.factories import make_user, unique

CURRENCY = "AUD"
TUITION_Y7 = 450_000  # AUD 4,500.00 a term
TUITION_Y8 = 480_000
TRANSPORT = 60_000  # every year level
SIBLING_BP = 1000  # 10 % off tuition from the second child
SCHOLARSHIP_BP = 5000  # 50 % off tuition


@dataclass
class FeeSchool:
    bursar: Actor
    admin: Actor
    admin2: Actor
    viewer: Actor
    term_id: int
    term2_id: int
    y7: int
    y8: int
    schedule_id: int
    schedule2_id: int
    tuition_item: int
    transport_item: int
    sibling_discount: int
    scholarship: int
    tuition_account: int
    transport_account: int
    students: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)


async def make_fee_school(runtime, *, due: date = date(2026, 2, 15), due2: date = date(2026, 5, 15)) -> FeeSchool:
    """Create the school in one committed transaction. Families: 'Kim' (Ana 2012 Y8, Ben 2013 Y7, Cai 2014 Y7:
    Ben and Cai get the sibling discount), 'Lee' (Dee, Y7, on a 50 % scholarship), 'Moe' (Eli, Y8); and 'Ned'
    (Y7) has no family."""
    tag = unique()
    actor = SYSTEM_ACTOR
    async with runtime.db.write() as s:
        year = await academics.create_academic_year(s, actor, code=unique("FY"), name="2026", start_date=date(2026, 1, 27),
                                                    end_date=date(2026, 12, 18))
        term = await academics.create_term(s, actor, academic_year_id=year.id, number=1, name="Term 1 2026",
                                           start_date=date(2026, 1, 27), end_date=date(2026, 4, 2))
        term2 = await academics.create_term(s, actor, academic_year_id=year.id, number=2, name="Term 2 2026",
                                            start_date=date(2026, 4, 20), end_date=date(2026, 6, 26))
        y7 = await academics.create_year_level(s, actor, code=unique("Y7"), name="Year 7", ordinal=7)
        y8 = await academics.create_year_level(s, actor, code=unique("Y8"), name="Year 8", ordinal=8)
        students = {}
        for first, level, born in (("Ana", y8, date(2012, 5, 1)), ("Ben", y7, date(2013, 6, 1)),
                                   ("Cai", y7, date(2014, 1, 9)), ("Dee", y7, date(2013, 2, 2)),
                                   ("Eli", y8, date(2012, 9, 9)), ("Ned", y7, date(2013, 3, 3))):
            student = await academics.create_student(
                s, actor, first_name=first, last_name=f"Fee{tag}", date_of_birth=born, year_level_id=level.id,
                section_id=None, guardians=[academics.GuardianInput(f"{first}'s parent", "mother", "+61 400 000 000",
                                                                    f"{first.lower()}.{tag.lower()}@example.org")])
            students[first] = student.id
        families = {}
        for name, members in (("Kim", ("Ana", "Ben", "Cai")), ("Lee", ("Dee",)), ("Moe", ("Eli",))):
            family = await fees.create_family(s, actor, name=f"{name} family {tag}", billing_name=f"{name} Parent",
                                              billing_email=f"{name.lower()}.{tag.lower()}@example.org",
                                              student_ids=[students[m] for m in members])
            families[name] = family.id
        await fees.fee_accounts(s, actor, CURRENCY)
        tuition_account = await finance.find_account_by_code(s, "4100")
        if tuition_account is None:
            tuition_account = await finance.create_account(s, actor, code="4100", name="Tuition fees",
                                                           type="income", currency=CURRENCY)
        transport_account = await finance.find_account_by_code(s, "4110")
        if transport_account is None:
            transport_account = await finance.create_account(s, actor, code="4110", name="Transport fees",
                                                             type="income", currency=CURRENCY)
        tuition = await fees.create_fee_item(s, actor, code=unique("TUI"), name="Tuition",
                                             income_account_id=tuition_account.id)
        transport = await fees.create_fee_item(s, actor, code=unique("BUS"), name="Transport",
                                               income_account_id=transport_account.id)
        lines = [fees.ScheduleLineInput(fee_item_id=tuition.id, amount=TUITION_Y7, year_level_id=y7.id),
                 fees.ScheduleLineInput(fee_item_id=tuition.id, amount=TUITION_Y8, year_level_id=y8.id),
                 fees.ScheduleLineInput(fee_item_id=transport.id, amount=TRANSPORT)]
        schedule, _ = await fees.create_fee_schedule(s, actor, code=unique("T1"), name="Term 1 2026 fees",
                                                     term_id=term.id, currency=CURRENCY, due_date=due, lines=lines)
        schedule2, _ = await fees.create_fee_schedule(s, actor, code=unique("T2"), name="Term 2 2026 fees",
                                                      term_id=term2.id, currency=CURRENCY, due_date=due2, lines=lines)
        sibling = await fees.create_discount(s, actor, code=unique("SIB"), name="Sibling discount", kind="sibling",
                                             percent_bp=SIBLING_BP, fee_item_id=tuition.id, sibling_position=2)
        scholarship = await fees.create_discount(s, actor, code=unique("SCH"), name="Academic scholarship",
                                                 kind="scholarship", percent_bp=SCHOLARSHIP_BP,
                                                 fee_item_id=tuition.id)
        await fees.award_discount(s, actor, student_id=students["Dee"], discount_id=scholarship.id)
        bursar = await make_user(s, roles="finance")
        admin = await make_user(s, roles="admin")
        admin2 = await make_user(s, roles="admin")
        viewer = await make_user(s, roles="viewer")
    return FeeSchool(bursar=bursar, admin=admin, admin2=admin2, viewer=viewer, term_id=term.id, term2_id=term2.id,
                     y7=y7.id, y8=y8.id, schedule_id=schedule.id, schedule2_id=schedule2.id,
                     tuition_item=tuition.id, transport_item=transport.id, sibling_discount=sibling.id,
                     scholarship=scholarship.id, tuition_account=tuition_account.id,
                     transport_account=transport_account.id, students=students, families=families)
