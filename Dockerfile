# MFDP's image: one image for every application service of docker-compose.yml (web, worker,
# housekeeping, prepare). See docs/deploy.md.
#
# Stage 1 resolves the locked dependencies with uv into /app/.venv; stage 2 is a plain
# python:3.11-slim with that venv, the code and the collected static files, run by a non-root
# user. No compiler, no uv and no pip cache reach the final image.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
# The uv release the Makefile bootstraps (UV_VERSION there).
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN python -m pip install "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first, so that a code change reuses this layer. No dev tools (pytest, ruff,
# playwright...) and no training-only packages (the data sets and plots of
# train_default_models): the image serves and predicts.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-group training --no-install-project

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/app/.venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=mfdp.settings \
    MFDP_VAR_DIR=/app/var
RUN groupadd --system --gid 10001 mfdp \
    && useradd --system --uid 10001 --gid mfdp --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin mfdp
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
# The code belongs to root and is read-only for the service user; .dockerignore keeps .env,
# tests, benchmarks and local state out.
COPY . /app
# var/ is the one writable folder: the collected static files and the workers' model cache.
RUN install -d -o mfdp -g mfdp /app/var
USER mfdp
# Static files are part of the image, so every web container (on any machine) serves the
# manifest that matches its own code. DEBUG=false selects WhiteNoise's compressed manifest
# storage; the throwaway key only satisfies the settings' production check for this command.
RUN DEBUG=false \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /app/var/celery /app/var/db.sqlite3
EXPOSE 8000
# gunicorn.conf.py binds loopback for `make demo`; in a container it must listen on all
# interfaces, and the command line overrides the file.
CMD ["gunicorn", "mfdp.wsgi", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
