"""Sensitive values encrypted at rest: AES-256-GCM with the keys outside the database.

What is encrypted: employees' bank BSBs and account numbers and their tax file numbers (domain/hr, issue 18
item 6). Each value is a token `v1:<key id>:<urlsafe base64 of nonce + ciphertext + tag>`:
- AES-GCM (NIST SP 800-38D) from the `cryptography` package, a 256-bit key and a fresh random 96-bit nonce per
  encryption (the nonce size SP 800-38D section 8.2 recommends);
- associated data = a *purpose* naming the value's row and column ("employee_payment_details.bank_account:42"):
  authenticated, not stored, so a token copied to another row or column fails to decrypt (DecryptionFailed).

Keys (`Keyring`) come from, in order: setting MCS_ERP_DATA_KEYS ("id:base64key,id2:base64key"), the key file
MCS_ERP_DATA_KEY_FILE (the same format), or, on the embedded SQLite default, the file `<database file>.keys`
beside (never inside) the database, created with mode 0600 on first use. PostgreSQL needs one of the first two
(KeyUnavailable otherwise). The first key encrypts; every key listed decrypts. Rotation (README "Bank accounts and
keys"): put a new key first, run `mcs-erp keys rotate` (domain.hr.service.rotate_encrypted re-encrypts every
value with it in one transaction), then drop the old key.

Fingerprints: `Keyring.fingerprint(value, purpose=...)` is an HMAC-SHA256 of the value under a key derived from
the encrypting key (HKDF, info "mcs-erp fingerprint"). A gated command's plan carries it instead of a ciphertext:
a plan is stored and must hash the same when planned again, which a random-nonce ciphertext never does, and a
plain hash of a 6-digit BSB or 9-digit account number would be reversed by trying them all.

No key, plaintext or fingerprint key is ever logged, returned or put into an error message.

Errors (all DomainErrors): KeyUnavailable (no key configured, a malformed key, an unknown key id in a token),
DecryptionFailed (tampered token, wrong purpose, a token of another format).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import make_url

from domain.kernel.errors import DomainError
from domain.kernel.settings import Settings, current_settings

TOKEN_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class KeyUnavailable(DomainError):
    """No usable data key: none configured, a malformed one, or a token naming a key id no longer configured."""

    code = "key_unavailable"
    http_status = 503  # the server's configuration, not the caller's request


class DecryptionFailed(DomainError):
    """A token does not decrypt: tampered, copied from another row or column (purpose), or not a token at all."""

    code = "decryption_failed"
    http_status = 409  # the stored value, not the request


def generate_key() -> str:
    """A new random 256-bit key, urlsafe base64 (what a MCS_ERP_DATA_KEYS entry holds after its 'id:')."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_keys(text: str, *, source: str) -> dict[str, bytes]:
    """Parse 'id:base64key,id2:base64key' (commas or new lines; urlsafe or standard base64 of 32 bytes), in
    order. Raises KeyUnavailable naming `source` and the entry's position (never the key) when one is malformed
    or an id repeats."""
    keys: dict[str, bytes] = {}
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip() and not e.strip().startswith("#")]
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID.fullmatch(key_id):
            raise KeyUnavailable(f"{source}: entry {position} is not 'id:base64key' with an id of 1-32 letters, "
                                 "digits, '-' or '_'")
        try:
            raw = base64.b64decode(encoded.strip().replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != KEY_BYTES:
            raise KeyUnavailable(f"{source}: key {key_id!r} is not the base64 of {KEY_BYTES} bytes (AES-256)")
        if key_id in keys:
            raise KeyUnavailable(f"{source}: key id {key_id!r} appears twice")
        keys[key_id] = raw
    if not keys:
        raise KeyUnavailable(f"{source} holds no key")
    return keys


@dataclass(frozen=True)
class Keyring:
    """The data keys in order: the first (`current`) encrypts, all decrypt. Never printed (repr hides keys)."""

    keys: Mapping[str, bytes] = field(repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyUnavailable("a keyring needs at least one key")

    @property
    def current(self) -> str:
        """The id of the key that encrypts."""
        return next(iter(self.keys))

    def encrypt(self, plaintext: str, *, purpose: str) -> str:
        """Encrypt `plaintext` for `purpose` (the row and column it is stored in) with the current key: a token
        'v1:<key id>:<base64>', different every time (random nonce)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"{TOKEN_VERSION}:{self.current}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, purpose: str) -> str:
        """Decrypt a token made for `purpose`. Raises DecryptionFailed (not a token, tampered, another purpose)
        or KeyUnavailable (its key id is not configured)."""
        key_id = key_id_of(token)
        key = self.keys.get(key_id)
        if key is None:
            raise KeyUnavailable(f"a value is encrypted with key {key_id!r}, which is not configured ({self.source}); "
                                 "put that key back in the list until `mcs-erp keys rotate` has run")
        try:
            raw = base64.urlsafe_b64decode(token.split(":", 2)[2].encode())
        except (binascii.Error, ValueError):
            raise DecryptionFailed(f"a value for {purpose.split(':')[0]} is not valid base64") from None
        if len(raw) < NONCE_BYTES + 16:
            raise DecryptionFailed(f"a value for {purpose.split(':')[0]} is too short to be a token")
        try:
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode()).decode()
        except InvalidTag:
            raise DecryptionFailed(f"a value for {purpose.split(':')[0]} does not decrypt: it was altered or "
                                   "belongs to another row or column") from None

    def fingerprint(self, plaintext: str, *, purpose: str) -> str:
        """A keyed, deterministic fingerprint of `plaintext` for `purpose` ('fp:<key id>:<hex HMAC-SHA256>'), for
        plans that must name a secret without holding it."""
        subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                      info=b"mcs-erp fingerprint").derive(self.keys[self.current])
        digest = hmac.new(subkey, purpose.encode() + b"\x00" + plaintext.encode(), hashlib.sha256).hexdigest()
        return f"fp:{self.current}:{digest}"

    def reencrypt(self, token: str, *, purpose: str) -> str | None:
        """The token re-encrypted with the current key, or None when it already uses it (rotation)."""
        if key_id_of(token) == self.current:
            return None
        return self.encrypt(self.decrypt(token, purpose=purpose), purpose=purpose)


def key_id_of(token: str) -> str:
    """The key id a token names. Raises DecryptionFailed when `token` is not a 'v1:<id>:<data>' token."""
    parts = token.split(":", 2) if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != TOKEN_VERSION or not _KEY_ID.fullmatch(parts[1]):
        raise DecryptionFailed("a stored value is not an encrypted token ('v1:<key id>:<data>')")
    return parts[1]


def is_token(value: object) -> bool:
    """Whether `value` looks like an encrypted token (its format only; decrypting checks the rest)."""
    try:
        key_id_of(value)  # type: ignore[arg-type]
    except DecryptionFailed:
        return False
    return True


def default_key_file(database_url: str) -> Path | None:
    """The embedded default's key file: '<database file>.keys' beside a SQLite file database; None otherwise."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).with_name(Path(url.database).name + ".keys")


def _read_or_create(path: Path, *, create: bool) -> str:
    if not path.exists():
        if not create:
            raise KeyUnavailable(f"the data key file {path} does not exist (MCS_ERP_DATA_KEY_FILE)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return path.read_text()
        with os.fdopen(fd, "w") as handle:
            handle.write(f"# mcs-erp data keys (README 'Bank accounts and keys'); the first encrypts\n"
                         f"k1:{generate_key()}\n")
    return path.read_text()


_cache: dict[tuple[str, str], Keyring] = {}


def keyring_for(settings: Settings) -> Keyring:
    """The keyring `settings` configure (data_keys, else data_key_file, else the SQLite default's key file,
    created on first use). Raises KeyUnavailable when none is configured (PostgreSQL) or a key is malformed."""
    if settings.data_keys is not None:
        text, source, create = settings.data_keys.get_secret_value(), "MCS_ERP_DATA_KEYS", False
        path = None
    else:
        path = settings.data_key_file or default_key_file(settings.database_url)
        if path is None:
            raise KeyUnavailable("no data key is configured: set MCS_ERP_DATA_KEYS or MCS_ERP_DATA_KEY_FILE (README "
                                 "'Bank accounts and keys'); bank accounts are never stored unencrypted")
        text, source, create = "", f"key file {path}", settings.data_key_file is None
    cache_key = (source, hashlib.sha256(text.encode()).hexdigest())
    if path is None and cache_key in _cache:
        return _cache[cache_key]
    if path is not None:
        text = _read_or_create(path, create=create)
    ring = Keyring(parse_keys(text, source=source), source=source)
    if path is None:
        _cache[cache_key] = ring
    return ring


def keyring() -> Keyring:
    """The keyring of the settings in use (domain.kernel.settings.current_settings)."""
    return keyring_for(current_settings())
