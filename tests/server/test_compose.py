"""The production deployment as files: compose.yaml against the Compose Specification's JSON schema, the
Dockerfile's structure, and the `mcs-erp` commands both of them run.

No Docker engine runs here: the schema is vendored (tests/server/data/README.md says where it comes from) and
the commands are run through typer's CliRunner with the parts that would serve or connect replaced.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.validators import Draft202012Validator, validator_for
from typer.testing import CliRunner

from domain.kernel.settings import Settings
from server import cli

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"  # check-jsonschema 0.39.0
IMAGE = "mcs-erp:latest"


# ---------------------------------------------------------------- helpers


def compose_text() -> str:
    return (ROOT / "compose.yaml").read_text()


def validator() -> Any:
    """A validator of the vendored Compose Specification schema, of the draft its $schema names."""
    schema = json.loads((DATA / "compose-spec.json").read_text())
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(document: Any) -> list[str]:
    """The schema's complaints about `document`, each as `path: message`."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}"
            for e in sorted(validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Substitute variables as Compose does: $$, ${VAR}, $VAR, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.group(1) or match.group(4), match.group(2) or "", match.group(3) or ""
        given = env.get(name)
        missing = given is None or (operator.startswith(":") and given == "")
        if missing and operator.endswith("-"):
            return argument
        if missing and operator.endswith("?"):
            raise ValueError(f"variable {name} is required: {argument}")
        return given or ""

    return _VARIABLE.sub(substitute, value)


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml as Compose reads it: YAML (anchors resolved), variables interpolated from `env`."""
    return interpolate(yaml.safe_load(compose_text()), env or {})


def mcs_erp_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in doc["services"].items() if svc.get("image") == IMAGE}


# ---------------------------------------------------------------- compose.yaml


def test_the_vendored_schema_is_the_recorded_compose_spec():
    raw = (DATA / "compose-spec.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "compose-spec.json changed: see data/README.md"
    schema = json.loads(raw)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert validator_for(schema) is Draft202012Validator
    assert schema["title"] == "Compose Specification" and "name" in schema["properties"]
    assert SCHEMA_SHA256 in (DATA / "README.md").read_text()
    assert (DATA / "LICENSE.compose-spec").read_text().lstrip().startswith("Apache License")


def test_compose_yaml_follows_the_compose_specification():
    assert schema_errors(yaml.safe_load(compose_text())) == []
    assert schema_errors(compose()) == []  # and once its variables are interpolated with their defaults
    assert schema_errors(compose({"POSTGRES_PASSWORD": "pw", "MCS_ERP_SESSION_SECRET": "s" * 40})) == []


def test_compose_runs_postgres_redis_a_migration_the_server_and_two_workers():
    doc = compose()
    services = doc["services"]
    assert set(services) == {"postgres", "redis", "migrate", "server", "worker"}
    assert services["postgres"]["image"].startswith("postgres:") and "healthcheck" in services["postgres"]
    assert services["redis"]["image"].startswith("redis:") and "healthcheck" in services["redis"]

    migrate, server, worker = services["migrate"], services["server"], services["worker"]
    assert migrate["restart"] == "no" and migrate["command"] == ["mcs-erp", "init"]
    assert migrate["build"] == "." and migrate["image"] == server["image"] == worker["image"] == IMAGE
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in (server, worker):
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert server["command"][:2] == ["mcs-erp", "serve"] and "--http" in server["command"]
    assert "/readyz" in " ".join(server["healthcheck"]["test"])
    assert worker["command"] == ["mcs-erp", "worker"] and worker["deploy"]["replicas"] == 2
    for service in (migrate, server, worker):
        env = service["environment"]
        assert env["MCS_ERP_DATABASE_URL"].startswith("postgresql+asyncpg://mcs:change-me@postgres:5432/")
        assert env["MCS_ERP_REDIS_URL"] == "redis://redis:6379/0" and env["MCS_ERP_LOG_FORMAT"] == "json"


def test_every_variable_compose_sets_is_a_setting(monkeypatch):
    env = compose({"POSTGRES_PASSWORD": "pg-secret"})["services"]["server"]["environment"]
    unknown = [k for k in env if k.removeprefix("MCS_ERP_").lower() not in Settings.model_fields]
    assert unknown == [], f"Settings ignores these silently (extra='ignore'): {unknown}"
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://mcs:pg-secret@postgres:5432/mcs_erp"
    assert settings.redis_url == "redis://redis:6379/0" and settings.log_format == "json"
    assert settings.session_secret is not None and len(settings.session_secret.get_secret_value()) >= 32


def _break_ports(doc):
    doc["services"]["server"]["ports"] = 8000


def _unknown_top_level_key(doc):
    doc["service"] = {"extra": {"image": "busybox"}}


def _misspelt_service_key(doc):
    doc["services"]["worker"]["comand"] = doc["services"]["worker"].pop("command")


def _unknown_condition(doc):
    doc["services"]["server"]["depends_on"]["migrate"]["condition"] = "service_done"


def _misspelt_replicas(doc):
    doc["services"]["worker"]["deploy"] = {"replica": 2}


@pytest.mark.parametrize(("breakage", "where"), [
    (_break_ports, "services/server/ports"),
    (_unknown_top_level_key, "<top>"),
    (_misspelt_service_key, "services/worker"),
    (_unknown_condition, "services/server/depends_on"),
    (_misspelt_replicas, "services/worker/deploy"),
])
def test_a_broken_compose_file_is_rejected(breakage, where):
    doc = copy.deepcopy(compose())
    breakage(doc)
    errors = schema_errors(doc)
    assert errors, f"{breakage.__name__} was accepted"
    assert any(e.startswith(where) for e in errors), errors


def test_an_unquoted_restart_no_is_rejected():
    """YAML reads `restart: no` as false, which Compose refuses: the migration's "no" must stay quoted."""
    text = compose_text()
    assert 'restart: "no"' in text
    errors = schema_errors(yaml.safe_load(text.replace('restart: "no"', "restart: no")))
    assert any(e.startswith("services/migrate/restart") for e in errors), errors


# ---------------------------------------------------------------- the commands compose and the image run


def _run_cli(monkeypatch, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `mcs-erp ARGV` in-process with serving, connecting and migrating replaced; return what they got."""
    import server.observability
    import workers.arq_worker

    seen: dict[str, Any] = {}

    def fake_serve_http(host: str, port: int, workers: int = 1) -> None:
        seen["serve_http"] = (host, port, workers)

    def fake_run(coro_fn):
        seen["run"] = coro_fn
        return Settings().database_url

    class FakeWorker:
        jobs_failed = 0

    def fake_run_worker(settings_cls, **options):
        seen["run_worker"] = (settings_cls, options)
        return FakeWorker()

    monkeypatch.setattr(cli, "_serve_http", fake_serve_http)
    monkeypatch.setattr(cli, "_run", fake_run)
    monkeypatch.setattr(workers.arq_worker, "run_worker", fake_run_worker)
    monkeypatch.setattr(server.observability, "configure_logging", lambda settings, **kw: seen.update(log=settings))
    assert argv[0] == "mcs-erp", argv
    result = CliRunner().invoke(cli.app, argv[1:], env=env, catch_exceptions=False)
    assert result.exit_code == 0, (argv, result.output)
    seen["output"] = result.output
    return seen


def test_the_commands_compose_runs_exist_and_parse(monkeypatch):
    doc = compose({"POSTGRES_PASSWORD": "pg-secret"})
    services = mcs_erp_services(doc)
    assert set(services) == {"migrate", "server", "worker"}
    env = services["server"]["environment"]

    init = _run_cli(monkeypatch, services["migrate"]["command"], env)
    assert "run" in init and "database ready: postgresql+asyncpg://mcs:***@postgres:5432/mcs_erp" in init["output"]
    assert "pg-secret" not in init["output"]

    serve = _run_cli(monkeypatch, services["server"]["command"], env)
    assert serve["serve_http"] == ("0.0.0.0", 8000, 2)
    assert serve["log"].log_format == "json"

    worker = _run_cli(monkeypatch, services["worker"]["command"], env)
    settings_cls, options = worker["run_worker"]
    assert settings_cls.__name__ == "WorkerSettings" and options["burst"] is False
    assert options["redis_settings"].host == "redis" and options["queue_name"] == "mcs-erp:jobs"
    assert worker["log"].log_format == "json"


# ---------------------------------------------------------------- Dockerfile


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in dockerfile.splitlines()
                                           if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            out.append((keyword.upper(), " ".join(args.split())))
    return out


def dockerfile_problems(dockerfile: str) -> list[str]:
    """What keeps a Dockerfile from being the one the issue asks for (empty when none)."""
    steps = instructions(dockerfile)
    froms = [i for i, (kw, _) in enumerate(steps) if kw == "FROM"]
    problems = []
    if len(froms) != 2:
        return [f"expected two FROM stages (builder, runtime), found {len(froms)}"]
    builder, final = steps[froms[0]:froms[1]], steps[froms[1]:]
    if not final[0][1].startswith("python:3.11-slim"):
        problems.append(f"the runtime stage is {final[0][1]!r}, not python:3.11-slim")
    if not any(kw == "RUN" and "uv sync --frozen" in args and "--no-dev" in args for kw, args in builder):
        problems.append("the builder does not run `uv sync --frozen --no-dev`")
    if not any(kw == "COPY" and "--from=builder" in args and "/app" in args for kw, args in final):
        problems.append("the runtime stage does not copy /app (the venv and the code) from the builder")
    users = [args.split(":")[0] for kw, args in final if kw == "USER"]
    if not users:
        problems.append("the runtime stage sets no USER: it would run as root")
    elif users[-1] in ("root", "0"):
        problems.append(f"the runtime stage runs as {users[-1]}")
    healthchecks = [args for kw, args in final if kw == "HEALTHCHECK"]
    if not healthchecks or "/readyz" not in healthchecks[-1]:
        problems.append("no HEALTHCHECK on /readyz in the runtime stage")
    if not any(kw == "ENV" and "PATH=/app/.venv/bin:$PATH" in args for kw, args in final):
        problems.append("PATH does not start with /app/.venv/bin")
    if ("EXPOSE", "8000") not in final:
        problems.append("the runtime stage does not EXPOSE 8000")
    return problems


def dockerfile_cmd(dockerfile: str) -> list[str]:
    (cmd,) = [args for kw, args in instructions(dockerfile) if kw == "CMD"][-1:]
    return json.loads(cmd)


def test_the_dockerfile_builds_with_uv_and_runs_unprivileged():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile_problems(dockerfile) == []
    assert ("USER", "10001:10001") in instructions(dockerfile)
    assert "--uid 10001" in dockerfile
    assert dockerfile_cmd(dockerfile) == ["mcs-erp", "serve", "--http", "0.0.0.0:8000"]


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d.replace("FROM python:3.11-slim AS runtime", "# one stage only"), "two FROM stages"),
    (lambda d: d.replace("USER 10001:10001", "USER root"), "runs as root"),
    (lambda d: d.replace("USER 10001:10001", "USER 0:0"), "runs as 0"),
    (lambda d: d.replace("USER 10001:10001\n", ""), "sets no USER"),
    (lambda d: d.replace("uv sync --frozen --no-dev \\", "uv sync --no-dev \\")
     .replace("uv sync --frozen --no-dev --no-install-project", "uv sync --no-dev --no-install-project"),
     "uv sync --frozen"),
    (lambda d: d.replace("HEALTHCHECK", "# HEALTHCHECK").replace("\n    CMD [\"python\"", "\n# CMD [\"python\""),
     "no HEALTHCHECK"),
])
def test_the_dockerfile_check_catches_a_bad_dockerfile(change, problem):
    broken = change((ROOT / "Dockerfile").read_text())
    assert broken != (ROOT / "Dockerfile").read_text()
    assert any(problem in p for p in dockerfile_problems(broken)), dockerfile_problems(broken)


def test_the_image_command_serves_http_and_the_context_leaves_out_what_it_does_not_need(monkeypatch):
    cmd = dockerfile_cmd((ROOT / "Dockerfile").read_text())
    env = compose()["services"]["server"]["environment"]
    assert _run_cli(monkeypatch, cmd, env)["serve_http"] == ("0.0.0.0", 8000, 1)

    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", "tests", "bench", ".git", "**/__pycache__", ".pytest_cache", ".ruff_cache"} <= ignored
    copied = {args.split()[0] for kw, args in instructions((ROOT / "Dockerfile").read_text())
              if kw == "COPY" and not args.startswith("--from")}
    copied |= {"pyproject.toml", "uv.lock", "README.md"}
    for name in copied:
        assert (ROOT / name).exists(), f"the Dockerfile copies {name}, which is not in the repository"
        assert name not in ignored, f"the Dockerfile copies {name}, which .dockerignore leaves out"
    for package in ("domain", "tools", "workers", "server", "prompts"):
        assert package in copied, f"the image lacks the {package} package"
