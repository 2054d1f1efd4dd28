"""Settings read from the environment: the embedded defaults with no environment at all, the
refusal to run production without a secret key, a clean deployment check, and the contract
of the test environment itself (services from the environment, CI=true strictness)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password

BASE_DIR = Path(settings.BASE_DIR)
SUBPROCESS_TIMEOUT = 120

# The process under test must not pick up a developer's .env file: "no environment" means
# none. Everything after this prelude is the project's own code path.
NO_DOTENV = "import environ; environ.Env.read_env = lambda *args, **kwargs: None\n"

DUMP_SETTINGS = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mfdp.settings")
import django
django.setup()
from django.conf import settings
from django.core.files.storage import default_storage
from mfdp.celery import app
storage_location = str(default_storage.location)  # also makes the lazy storage real
print(json.dumps({
    "VAR_DIR": str(settings.VAR_DIR),
    "DEBUG": settings.DEBUG,
    "SECRET_KEY_EMBEDDED": settings.SECRET_KEY == settings.EMBEDDED_SECRET_KEY,
    "DATABASE": {k: str(settings.DATABASES["default"][k]) for k in ("ENGINE", "NAME")},
    "STORAGE": type(default_storage._wrapped).__name__,
    "STORAGE_BACKEND": settings.STORAGES["default"]["BACKEND"],
    "STORAGE_LOCATION": storage_location,
    "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    "BROKER_URL": app.conf.broker_url,
    "BROKER_OPTIONS": app.conf.broker_transport_options,
    "RESULT_BACKEND": app.conf.result_backend,
    "TASK_DEFAULT_QUEUE": app.conf.task_default_queue,
    "Q_CLUSTER": {k: str(v) for k, v in settings.Q_CLUSTER.items()},
    "EMAIL_BACKEND": settings.EMAIL_BACKEND,
}))
"""


def bare_env(**extra: str) -> dict[str, str]:
    """An environment with nothing of the project's in it."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_DOTENV + code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def dump_settings(env: dict[str, str]) -> dict:
    proc = run_python(DUMP_SETTINGS, env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_settings_with_no_environment_use_embedded_defaults(tmp_path):
    var = tmp_path / "var"

    dumped = dump_settings(bare_env(MFDP_VAR_DIR=str(var)))

    assert dumped["VAR_DIR"] == str(var)
    assert dumped["DEBUG"] is True
    assert dumped["SECRET_KEY_EMBEDDED"] is True
    assert dumped["DATABASE"] == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(var / "db.sqlite3"),
    }
    assert dumped["STORAGE_BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert dumped["STORAGE"] == "FileSystemStorage"
    assert dumped["MEDIA_ROOT"] == str(var / "media")
    assert dumped["STORAGE_LOCATION"] == str(var / "media")
    assert dumped["BROKER_URL"].startswith("filesystem://")
    options = dumped["BROKER_OPTIONS"]
    assert options["data_folder_in"] == options["data_folder_out"]
    for key in ("data_folder_in", "processed_folder"):
        assert Path(options[key]).is_relative_to(var), options[key]
    assert dumped["RESULT_BACKEND"] == f"file://{var / 'celery' / 'results'}"
    assert dumped["TASK_DEFAULT_QUEUE"] == "celery"
    assert dumped["Q_CLUSTER"]["orm"] == "default"
    assert dumped["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_var_dir_defaults_to_the_checkout(tmp_path):
    dumped = dump_settings(bare_env())

    assert dumped["VAR_DIR"] == str(BASE_DIR / "var")
    assert dumped["DATABASE"]["NAME"] == str(BASE_DIR / "var" / "db.sqlite3")
    assert dumped["MEDIA_ROOT"] == str(BASE_DIR / "var" / "media")


@pytest.mark.parametrize(
    "secret", [None, "", "too-short-for-production"], ids=["unset", "empty", "short"]
)
def test_production_refuses_to_start_without_a_real_secret_key(tmp_path, secret):
    env = bare_env(MFDP_VAR_DIR=str(tmp_path), DEBUG="false")
    if secret is not None:
        env["SECRET_KEY"] = secret

    proc = run_python("import mfdp.settings", env)

    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr
    assert "SECRET_KEY" in proc.stderr


def test_production_settings_pass_the_deployment_check(tmp_path):
    env = bare_env(
        MFDP_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="mfdp.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="mfdp.example.com",
        CSRF_TRUSTED_ORIGINS="https://mfdp.example.com",
        DATABASE_URL="postgres://mfdp:secret@db.example.com:5432/mfdp",
        CELERY_BROKER_URL="redis://redis.example.com:6379/0",
        CELERY_RESULT_BACKEND="redis://redis.example.com:6379/1",
        S3_BUCKET="mfdp",
        S3_ENDPOINT_URL="https://minio.example.com",
        S3_ACCESS_KEY_ID="mfdp",
        S3_SECRET_ACCESS_KEY="secret-key-of-minio",
        EMAIL_URL="smtp+tls://mfdp:secret@smtp.example.com:587",
    )
    code = (
        "import runpy, sys\n"
        "sys.argv = ['manage.py', 'check', '--deploy', '--fail-level', 'WARNING']\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
    )

    proc = run_python(code, env)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


def test_tests_use_a_fast_password_hasher():
    assert make_password("any password").startswith("md5$")


@pytest.mark.postgres
@pytest.mark.django_db
def test_tests_run_on_postgresql_from_database_url():
    from django.db import connection

    url = urlsplit(os.environ["DATABASE_URL"])

    assert connection.vendor == "postgresql"
    assert connection.settings_dict["HOST"] == url.hostname
    assert int(connection.settings_dict["PORT"] or 5432) == (url.port or 5432)
    assert connection.settings_dict["NAME"] == f"test_{url.path.lstrip('/')}"


# The test environment's own contract, seen from outside: a pytest of its own.


def run_pytest(test_id: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", test_id],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def test_ci_run_fails_early_when_services_are_missing(tmp_path, closed_port):
    env = bare_env(
        MFDP_VAR_DIR=str(tmp_path),
        CI="true",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port}/mfdp",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port}/0",
    )

    proc = run_pytest("tests/mfdp/test_settings.py::test_tests_use_a_fast_password_hasher", env)

    output = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "CI=true needs PostgreSQL" in output
    assert f"PostgreSQL at 127.0.0.1:{closed_port}" in output
    assert f"Redis of CELERY_BROKER_URL at redis://127.0.0.1:{closed_port}/0" in output
    assert " passed" not in output


def test_without_ci_a_postgres_test_is_skipped_with_the_reason(tmp_path):
    env = bare_env(MFDP_VAR_DIR=str(tmp_path))

    proc = run_pytest(
        "tests/mfdp/test_settings.py::test_tests_run_on_postgresql_from_database_url", env
    )

    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "1 skipped" in output
    assert "needs PostgreSQL: DATABASE_URL does not point at PostgreSQL" in output
