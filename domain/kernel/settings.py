"""Settings from `MCS_ERP_*` environment variables and an optional `mcs-erp.toml`."""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from domain.kernel import money
from domain.kernel.errors import InvalidInput

# An allowed Host: a DNS name, an IPv4 address or a bracketed IPv6 address, optionally ':PORT' or ':*'; or '*'.
_ALLOWED_HOST = re.compile(r"\*|(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::(?:\d{1,5}|\*))?")


def default_database_url() -> str:
    """The embedded default: a SQLite file in the user's data directory."""
    path = Path(user_data_dir("mcs-erp", appauthor=False)) / "mcs-erp.db"
    return f"sqlite+aiosqlite:///{path}"


class Settings(BaseSettings):
    """Process settings. Environment variables win over `mcs-erp.toml` (searched in the working directory)."""

    model_config = SettingsConfigDict(env_prefix="MCS_ERP_", toml_file="mcs-erp.toml", extra="ignore")

    database_url: str = Field(default_factory=default_database_url,
                              description="sqlite+aiosqlite:///PATH (default) or postgresql+asyncpg://...")
    redis_url: str | None = Field(default=None, description="Redis for arq jobs; in-process jobs when unset.")
    disabled_modules: list[str] = Field(default_factory=list,
                                        description="Bounded contexts whose tools leave the catalogue.")
    stdio_user: str = Field(default="admin", description="The user a stdio MCP server acts as.")
    tenant: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{1,30}$",
                               description="The tenant (school) a stdio MCP server acts in; unset: the default one.")
    toolsets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Toolsets every MCP connection of this server lists besides its roles' defaults "
                    "(tools/toolsets.py), e.g. fees,ledger, or all; comma-separated or a JSON list. For stdio "
                    "clients mostly (an HTTP client adds ?toolsets= to the /mcp URL). An unknown name stops the "
                    "server, naming the known ones.")
    school_name: str = "mcs-erp school"
    school_abn: str | None = Field(default=None, pattern=r"^\d{11}$",
                                   description="The school's ABN (11 digits): the payer of its STP reports and "
                                               "SuperStream contributions.")
    school_timezone: str = "UTC"
    leave_subdivision: str | None = Field(
        default=None, max_length=10,
        description="The state or territory whose public holidays leave requests skip besides the national ones "
                    "(ISO 3166-2 without the country: VIC, NSW, QLD, ...); unset: national holidays only. A request "
                    "may name another.")
    currency: str = Field(default="USD", description="The school's ISO 4217 currency (fees and accounts opened "
                                                    "without one), e.g. AUD; one of domain.kernel.money.MINOR_UNITS.")
    action_ttl_minutes: int = Field(default=60, ge=1, description="How long a proposed action waits for confirm.")
    approval_ttl_hours: int = Field(default=168, ge=1, description="How long a queued action waits for an admin.")
    journal_approve_above_minor: int = Field(
        default=1_000_000, ge=0, le=10**15,
        description="A manual journal entry (post_journal_entry) whose total debits, in integer minor units of its "
                    "currency, are above this needs an admin's approval (four eyes); at or below it the requester's "
                    "confirmation is enough. Default 1000000 (10,000.00 in a currency with 2 decimals); 0: every "
                    "manual entry needs approval.")
    database_pool_size: int = Field(
        default=10, ge=1, le=200,
        description="Idle connections each engine of a process keeps to PostgreSQL (reads and writes have one each); "
                    "as many more may open for a burst, each closed once idle for a minute (OVERFLOW_IDLE_S). Size it "
                    "to the calls a process serves at once: a connection opened for a burst starts with none of "
                    "PostgreSQL's caches (plans, and the catalog of every tenant schema it touches). Mind "
                    "PostgreSQL's max_connections: up to 4 x this per process. SQLite keeps it for reads (one "
                    "writer).")
    key_cache_seconds: float = Field(default=5.0, ge=0, description="How long an API key lookup is reused.")
    queue_name: str = Field(default="mcs-erp:jobs", min_length=1, max_length=100,
                            description="The arq queue servers enqueue on and `mcs-erp worker` takes jobs from.")
    job_heartbeat_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="How often a running job says its process is alive; a job silent "
                                                 "for 3 heartbeats is taken to have lost its worker and runs again.")
    worker_max_jobs: int = Field(default=1, ge=1, le=100,
                                 description="Jobs one `mcs-erp worker` runs at once: 1 spreads CPU-bound jobs "
                                             "(payroll, timetable solves, PDFs) over the workers; raise it when "
                                             "workers mostly wait (agent runs).")
    compute_processes: int = Field(
        default=0, ge=0, le=8, description="Child processes that compute payroll runs' payslips beside each server "
                                           "or worker process (domain/kernel/offload.py), so the computation holds "
                                           "neither its event loop nor its GIL; 0 (the default) computes in a thread "
                                           "of the process. On 2 cores a child was slower (bench/payroll.py: "
                                           "calculate 4.0 s against 2.7 s); set it where cores are spare.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: readable lines on stderr; json: one JSON object per line (time, level, "
                                    "logger, message, request_id), for log collectors in production.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Lowest level logged.")
    session_secret: SecretStr | None = Field(
        default=None, description="Signs the admin pages' session cookies; when unset, a random secret per process "
                                  "(sessions end when the server restarts, and several server processes need it "
                                  "set to share sessions).")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names (and optional :PORT or :*) the HTTP server answers to besides the loopback names "
                    "and the host it is bound to, e.g. erp.school.example,10.0.0.5:8000; comma-separated or a "
                    "JSON list. Requests naming another Host get 421 and browser requests from another Origin "
                    "403 (DNS-rebinding protection). '*' turns the check off (only behind a proxy that checks Host).")
    cookie_secure: bool = Field(default=False, description="Send the admin session cookie over HTTPS only (set it "
                                                           "behind TLS).")
    agent_provider: Literal["anthropic", "openai"] = Field(
        default="anthropic", description="The model provider of the agent API: anthropic (Messages API) or openai "
                                         "(Chat Completions; with agent_base_url any compatible server: vLLM, "
                                         "Ollama, llama.cpp).")
    agent_model: str | None = Field(default=None, max_length=120,
                                    description="The model name; default claude-sonnet-4-5 or gpt-4.1 by provider.")
    agent_base_url: str | None = Field(default=None, max_length=500,
                                       description="The provider's base URL (default: the provider's own API).")
    agent_api_key: SecretStr | None = Field(default=None, description="The provider API key (default: the SDK's "
                                                                      "ANTHROPIC_API_KEY / OPENAI_API_KEY).")
    agent_max_steps: int = Field(default=20, ge=1, le=500, description="Model turns a run may take.")
    agent_max_tokens: int = Field(default=200_000, ge=1000, description="Input + output tokens a run may use.")
    agent_max_seconds: int = Field(default=300, ge=1, le=86_400,
                                   description="Active seconds a run may take (waiting for a human not counted).")
    agent_max_output_tokens: int = Field(default=4096, ge=16, le=128_000,
                                         description="Output tokens of one model turn.")
    salary_change_approve_above_minor: int = Field(
        default=1_000_000, ge=0, le=10**15,
        description="A salary change (change_contract_salary) whose annual pay changes by more than this needs an "
                    "admin other than the requester to approve it (four eyes); at or below it the requester's "
                    "confirmation is enough. Integer minor units of the contract's currency; the annual change is "
                    "the monthly base's change x 12, or the hourly rate's change x hours a month x 12, up or down. "
                    "Default 1000000 (10,000.00 a year in a currency of 2 decimals); 0: every change needs approval.")
    data_keys: SecretStr | None = Field(
        default=None, description="The keys that encrypt bank accounts and tax file numbers at rest (AES-256-GCM, "
                                  "domain.kernel.crypto): 'id:base64key,id2:base64key', 32-byte keys; the first "
                                  "encrypts, all decrypt (README 'Bank accounts and keys'). Unset: data_key_file.")
    data_key_file: Path | None = Field(
        default=None, description="A file holding the data keys in the data_keys format. Unset (and data_keys "
                                  "unset): on SQLite, '<database file>.keys' beside the database, created (mode "
                                  "0600) on first use; on PostgreSQL one of the two must be set.")
    aba_bsb: str | None = Field(default=None, max_length=7, description="The school's paying account's BSB "
                                                                       "(xxx-xxx), for ABA bank files.")
    aba_account: str | None = Field(default=None, max_length=9, description="The school's paying account number "
                                                                           "(5-9 digits), for ABA bank files.")
    aba_account_title: str | None = Field(default=None, max_length=32,
                                          description="The paying account's title (ABA, up to 32 characters).")
    aba_bank: str | None = Field(default=None, max_length=3, description="The paying bank's 3-letter APCA "
                                                                        "abbreviation (ABA), e.g. CBA, WBC, ANZ, NAB.")
    aba_user_name: str | None = Field(default=None, max_length=26, description="The APCA user name the bank gave "
                                                                              "the school (ABA, up to 26).")
    aba_user_id: str | None = Field(default=None, max_length=6, description="The APCA user id number the bank "
                                                                           "gave the school (ABA, 6 digits).")
    aba_description: str = Field(default="PAYROLL", min_length=1, max_length=12,
                                 description="The ABA file's entry description (up to 12 characters).")
    aba_balancing_record: bool = Field(default=True, description="End ABA bank files with a balancing debit of "
                                                                "the school's account (transaction code 13), as "
                                                                "most banks require.")

    audit_key_file: Path | None = Field(
        default=None, description="The Ed25519 key that signs audit checkpoints (PEM, mode 0600), made by `mcs-erp "
                                  "audit keygen`; keep it outside the database and its backups. Unset: no "
                                  "checkpoints are written (entries are still integrated into the Merkle tree).")
    audit_checkpoint_file: str = Field(
        default="", max_length=1000,
        description="Where checkpoints are appended, one JSON line each (domain/kernel/audit.py): a file path, '-' "
                    "for stdout (to ship them elsewhere), or empty: '<audit_key_file>.checkpoints' beside the key.")
    audit_checkpoint_seconds: float = Field(
        default=300.0, ge=0, le=86_400,
        description="How often the sequencer writes a checkpoint when the log grew (0: only on demand, with `mcs-erp "
                    "audit checkpoint`).")
    audit_sequencer_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="How often the sequencer integrates newly committed audit entries.")
    tenant_export_dir: Path | None = Field(
        default=None, description="Where drop_tenant writes a tenant's export before dropping it "
                                  "(tenant-<code>-action-<id>.zip; domain/migrations/tenant_drop.py). Unset: "
                                  "'tenant-exports' beside the SQLite database file, or in the user's data directory "
                                  "on PostgreSQL.")
    event_max_attempts: int = Field(
        default=5, ge=1, le=100,
        description="Failed deliveries of a domain event to one handler before it becomes a dead letter "
                    "(domain/kernel/outbox.py; retry_dead_letter revives it).")
    event_poll_seconds: float = Field(
        default=1.0, gt=0, le=3600,
        description="How often the outbox relay looks for events besides being woken by this process's commits "
                    "(other processes' events, retries whose backoff is over).")
    event_retention_days: int = Field(
        default=30, ge=0, le=3650,
        description="Days an event every handler is done with stays in the outbox (and its inbox rows) before the "
                    "relay deletes them; dead letters stay until retried. 0 keeps every event.")
    event_claim_idle_seconds: float = Field(
        default=10.0, gt=0, le=3600,
        description="With Redis: how long an event a worker took stays unacknowledged before another worker claims it "
                    "(a dead worker's events; a delivery that waits for its aggregate's previous event).")
    smtp_host: str | None = Field(default=None, max_length=253, description="The SMTP server notifications are "
                                  "sent through; unset: nothing is sent and they stay queued (list_notifications).")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="The SMTP server's port (587 submission, 465 TLS).")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="STARTTLS after connecting (port 587), TLS from the start (465), or none (a "
                                        "relay on the same host or network only).")
    smtp_username: str | None = Field(default=None, max_length=200, description="SMTP login, when the server needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password (never logged).")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300, description="Each SMTP step's time limit.")
    mail_from: str = Field(default="School office <office@school.example>", min_length=3, max_length=300,
                           pattern=r"^[^\r\n]+@[^\r\n]+$", description="The From of every notification.")
    public_url: str = Field(default="http://127.0.0.1:8000", max_length=300, pattern=r"^https?://[^\s]+$",
                            description="The server's address as recipients reach it: unsubscribe and sign-in links "
                                        "start with it.")
    notification_send_seconds: float = Field(default=5.0, gt=0, le=3600,
                                             description="How often the sender looks for notifications to send.")
    notification_max_attempts: int = Field(default=8, ge=1, le=30, description="Tries before a notification that "
                                           "keeps failing transiently is given up as failed.")
    fee_reminder_hour: int = Field(default=9, ge=-1, le=23, description="The hour (school_timezone) from which "
                                   "the day's overdue-fee reminders are queued; -1: never.")
    fee_reminder_every_days: int = Field(default=14, ge=1, le=90, description="A family still overdue is reminded "
                                         "again after this many days.")
    cover_max_per_week: int = Field(
        default=3, ge=1, le=40, description="The most lessons a teacher covers or supervises in one week (Monday to "
                                            "Sunday) for absent colleagues; cover proposals never exceed it.")
    timetable_holidays_country: str | None = Field(
        default=None, min_length=2, max_length=2,
        description="ISO 3166-1 code (AU) whose public holidays need no cover and are left out of calendar feeds; "
                    "unset: none.")
    timetable_holidays_subdivision: str | None = Field(
        default=None, max_length=10, description="Its state or territory (VIC, NSW, ...), for state holidays too.")

    @field_validator("currency")
    @classmethod
    def _parse_currency(cls, value: str) -> str:
        """MCS_ERP_CURRENCY: a supported ISO 4217 code, in capitals (" aud " is AUD)."""
        try:
            return money.parse_currency(value, field="MCS_ERP_CURRENCY")
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("toolsets", mode="before")
    @classmethod
    def _parse_toolsets(cls, value: object) -> object:
        """Accept 'a,b' or a JSON list of toolset names (checked against the declaration when a server starts)."""
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        if not isinstance(value, list):
            return value
        return [str(item).strip().lower() for item in value if str(item).strip()]

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _parse_allowed_hosts(cls, value: object) -> object:
        """Accept 'a,b' or a JSON list; every entry must be a host name or address, with an optional port."""
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        if not isinstance(value, list):
            return value
        entries = [str(item).strip().lower() for item in value if str(item).strip()]
        for entry in entries:
            if not _ALLOWED_HOST.fullmatch(entry):
                raise ValueError(f"allowed host {entry!r} is not a host name or address with an optional :PORT or "
                                 ":* (e.g. erp.school.example, 10.0.0.5:8000, [2001:db8::5]:*), nor '*'")
        return entries

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


_in_use: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("mcs_erp_settings", default=None)


@contextmanager
def settings_in_use(settings: Settings) -> Iterator[Settings]:
    """Make `settings` what `current_settings()` returns in this context (the gate does it around a plan, so a
    command whose plan depends on a setting reads the runtime's settings, not the environment's)."""
    token = _in_use.set(settings)
    try:
        yield settings
    finally:
        _in_use.reset(token)


def current_settings() -> Settings:
    """The settings in use (settings_in_use), else the process's settings read from the environment."""
    return _in_use.get() or Settings()
