"""domain.kernel.crypto: AES-256-GCM tokens bound to their row and column, keys outside the database, rotation."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from domain.kernel import crypto
from domain.kernel.crypto import DecryptionFailed, Keyring, KeyUnavailable
from domain.kernel.settings import Settings

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
PURPOSE = "employee_payment_details.bank_account_number_enc:42"


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def test_a_value_round_trips_and_each_encryption_differs():
    ring = Keyring({"k1": K1})
    first, second = ring.encrypt("123456789", purpose=PURPOSE), ring.encrypt("123456789", purpose=PURPOSE)
    assert first != second  # a fresh 96-bit nonce each time
    assert first.startswith("v1:k1:") and "123456789" not in first
    raw = base64.urlsafe_b64decode(first.split(":", 2)[2])
    assert len(raw) == 12 + len("123456789") + 16  # nonce, ciphertext, GCM tag (SP 800-38D)
    assert ring.decrypt(first, purpose=PURPOSE) == ring.decrypt(second, purpose=PURPOSE) == "123456789"


def test_a_token_copied_to_another_row_or_column_does_not_decrypt():
    ring = Keyring({"k1": K1})
    token = ring.encrypt("123456789", purpose=PURPOSE)
    for other in ("employee_payment_details.bank_account_number_enc:43",
                  "employee_payment_details.tfn_enc:42", ""):
        with pytest.raises(DecryptionFailed) as info:
            ring.decrypt(token, purpose=other)
        assert "altered or belongs to another row or column" in info.value.message
        assert "123456789" not in info.value.message


def test_a_tampered_token_does_not_decrypt():
    ring = Keyring({"k1": K1})
    token = ring.encrypt("062-000", purpose=PURPOSE)
    prefix, data = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(data))
    for position in (0, 12, len(raw) - 1):  # the nonce, the ciphertext, the tag
        flipped = bytearray(raw)
        flipped[position] ^= 1
        with pytest.raises(DecryptionFailed):
            ring.decrypt(f"{prefix}:{base64.urlsafe_b64encode(bytes(flipped)).decode()}", purpose=PURPOSE)
    with pytest.raises(DecryptionFailed, match="too short"):
        ring.decrypt("v1:k1:AAAA", purpose=PURPOSE)
    for not_a_token in ("123456789", "v2:k1:abc", "v1::abc", "fp:k1:00"):
        with pytest.raises(DecryptionFailed, match="not an encrypted token"):
            ring.decrypt(not_a_token, purpose=PURPOSE)


def test_an_unknown_key_id_is_a_clear_error_naming_the_key_not_its_value():
    token = Keyring({"old": K1}).encrypt("123456789", purpose=PURPOSE)
    with pytest.raises(KeyUnavailable) as info:
        Keyring({"new": K2}, source="MCS_ERP_DATA_KEYS").decrypt(token, purpose=PURPOSE)
    assert "'old'" in info.value.message and "MCS_ERP_DATA_KEYS" in info.value.message
    assert "keys rotate" in info.value.message
    assert b64(K1) not in info.value.message and b64(K2) not in info.value.message


def test_rotation_re_encrypts_with_the_first_key_and_the_old_key_can_then_be_dropped():
    old_ring = Keyring({"k1": K1})
    token = old_ring.encrypt("123456789", purpose=PURPOSE)
    both = Keyring({"k2": K2, "k1": K1})  # the new key first: it encrypts, both decrypt
    assert both.current == "k2" and both.decrypt(token, purpose=PURPOSE) == "123456789"
    rotated = both.reencrypt(token, purpose=PURPOSE)
    assert rotated is not None and crypto.key_id_of(rotated) == "k2"
    assert both.reencrypt(rotated, purpose=PURPOSE) is None  # already under the current key
    only_new = Keyring({"k2": K2})
    assert only_new.decrypt(rotated, purpose=PURPOSE) == "123456789"
    with pytest.raises(KeyUnavailable):
        only_new.decrypt(token, purpose=PURPOSE)


@settings(max_examples=60, deadline=None)
@given(value=st.text(min_size=0, max_size=40), row=st.integers(1, 10**6), other=st.integers(1, 10**6),
       column=st.sampled_from(["bank_bsb_enc", "bank_account_number_enc", "tfn_enc"]))
def test_no_token_decrypts_under_another_rows_purpose(value, row, other, column):
    ring = Keyring({"k1": K1})
    token = ring.encrypt(value, purpose=f"employee_payment_details.{column}:{row}")
    assert ring.decrypt(token, purpose=f"employee_payment_details.{column}:{row}") == value
    if other != row:
        with pytest.raises(DecryptionFailed):
            ring.decrypt(token, purpose=f"employee_payment_details.{column}:{other}")


def test_fingerprints_are_deterministic_keyed_and_bound_to_their_purpose():
    ring = Keyring({"k1": K1})
    fingerprint = ring.fingerprint("123456789", purpose=PURPOSE)
    assert fingerprint == ring.fingerprint("123456789", purpose=PURPOSE)
    assert fingerprint.startswith("fp:k1:") and len(fingerprint.split(":")[2]) == 64
    assert fingerprint != ring.fingerprint("123456788", purpose=PURPOSE)
    assert fingerprint != ring.fingerprint("123456789", purpose=PURPOSE + "0")
    assert fingerprint.split(":")[2] != Keyring({"k1": K2}).fingerprint("123456789", purpose=PURPOSE).split(":")[2]


def test_keys_are_parsed_in_order_and_a_malformed_entry_is_named_without_its_value():
    keys = crypto.parse_keys(f"k2:{b64(K2)}, k1:{b64(K1)}", source="MCS_ERP_DATA_KEYS")
    assert list(keys) == ["k2", "k1"] and keys["k1"] == K1
    standard = base64.b64encode(K1).decode()
    assert crypto.parse_keys(f"# comment\nk1:{standard}\n", source="file")["k1"] == K1
    short = b64(K1[:16])
    cases = {f"k1:{short}": "not the base64 of 32 bytes", "no-colon": "entry 1 is not 'id:base64key'",
             f"k1:{b64(K1)},k1:{b64(K2)}": "appears twice", f"bad id!:{b64(K1)}": "entry 1", "": "holds no key"}
    for text, message in cases.items():
        with pytest.raises(KeyUnavailable) as info:
            crypto.parse_keys(text, source="MCS_ERP_DATA_KEYS")
        assert message in info.value.message and "MCS_ERP_DATA_KEYS" in info.value.message
        assert short not in info.value.message and b64(K2) not in info.value.message


def test_the_embedded_default_creates_a_0600_key_file_beside_the_sqlite_file(tmp_path):
    database = tmp_path / "school" / "mcs-erp.db"
    settings_ = Settings(database_url=f"sqlite+aiosqlite:///{database}", data_keys=None, data_key_file=None)
    ring = crypto.keyring_for(settings_)
    key_file = tmp_path / "school" / "mcs-erp.db.keys"
    assert key_file.exists() and not database.exists()  # beside the database, not inside it
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    token = ring.encrypt("062-000", purpose=PURPOSE)
    assert crypto.keyring_for(settings_).decrypt(token, purpose=PURPOSE) == "062-000"  # the same key next time
    assert crypto.default_key_file("sqlite+aiosqlite:///:memory:") is None


def test_postgresql_needs_a_configured_key_and_keys_win_over_files(tmp_path):
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    with pytest.raises(KeyUnavailable, match="MCS_ERP_DATA_KEYS or MCS_ERP_DATA_KEY_FILE"):
        crypto.keyring_for(Settings(database_url=url, data_keys=None, data_key_file=None))
    with pytest.raises(KeyUnavailable, match="does not exist"):
        crypto.keyring_for(Settings(database_url=url, data_keys=None, data_key_file=tmp_path / "missing.keys"))
    key_file = tmp_path / "data.keys"
    key_file.write_text(f"file:{b64(K1)}\n")
    assert crypto.keyring_for(Settings(database_url=url, data_keys=None, data_key_file=key_file)).current == "file"
    configured = Settings(database_url=url, data_key_file=key_file, data_keys=SecretStr(f"env:{b64(K2)}"))
    assert crypto.keyring_for(configured).current == "env"
    assert b64(K2) not in repr(crypto.keyring_for(configured))
