"""Employees' payment details through tools.invoke and the gate: approve-level (four eyes), masked in every answer,
encrypted at rest (the row, the pending action's arguments, its plan and the audit log hold no plaintext), and
re-encrypted by a key rotation. On its own database, with its own data keys."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel import crypto
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import InvalidInput, PermissionDenied, StaleAction
from domain.kernel.settings import Settings
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tools.invoke import invoke

KEYS = "k1:" + base64.urlsafe_b64encode(bytes(range(32))).decode()
NEW_KEY = "k2:" + base64.urlsafe_b64encode(bytes(range(100, 132))).decode()
ACCOUNT, BSB, TFN = "987654321", "062-111", "123456782"  # TFN: 1x1+2x4+3x3+4x7+5x5+6x8+7x6+8x9+2x10 = 253 = 11x23
DETAILS = {"bsb": BSB, "account_number": ACCOUNT, "account_name": "JANE CITIZEN", "tfn": "123 456 782",
           "date_of_birth": "1985-03-14", "address_line": "1 George St", "address_suburb": "Sydney",
           "address_state": "NSW", "address_postcode": "2000", "super_fund_name": "AustralianSuper",
           "super_fund_abn": "51 824 753 556", "super_fund_usi": "STA0100AU", "super_member_number": "1234567",
           "employment_basis": "F", "tax_treatment": "rtxxxx"}


@pytest.fixture(scope="module")
async def brt(tmp_path_factory):
    # Only the runtime's settings hold the keys: tools.invoke and the gate seal and unseal arguments with them.
    async with own_runtime(tmp_path_factory, "payment-details", data_keys=SecretStr(KEYS)) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def people(brt):
    async with brt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("PD"), name="Payroll office")
        staff = [await hr.create_employee(
            s, SYSTEM_ACTOR, first_name=f"Jane{i}", last_name="Citizen", work_email=f"jane{i}.{unique()}@ex.org",
            position="Teacher", department_id=dep.id, hire_date=date(2020, 1, 6),
            employment_type=EmploymentType.FULL_TIME) for i in range(6)]
        officer = await make_user(s, roles="payroll")
        hr_officer = await make_user(s, roles="hr")
        admin = await make_user(s, roles="admin")
        teacher = await make_user(s, roles="teacher")
        registrar = await make_user(s, roles="registrar")
    return {"staff": staff, "officer": officer, "hr": hr_officer, "admin": admin, "teacher": teacher,
            "registrar": registrar}


async def released(brt, pending, requester, admin) -> dict:
    """Confirm as the requester (queued: approve level) unless done already, then approve as the admin."""
    if getattr(pending, "pending", False):
        pending = await invoke(brt, "confirm_action", {"action_id": pending.action_id}, requester)
    assert pending.status == "queued", pending
    done = await invoke(brt, "approve_action", {"action_id": pending.action_id}, admin)
    assert done.status == "executed", done
    return done.result


async def everything_stored(brt) -> str:
    """Every stored value of the tables a secret could leak into, as one text."""
    parts = []
    async with brt.db.read() as s:
        for table in ("employee_payment_details", "pending_actions", "audit_log"):
            rows = (await s.exec(text(f"SELECT * FROM {table}"))).all()  # type: ignore[call-overload]
            parts += [json.dumps([str(v) for v in row]) for row in rows]
    return "\n".join(parts)


async def test_setting_details_needs_an_admins_approval_and_answers_masked(brt, people):
    emp, officer, admin = people["staff"][0], people["officer"], people["admin"]
    before = await invoke(brt, "get_employee_payment_details", {"employee_id": emp.code}, officer)
    assert before.on_record is False and before.account_number is None and before.version is None

    pending = await invoke(brt, "set_employee_payment_details", {"employee_id": emp.id, **DETAILS}, officer)
    assert pending.pending and pending.level == "approve"
    assert pending.preview["after"]["account_number"] == "...321" and pending.preview["after"]["bsb"] == "***-***"
    assert pending.preview["after"]["tfn"] == "*** *** 782" and pending.preview["before"] is None
    confirmed = await invoke(brt, "confirm_action", {"action_id": pending.action_id}, officer)
    assert confirmed.status == "queued"  # four eyes: the requester cannot release it
    with pytest.raises(PermissionDenied):
        await invoke(brt, "approve_action", {"action_id": pending.action_id}, officer)
    result = await released(brt, confirmed, officer, admin)
    assert result["account_number"] == "...321" and result["bsb"] == "***-***" and result["tfn"] == "*** *** 782"

    shown = await invoke(brt, "get_employee_payment_details", {"employee_id": emp.id}, people["hr"])
    assert shown.on_record and shown.version == 1 and shown.account_name == "JANE CITIZEN"
    assert (shown.super_fund_abn, shown.tax_treatment, shown.address_state) == ("51824753556", "RTXXXX", "NSW")
    assert shown.date_of_birth == date(1985, 3, 14) and shown.employment_basis == "F"

    async with brt.db.read() as s:
        details = await hr.payment_details(s, [emp.id], ring=crypto.keyring_for(brt.settings))
    assert (details[emp.id].bsb, details[emp.id].account_number, details[emp.id].tfn) == (BSB, ACCOUNT, TFN)
    assert ACCOUNT not in repr(details[emp.id])


async def test_no_plaintext_is_stored_anywhere(brt, people):
    emp = people["staff"][1]
    pending = await invoke(brt, "set_employee_payment_details",
                           {"employee_id": emp.id, **DETAILS, "account_number": "55501234", "bsb": "733-999"},
                           people["officer"])
    queued = await invoke(brt, "confirm_action", {"action_id": pending.action_id}, people["officer"])
    stored_while_pending = await everything_stored(brt)
    await released(brt, queued, people["officer"], people["admin"])
    stored = stored_while_pending + await everything_stored(brt)
    for secret in ("55501234", "733-999", "733999", TFN, "123 456 782"):
        assert secret not in stored, secret
    async with brt.db.read() as s:
        row = (await s.exec(text("SELECT bank_bsb_enc, bank_account_number_enc, tfn_enc FROM employee_payment_details "
                                 f"WHERE employee_id = {emp.id}"))).one()  # type: ignore[call-overload]
        arguments = json.loads((await s.exec(text(  # type: ignore[call-overload]
            f"SELECT arguments FROM pending_actions WHERE id = {pending.action_id}"))).one()[0])
    assert all(crypto.is_token(value) for value in row)  # AES-GCM tokens, not the fingerprints the plan wrote
    assert crypto.is_token(arguments["account_number"]) and crypto.is_token(arguments["bsb"])


async def test_a_ciphertext_copied_to_another_employee_does_not_decrypt_and_can_be_replaced(brt, people):
    first, second, officer = people["staff"][4], people["staff"][5], people["officer"]
    for emp, account in ((first, "11111111"), (second, "22222222")):
        await released(brt, await invoke(brt, "set_employee_payment_details",
                                         {"employee_id": emp.id, **DETAILS, "account_number": account}, officer),
                       officer, people["admin"])
    async with brt.db.write() as s:
        await s.exec(text(  # type: ignore[call-overload]
            "UPDATE employee_payment_details SET bank_account_number_enc = (SELECT bank_account_number_enc FROM "
            f"employee_payment_details WHERE employee_id = {first.id}) WHERE employee_id = {second.id}"))
    with pytest.raises(crypto.DecryptionFailed) as info:
        await invoke(brt, "get_employee_payment_details", {"employee_id": second.id}, officer)
    assert "11111111" not in info.value.message and "another row" in info.value.message
    async with brt.db.read() as s:
        with pytest.raises(crypto.DecryptionFailed):  # payroll's bank file refuses it too
            await hr.payment_details(s, [second.id], ring=crypto.keyring_for(brt.settings))
    pending = await invoke(brt, "set_employee_payment_details",
                           {"employee_id": second.id, **DETAILS, "account_number": "22222222"}, officer)
    assert pending.preview["before"]["account_number"] == "unreadable"  # the damaged value is replaced, not shown
    await released(brt, pending, officer, people["admin"])
    shown = await invoke(brt, "get_employee_payment_details", {"employee_id": second.id}, officer)
    assert shown.account_number == "...222"


async def test_a_change_since_the_preview_makes_the_approval_stale(brt, people):
    emp, officer, admin = people["staff"][2], people["officer"], people["admin"]
    await released(brt, await invoke(brt, "set_employee_payment_details", {"employee_id": emp.id, **DETAILS},
                                     officer), officer, admin)
    pending = await invoke(brt, "set_employee_payment_details",
                           {"employee_id": emp.id, **DETAILS, "account_number": "11122233"}, officer)
    assert pending.preview["before"]["account_number"] == "...321"
    assert pending.preview["after"]["account_number"] == "...233" and "was ...321" in pending.summary
    await invoke(brt, "confirm_action", {"action_id": pending.action_id}, officer)
    other = await invoke(brt, "set_employee_payment_details",
                         {"employee_id": emp.id, **DETAILS, "account_number": "44455566"}, officer)
    await released(brt, other, officer, admin)
    with pytest.raises(StaleAction):
        await invoke(brt, "approve_action", {"action_id": pending.action_id}, admin)
    shown = await invoke(brt, "get_employee_payment_details", {"employee_id": emp.id}, officer)
    assert shown.account_number == "...566"


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"bsb": "06-2111"}, "bsb", "6 digits"),
    ({"account_number": "1234"}, "account_number", "5 to 9 digits"),
    ({"account_number": "0000000"}, "account_number", "not all zeros"),
    ({"tfn": "123456789"}, "tfn", "check digit"),  # 253 - 2x10 + 9x10 = 323, not a multiple of 11
    ({"tfn": "1234567"}, "tfn", "8 or 9 digits"),
    ({"super_fund_abn": "51 824 753 557"}, "super_fund_abn", "not a valid ABN"),
    ({"account_name": "JOSÉ NUÑEZ"}, "account_name", "cannot carry ('ÉÑ')"),
    ({"account_name": "X" * 33}, "account_name", "at most 32"),
    ({"tax_treatment": "ZTXXXX"}, "tax_treatment", "starting with one of"),
    ({"address_state": "XYZ"}, "address_state", "ACT"),
    ({"address_postcode": "200"}, "address_postcode", "pattern"),
    ({"employment_basis": "Q"}, "employment_basis", "F"),
])
async def test_bad_details_are_refused_naming_the_field_and_nothing_is_proposed(brt, people, change, field, rule):
    emp = people["staff"][3]
    with pytest.raises(InvalidInput) as info:
        await invoke(brt, "set_employee_payment_details", {"employee_id": emp.id, **DETAILS, **change},
                     people["officer"])
    assert field in (info.value.field or "") + info.value.message and rule in info.value.message, info.value
    if "tfn" in change:
        assert change["tfn"] not in info.value.message  # a TFN is never echoed
    async with brt.db.read() as s:
        held = (await s.exec(text(  # type: ignore[call-overload]
            f"SELECT count(*) FROM employee_payment_details WHERE employee_id = {emp.id}"))).one()[0]
    assert held == 0


async def test_only_payroll_hr_and_admins_see_or_set_details(brt, people):
    emp = people["staff"][0]
    for role in ("teacher", "registrar"):
        with pytest.raises(PermissionDenied):
            await invoke(brt, "get_employee_payment_details", {"employee_id": emp.id}, people[role])
        with pytest.raises(PermissionDenied):
            await invoke(brt, "set_employee_payment_details", {"employee_id": emp.id, **DETAILS}, people[role])


async def test_rotation_re_encrypts_every_value_and_the_old_key_can_then_be_dropped(brt, people):
    emp = people["staff"][0]
    rotated = Settings(database_url=brt.settings.database_url, data_keys=SecretStr(f"{NEW_KEY},{KEYS}"))
    async with brt.db.write() as s:
        done = await hr.rotate_encrypted(s, ring=crypto.keyring_for(rotated))
    assert done.key_id == "k2" and done.reencrypted >= 5 and done.unchanged == 0
    async with brt.db.write() as s:
        again = await hr.rotate_encrypted(s, ring=crypto.keyring_for(rotated))
    assert again.reencrypted == 0 and again.unchanged == done.reencrypted
    only_new = crypto.keyring_for(Settings(database_url=brt.settings.database_url, data_keys=SecretStr(NEW_KEY)))
    async with brt.db.read() as s:
        details = await hr.payment_details(s, [emp.id], ring=only_new)
    assert details[emp.id].account_number == ACCOUNT and details[emp.id].tfn == TFN
    with pytest.raises(crypto.KeyUnavailable):
        async with brt.db.read() as s:
            await hr.payment_details(s, [emp.id], ring=crypto.keyring_for(brt.settings))  # k1 alone: k2 unknown


async def test_keys_rotate_through_the_cli_then_the_old_key_can_go(tmp_path):
    """`mcs-erp keys new-data-key` and `mcs-erp keys rotate` as an operator runs them (subprocesses)."""
    from tests.server.e2e_helpers import e2e_database, run_cli
    from tools.runtime import Runtime

    async with e2e_database(tmp_path) as db:
        await run_cli(db, "init", env={"MCS_ERP_DATA_KEYS": KEYS})
        runtime = Runtime.create(Settings(database_url=db.url, data_keys=SecretStr(KEYS)))
        try:
            async with runtime.db.write() as s:
                dep = await hr.create_department(s, SYSTEM_ACTOR, code="CLI", name="Office")
                emp = await hr.create_employee(s, SYSTEM_ACTOR, first_name="Kim", last_name="Rotated",
                                               work_email="kim@ex.org", position="Clerk", department_id=dep.id,
                                               hire_date=date(2021, 2, 1), employment_type=EmploymentType.FULL_TIME)
                officer, admin = await make_user(s, roles="payroll"), await make_user(s, roles="admin")
            await released(runtime, await invoke(runtime, "set_employee_payment_details",
                                                 {"employee_id": emp.id, **DETAILS}, officer), officer, admin)
        finally:
            await runtime.close()

        new_key = (await run_cli(db, "keys", "new-data-key", "--id", "k2")).stdout.strip()
        assert new_key.startswith("k2:") and len(base64.urlsafe_b64decode(new_key[3:])) == 32
        bad_id = await run_cli(db, "keys", "new-data-key", "--id", "no spaces", check=False)
        assert bad_id.returncode == 2 and "entry 1" in bad_id.stderr

        rotated = await run_cli(db, "keys", "rotate", env={"MCS_ERP_DATA_KEYS": f"{new_key},{KEYS}"})
        assert "3 value(s) re-encrypted with key k2 (0 already used it); the key(s) k1 can now be removed" \
            in rotated.stdout, rotated.stdout  # BSB, account number and TFN
        only_old = await run_cli(db, "keys", "rotate", env={"MCS_ERP_DATA_KEYS": KEYS}, check=False)
        assert only_old.returncode == 1 and "key 'k2', which is not configured" in only_old.stderr
        assert new_key[3:] not in only_old.stderr + only_old.stdout
        again = await run_cli(db, "keys", "rotate", env={"MCS_ERP_DATA_KEYS": new_key})
        assert "0 value(s) re-encrypted with key k2 (3 already used it)" in again.stdout

        check = Runtime.create(Settings(database_url=db.url, data_keys=SecretStr(new_key)))
        try:
            async with check.db.read() as s:
                details = (await hr.payment_details(s, [emp.id], ring=crypto.keyring_for(check.settings)))[emp.id]
                audited = (await s.exec(text(  # type: ignore[call-overload]
                    "SELECT arguments, after FROM audit_log WHERE tool = 'keys rotate'"))).all()
        finally:
            await check.close()
        assert (details.bsb, details.account_number, details.tfn) == (BSB, ACCOUNT, TFN)
        assert len(audited) == 2 and all(ACCOUNT not in str(row) and new_key[3:] not in str(row) for row in audited)


def test_without_a_data_key_secret_arguments_are_refused_by_a_clear_error_before_anything_is_stored():
    from domain.kernel.settings import settings_in_use
    from tools.payroll_banking import SetPaymentDetailsIn

    no_keys = Settings(database_url="postgresql+asyncpg://u@127.0.0.1/school", data_keys=None, data_key_file=None)
    with settings_in_use(no_keys), pytest.raises(crypto.KeyUnavailable) as info:
        SetPaymentDetailsIn.model_validate({"employee_id": 1, **DETAILS})
    assert "MCS_ERP_DATA_KEYS" in info.value.message and ACCOUNT not in info.value.message
    keyed = Settings(database_url="postgresql+asyncpg://u@127.0.0.1/school", data_keys=SecretStr(KEYS))
    with settings_in_use(keyed):
        args = SetPaymentDetailsIn.model_validate({"employee_id": 1, **DETAILS})
        stored = json.loads(args.model_dump_json())  # what the gate stores: tokens
        assert crypto.is_token(stored["bsb"]) and crypto.is_token(stored["account_number"])
        assert SetPaymentDetailsIn.model_validate(stored).account_number == ACCOUNT  # opened again when released
        forged = dict(stored, bsb=stored["account_number"])  # a token of one argument given as another
        with pytest.raises(crypto.DecryptionFailed):
            SetPaymentDetailsIn.model_validate(forged)
    assert args.account_number == ACCOUNT and args.tax_treatment == "RTXXXX"


async def test_a_change_proposed_before_a_new_key_was_put_first_is_stale_when_released(brt, people):
    from tools.runtime import Runtime

    emp, officer, admin = people["staff"][3], people["officer"], people["admin"]
    pending = await invoke(brt, "set_employee_payment_details", {"employee_id": emp.id, **DETAILS}, officer)
    await invoke(brt, "confirm_action", {"action_id": pending.action_id}, officer)
    rotated = Runtime.create(Settings(database_url=brt.settings.database_url, key_cache_seconds=0,
                                      data_keys=SecretStr(f"{NEW_KEY},{KEYS}")))
    try:
        with pytest.raises(StaleAction) as info:  # the arguments still open (k1 is listed); the fingerprints differ
            await invoke(rotated, "approve_action", {"action_id": pending.action_id}, admin)
        assert "employee_payment_details" in info.value.message
        shown = await invoke(rotated, "get_employee_payment_details", {"employee_id": emp.id}, officer)
        assert shown.on_record is False  # nothing was written
    finally:
        await rotated.close()
