"""docker-compose.yml and the Dockerfile: the deployment is valid and keeps its promises.

`docker compose config` (or Debian's standalone `docker-compose`) validates the file with an
env file made from .env.example, as an operator's `cp .env.example .env` would; no Docker
engine is needed. Without the CLI the validation is skipped with the reason, and under
CI=true it fails (.ci/run installs Debian's docker-compose). The structural checks read the
YAML itself and need no CLI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ONE_SHOTS = {"minio-init", "prepare"}
APP_SERVICES = {"web", "worker", "housekeeping"}
SERVICES = {"postgres", "redis", "minio", *ONE_SHOTS, *APP_SERVICES}
# Variables only docker-compose.yml reads; .env.example must document them all the same.
INFRA_SECRETS = {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
# The image fixes where its collected static files and model cache live.
FIXED_IN_IMAGE = {"MFDP_VAR_DIR"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY\b|_KEY_ID\b|TOKEN")
REFERENCE = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(?:(?::?[-?])[^}]*)?\}$")


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def _compose_cli() -> list[str] | None:
    """`docker compose` when the plugin is there, else a standalone `docker-compose`."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _settings_variables() -> set[str]:
    # The same reading as tests/mfdp/test_env_example.py.
    source = (ROOT / "mfdp" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source))


def _interpolated_variables() -> set[str]:
    text = COMPOSE_FILE.read_text()
    return set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _environment(service: dict) -> dict[str, str | None]:
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return {name: None if value is None else str(value) for name, value in environment.items()}
    pairs = {}
    for item in environment:
        name, _, value = item.partition("=")
        pairs[name] = value if "=" in item else None
    return pairs


def _strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif node is not None:
        yield str(node)


def _command(service: dict) -> str:
    command = service.get("command") or []
    return command if isinstance(command, str) else " ".join(map(str, command))


def test_compose_config_validates_with_the_env_example(tmp_path):
    cli = _compose_cli()
    if cli is None:
        reason = (
            "neither `docker compose` nor `docker-compose` is installed "
            "(apt-get install docker-compose; no engine is needed for `config`)"
        )
        if is_ci():
            pytest.fail(f"CI=true needs the compose CLI: {reason}", pytrace=False)
        pytest.skip(reason)
    env_file = tmp_path / "compose.env"
    env_file.write_text((ROOT / ".env.example").read_text())
    # Only the env file may feed the interpolation: nothing from this process's environment.
    environment = {
        name: value
        for name, value in os.environ.items()
        if name in {"PATH", "HOME", "LANG", "LC_ALL", "DOCKER_CONFIG", "TMPDIR"}
    }
    result = subprocess.run(
        [
            *cli,
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE_FILE),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=ROOT,
    )
    assert result.returncode == 0, (
        f"{' '.join(cli)} config rejected docker-compose.yml:\n{result.stderr}{result.stdout}"
    )


def test_every_variable_compose_reads_is_documented_in_env_example():
    missing = _interpolated_variables() - _env_example().keys()
    assert not missing, (
        f".env.example lacks {sorted(missing)}, which docker-compose.yml reads "
        "(an operator copies .env.example to .env)"
    )


def test_the_services_are_all_there(services):
    assert set(services) == SERVICES


def test_every_long_running_service_has_a_healthcheck(services):
    for name in SERVICES - ONE_SHOTS:
        healthcheck = services[name].get("healthcheck") or {}
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"


