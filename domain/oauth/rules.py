"""Pure rules of OAuth sign-in: how secrets look and are hashed, how long each lives, and the bounds of what a
client may send.

Values (RFC 6749 section 10.10 asks for at least 128 bits of entropy; these carry 256):
- access token   `mcsat_<tenant>.<secret>` (`mcsat_<secret>` in the default tenant), ACCESS_TOKEN_SECONDS;
- refresh token  `mcsrt_...`, REFRESH_TOKEN_SECONDS, used once (rotation);
- authorization code `mcsac_...`, CODE_SECONDS (RFC 6749 section 4.1.2 recommends at most 10 minutes);
- client secret  `mcscs_<secret>`.
The tenant in a value only says where to look: the value's SHA-256 must still be stored in that tenant, as with
API keys (domain/identity/service.py `tenant_of_key`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from domain.kernel.tenants import CODE_PATTERN

ACCESS_PREFIX = "mcsat_"
REFRESH_PREFIX = "mcsrt_"
CODE_PREFIX = "mcsac_"
CLIENT_SECRET_PREFIX = "mcscs_"
TENANT_MARK = "."

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 30 * 24 * 3600
CODE_SECONDS = 300

MAX_SECRET = 200  # characters of a presented token or code; ours are under 90
MAX_SCOPES = 40
MAX_REDIRECT_URIS = 10
MAX_URI = 2000
MAX_STATE = 1024
MAX_CLIENT_NAME = 200
PKCE_CHALLENGE_LENGTH = 43  # base64url of a SHA-256 digest without padding (RFC 7636 section 4.2, S256)


def hash_secret(raw: str) -> str:
    """The SHA-256 hex digest under which a token, code or client secret is stored (256-bit random values need
    no salt)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret(prefix: str, tenant: str | None) -> str:
    """A fresh value with `prefix`, naming `tenant` (None: the default tenant)."""
    return prefix + (f"{tenant}{TENANT_MARK}" if tenant else "") + secrets.token_urlsafe(32)


def tenant_of(raw: str, prefix: str) -> tuple[bool, str | None]:
    """Whether `raw` is a well-formed value of `prefix`, and the tenant it names (None: the default tenant).
    A value too long, of another prefix or naming a malformed tenant code is not well formed."""
    if not isinstance(raw, str) or len(raw) > MAX_SECRET or not raw.startswith(prefix):
        return False, None
    code, mark, secret = raw[len(prefix):].partition(TENANT_MARK)
    if not mark:
        return bool(code), None
    if CODE_PATTERN.fullmatch(code) is None or not secret:
        return False, None
    return True, code


def scope_text(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    """Scopes as stored and sent: space-separated, in the order given, without repeats."""
    return " ".join(dict.fromkeys(scopes))


def secret_matches(stored_hash: str, presented: str | None) -> bool:
    """Return True when `presented` hashes to `stored_hash` (constant-time comparison); a missing or oversized
    value never matches."""
    if not presented or len(presented) > MAX_SECRET:
        return False
    return hmac.compare_digest(stored_hash, hash_secret(presented))
