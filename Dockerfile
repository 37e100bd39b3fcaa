# syntax=docker/dockerfile:1
# The mcs-erp image that compose.yaml runs as `migrate` (mcs-erp init), `server` and `worker`:
#
#   docker build -t mcs-erp:latest .
#
# Stage 1 installs the locked dependencies (uv.lock, no dev group) and the project into /app/.venv with uv;
# stage 2 is a slim Python with that virtualenv and the code, run by an unprivileged user (uid 10001).

FROM python:3.11-slim AS builder
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, in a layer rebuilt only when pyproject.toml or uv.lock change.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv sync --frozen --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md ./
COPY domain ./domain
COPY tools ./tools
COPY workers ./workers
COPY server ./server
COPY prompts ./prompts
COPY evals ./evals
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev \
 && python -m compileall -q domain tools workers server prompts evals

FROM python:3.11-slim AS runtime
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 mcs \
 && useradd --system --uid 10001 --gid mcs --create-home --home-dir /home/mcs --shell /usr/sbin/nologin mcs
WORKDIR /app
# The virtualenv (its python links to this image's /usr/local/bin/python3.11) and the code it installs
# (editable: /app), owned by root and read-only for the service user.
COPY --from=builder /app /app
USER 10001:10001
EXPOSE 8000
# Ready = the database answers, its schema is current and Redis answers (server/observability.py). Containers
# of this image that serve no HTTP (migrate, worker) should switch it off (compose: `healthcheck: {disable: true}`).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["mcs-erp", "serve", "--http", "0.0.0.0:8000"]