def test_one_shots_run_once_and_the_app_waits_for_them(services):
    for name in ONE_SHOTS:
        assert services[name].get("restart") == "no", f"{name} must not restart"
    for name in APP_SERVICES:
        depends_on = services[name].get("depends_on") or {}
        for one_shot in ONE_SHOTS:
            assert depends_on.get(one_shot, {}).get("condition") == (
                "service_completed_successfully"
            ), f"{name} must wait for {one_shot} to complete successfully"
        for state in ("postgres", "redis", "minio"):
            assert depends_on.get(state, {}).get("condition") == "service_healthy", (
                f"{name} must wait for {state} to be healthy"
            )
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["prepare"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_prepare_migrates_and_registers_the_models_but_loads_no_demo_data(services):
    command = _command(services["prepare"])
    assert "manage.py migrate" in command
    assert "manage.py register_models" in command
    assert "load_demo_data" not in command
    assert "prepare_demo" not in command


def test_workers_run_two_replicas_with_concurrency_from_the_environment(services):
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    command = _command(worker)
    assert re.search(r"--concurrency[= ]\$\{CELERY_CONCURRENCY\b", command), command
    assert "celery" in command
    assert "worker" in command
    assert "container_name" not in worker, "replicas need compose-made names"


def test_redis_never_evicts_a_queued_message(services):
    command = services["redis"]["command"]
    command = command.split() if isinstance(command, str) else command
    assert "--maxmemory-policy" in command
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_web_is_gunicorn_bound_for_a_container(services):
    command = _command(services["web"])
    assert command.startswith("gunicorn mfdp.wsgi")
    assert "--config gunicorn.conf.py" in command
    assert "--bind 0.0.0.0:8000" in command


def test_the_app_gets_every_setting_by_name_and_no_root_credentials(services):
    expected = _settings_variables()
    for name in {"prepare", *APP_SERVICES}:
        environment = _environment(services[name])
        missing = expected - environment.keys()
        assert not missing, f"{name} is not given {sorted(missing)} (add them to x-app-environment)"
        stale = environment.keys() - expected
        assert not stale, f"{name} is given {sorted(stale)}, which the settings do not read"
        leaked = environment.keys() & INFRA_SECRETS
        assert not leaked, f"{name} must not see {sorted(leaked)}"
        assert "env_file" not in services[name], "env_file would hand the app every secret"
        for variable, value in environment.items():
            if variable in FIXED_IN_IMAGE:
                continue
            if variable == "DEBUG":
                assert value == "${DEBUG:-false}", "DEBUG must default to false in production"
                continue
            assert value is None, f"{name}: {variable} must come from .env, not be written here"


def test_no_secret_is_written_in_the_compose_file(compose, services):
    for name, service in services.items():
        for variable, value in _environment(service).items():
            if SECRET_NAME.search(variable) and value is not None:
                assert REFERENCE.match(value), f"{name}: {variable} is written in the file"
    # Every string of the file (comments aside): no URL with credentials, no example secret.
    strings = list(_strings(compose))
    for string in strings:
        assert not re.search(r"://[^\s/:@$]+:[^\s/@$]+@", string), f"credentials in {string}"
    for variable, value in _env_example().items():
        if SECRET_NAME.search(variable) and len(value) >= 8:
            assert not any(value in string for string in strings), (
                f"the example value of {variable} is written in docker-compose.yml"
            )


def test_minio_root_credentials_reach_only_minio_and_its_init(services):
    for name, service in services.items():
        if name in {"minio", "minio-init"}:
            continue
        assert not _environment(service).keys() & {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}


def test_minio_init_makes_a_private_bucket_and_a_key_limited_to_it():
    script = (ROOT / "deploy" / "minio-init.sh").read_text()
    assert "mc mb --ignore-existing" in script
    assert "mc anonymous set none" in script
    assert "arn:aws:s3:::${S3_BUCKET}/*" in script
    assert "mc admin user add" in script
    assert "mc admin policy attach" in script
    actions = set(re.findall(r'"(s3:[A-Za-z*]+)"', script))
    assert actions >= {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    assert not any("*" in action for action in actions), "no wildcard actions"


def test_dockerfile_is_multi_stage_uv_non_root_without_build_tools():
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert len(stages) >= 2, "multi-stage"
    uv_version = re.search(r"^UV_VERSION \?= (\S+)$", makefile, flags=re.MULTILINE).group(1)
    assert f"ARG UV_VERSION={uv_version}" in dockerfile, "the Makefile's uv release"
    assert "uv sync --frozen --no-dev --no-group training" in dockerfile
    final = dockerfile[dockerfile.rindex("\nFROM ") :]
    assert "COPY --from=builder" in final
    assert re.search(r"^USER (?!root\b|0\b)\S+", final, flags=re.MULTILINE), "a non-root user"
    for tool in ("build-essential", "gcc", "apt-get install", "uv sync", "pip install"):
        assert tool not in final, f"{tool!r} in the final stage"
    assert "collectstatic" in final
    assert "--bind" in final
    assert "0.0.0.0:8000" in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored, ".env must never be copied into the image"


def _healthcheck_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "mfdp_deploy_healthcheck", ROOT / "deploy" / "healthcheck.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("allowed_hosts", "host"),
    [
        ("mfdp.example.com,www.mfdp.example.com", "mfdp.example.com"),
        (".mfdp.example.com", "mfdp.example.com"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_web_healthcheck_sends_a_host_the_settings_allow(monkeypatch, allowed_hosts, host):
    monkeypatch.setenv("ALLOWED_HOSTS", allowed_hosts)
    assert _healthcheck_module()._host_header() == host


def test_healthcheck_names_its_roles_and_reports_a_dead_web(capsys):
    healthcheck = _healthcheck_module()
    assert healthcheck.main(["healthcheck.py"]) == 2
    assert "web|worker|housekeeping" in capsys.readouterr().out
    healthcheck.WEB_PORT = 1  # nothing listens there
    assert healthcheck.main(["healthcheck.py", "web"]) == 1
    assert capsys.readouterr().out.startswith("unhealthy:")
