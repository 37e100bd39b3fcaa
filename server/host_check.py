"""DNS-rebinding protection for the whole HTTP app: a request must name this server in its Host header, and a
browser request must come from one of its origins.

A web page on an attacker's domain can make its name resolve to 127.0.0.1 (DNS rebinding) and then read this
server's answers as same-origin; the browser still sends the attacker's name as Host. So every request whose Host
is not one this server answers to gets 421 Misdirected Request, and one whose Origin is foreign gets 403, the
statuses the MCP SDK's own check (mcp.server.transport_security) uses on /mcp. The policy is the SDK's settings
model, built once by `host_policy`; `HostCheckMiddleware` applies it to the whole app, /mcp included, so the SDK's
own Host check is switched off there rather than run twice (server/app.py).

Hosts answered to:
- the loopback names 127.0.0.1, localhost and [::1], with the bound port (any port when the port is unknown,
  e.g. an app built in a test), and without a port when the port is 80 or unknown;
- the host the server is bound to, when it is a specific name or address (not 0.0.0.0 or ::);
- every entry of MCS_ERP_ALLOWED_HOSTS (Settings.allowed_hosts): 'name' (any port, or none), 'name:PORT' or
  'name:*'; '*' alone turns the check off (only behind a proxy that checks Host itself).
Origins allowed: http and https on those hosts, and any origin naming exactly the request's (checked) Host.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
# Open to any Host: orchestrators' probes address the pod or container by IP (a kubelet's httpGet sends the pod IP
# as Host, Prometheus the target's address), which no allowed-hosts list can know in advance; and these answer
# only status and counters, nothing a rebinding page could use to read or change the school's records.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _host_patterns(name: str, port: int | str | None) -> list[str]:
    """Host header patterns (the SDK's syntax: exact, or 'name:*' for any port) for `name` on `port`
    (None: any port or none; '*': any explicit port)."""
    if port is None:
        return [name, f"{name}:*"]
    if str(port) == "80":
        return [name, f"{name}:80"]
    return [f"{name}:{port}"]


def host_policy(bind_host: str, port: int | None, allowed_hosts: list[str]) -> TransportSecuritySettings:
    """Return the Host/Origin policy of a server bound to `bind_host`:`port` (port None: unknown) with the extra
    `allowed_hosts` entries (Settings.allowed_hosts syntax), as the MCP SDK's settings model.

    Returns a policy with the protection off when `allowed_hosts` contains '*'.
    """
    if "*" in allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts: list[str] = []
    for name in LOOPBACK_HOSTS:
        hosts += _host_patterns(name, port)
    bind = _bracketed(bind_host.lower())
    if bind_host not in WILDCARD_BINDS and bind not in LOOPBACK_HOSTS:
        hosts += _host_patterns(bind, port)
    for entry in allowed_hosts:
        name, sep, entry_port = entry.rpartition(":") if not entry.endswith("]") else ("", "", "")
        if not sep:  # no port given: 'name' or '[::1]'
            hosts += _host_patterns(entry, None)
        else:
            hosts += [f"{name}:*"] if entry_port == "*" else _host_patterns(name, entry_port)
    hosts = list(dict.fromkeys(hosts))
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


def _matches(value: str, patterns: list[str]) -> bool:
    """True when `value` equals a pattern, or a pattern is 'base:*' and `value` is 'base:PORT' (the SDK's rule,
    with the port held to digits)."""
    for pattern in patterns:
        if value == pattern or (pattern.endswith(":*") and value.startswith(pattern[:-1])
                                and value[len(pattern) - 1:].isdigit()):
            return True
    return False


class HostCheckMiddleware:
    """ASGI middleware applying a `host_policy` to every HTTP and WebSocket request but OPEN_PATHS: a missing or
    foreign Host gets 421, a foreign Origin 403, both as JSON {"error", "detail"}."""

    def __init__(self, app: ASGIApp, policy: TransportSecuritySettings) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] not in ("http", "websocket") or not self.policy.enable_dns_rebinding_protection
                or scope["path"] in OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "").strip().lower()
        if not _matches(host, self.policy.allowed_hosts):
            log.warning("refused a request for Host %r (not an allowed host)", host)
            await _refuse(scope, send, 421, "misdirected_request",
                          f"this server does not answer to Host {host!r}: use the address it was started on, or "
                          "have its operator add the name to MCS_ERP_ALLOWED_HOSTS" if host else
                          "a Host header is required")
            return
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin.strip().lower(), host):
            log.warning("refused a request from Origin %r (not an allowed origin)", origin)
            await _refuse(scope, send, 403, "forbidden",
                          f"this server does not accept requests from pages of another site (Origin {origin!r})")
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        if _matches(origin, self.policy.allowed_origins):
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host and not parts.path


async def _refuse(scope: Scope, send: Send, status: int, error: str, detail: str) -> None:
    if scope["type"] == "websocket":  # close the handshake; the status is not sent to a WebSocket client
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
