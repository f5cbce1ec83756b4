# One image for every residuo process: migrate, worker, relay, scheduler, CLI.
FROM python:3.11-slim
COPY --from=ghcr.io/astral-sh/uv:0.5 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY messages messages
COPY ledger ledger
COPY workers workers
COPY scheduler scheduler
COPY residuo residuo
RUN uv sync --locked --no-dev
USER nobody
ENTRYPOINT ["residuo"]
