"""Settings come from the environment: refusal of the development key in production, deploy checks."""

from __future__ import annotations

import pytest

from tests.fresh_process import ROOT, run_manage


def test_production_refuses_the_development_secret_key(tmp_path) -> None:
    result = run_manage("check", DEBUG="false", VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY is the development key" in result.stderr


@pytest.mark.parametrize(
    "behind_a_proxy",
    [
        {},
        {
            "BEHIND_PROXY": "true",
            "DATABASE_URL": "postgres://exchange:pw@db.internal:5432/exchange",
            "CELERY_BROKER_URL": "amqp://user:pass@rabbit.internal:5672//",
            "REDIS_URL": "redis://redis.internal:6379/1",
        },
    ],
    ids=["direct", "behind-a-proxy"],
)
def test_deploy_check_is_clean_with_production_values(tmp_path, behind_a_proxy) -> None:
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x" * 20 + "-production-like-secret-value-0123456789abcdef",
        ALLOWED_HOSTS="exchange.example",
        VAR_DIR=str(tmp_path),
        **behind_a_proxy,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_behind_a_proxy_https_is_read_from_x_forwarded_proto(monkeypatch, tmp_path) -> None:
    loaded = load_settings(monkeypatch, tmp_path, **PRODUCTION, BEHIND_PROXY="true")
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert loaded["SECURE_SSL_REDIRECT"] is True and loaded["SECURE_HSTS_SECONDS"] == 31536000
    assert loaded["SESSION_COOKIE_SECURE"] is True and loaded["CSRF_COOKIE_SECURE"] is True
    monkeypatch.delenv("BEHIND_PROXY")
    assert load_settings(monkeypatch, tmp_path, **PRODUCTION)["SECURE_PROXY_SSL_HEADER"] is None


# --- every value read from the environment is checked where it is read -----------------------------------

SETTINGS_FILE = ROOT / "consortium" / "settings.py"
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "s" * 60, "ALLOWED_HOSTS": "exchange.example"}
# Variables the process running the tests may have set, which would change what the settings read.
READ_HERE = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "EMAIL_URL",
    "LOG_LEVEL",
)


def load_settings(monkeypatch, tmp_path, **env: str) -> dict:
    """consortium/settings.py run afresh under `env` (VAR_DIR in tmp_path), as a process starting would."""
    import runpy

    for name in READ_HERE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


@pytest.mark.parametrize(
    ("env", "named", "says"),
    [
        ({"DEBUG": "maybe"}, "DEBUG", "true or false"),
        ({**PRODUCTION, "BEHIND_PROXY": "yes please"}, "BEHIND_PROXY", "true or false"),
        ({"SECURE_SSL_REDIRECT": "2"}, "SECURE_SSL_REDIRECT", "true or false"),
        ({"LEDGER_GENERATE_DEV_KEY": ""}, "LEDGER_GENERATE_DEV_KEY", "true or false"),
        ({"DATABASE_URL": "postgres://db/x", "CONN_MAX_AGE": "sixty"}, "CONN_MAX_AGE", "whole number"),
        ({"SECURE_HSTS_SECONDS": "1y"}, "SECURE_HSTS_SECONDS", "whole number"),
        ({"EXCHANGE_MAX_UPLOAD_BYTES": "5GB"}, "EXCHANGE_MAX_UPLOAD_BYTES", "whole number"),
        ({"LOGIN_FAILURE_LIMIT": "5.5"}, "LOGIN_FAILURE_LIMIT", "whole number"),
        ({"NUM_PROXIES": "-1"}, "NUM_PROXIES", "0 or more"),
        ({"LEDGER_CHECKPOINT_INTERVAL_SECONDS": "0"}, "LEDGER_CHECKPOINT_INTERVAL_SECONDS", "1 or more"),
        ({"LOGIN_COOLOFF_HOURS": "a while"}, "LOGIN_COOLOFF_HOURS", "a number"),
        ({"LOGIN_COOLOFF_HOURS": "nan"}, "LOGIN_COOLOFF_HOURS", "finite"),
        ({"LEDGER_SEQUENCE_AFTER_COMMIT": "sometimes"}, "LEDGER_SEQUENCE_AFTER_COMMIT", "inline, task, off"),
        ({"API_THROTTLE_ANON": "fast"}, "API_THROTTLE_ANON", "60/min"),
        ({"PASSWORD_LINK_THROTTLE": "3/fortnight"}, "PASSWORD_LINK_THROTTLE", "60/min"),
        ({"API_THROTTLE_USER": "100/min/ip"}, "API_THROTTLE_USER", "60/min"),
        ({"API_THROTTLE_APPLY": "\u00b2/hour"}, "API_THROTTLE_APPLY", "60/min"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "WARNING"),
        ({"DATABASE_URL": "garbage"}, "DATABASE_URL", "no scheme"),
        ({"DATABASE_URL": ""}, "DATABASE_URL", "no scheme"),
        ({"DATABASE_URL": "mysql://u:hunter2@db/x"}, "DATABASE_URL", "'mysql'"),
        ({"DATABASE_URL": "postgres://u:hunter2@db:port/x"}, "DATABASE_URL", "port that is not a number"),
        ({"DATABASE_URL": "postgres://u:hunter2@db:5432"}, "DATABASE_URL", "names no database"),
        ({"CELERY_BROKER_URL": "rabbit.internal"}, "CELERY_BROKER_URL", "no scheme"),
        ({"CELERY_BROKER_URL": "amqq://u:hunter2@rabbit//"}, "CELERY_BROKER_URL", "'amqq'"),
        ({"CELERY_BROKER_URL": "redis://:hunter2@redis:six/0"}, "CELERY_BROKER_URL", "port"),
        ({"REDIS_URL": "redis.internal:6379"}, "REDIS_URL", "Redis URL"),
        ({"REDIS_URL": "redis://:hunter2@redis:six/1"}, "REDIS_URL", "Redis URL"),
        ({"EMAIL_URL": "smtp.example.com"}, "EMAIL_URL", "e-mail URL"),
        ({"EMAIL_URL": ""}, "EMAIL_URL", "e-mail URL"),
        ({"SECRET_KEY": ""}, "SECRET_KEY", "empty"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": "exchange.example"}, "SECRET_KEY", "development key"),
        ({**PRODUCTION, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS", "empty"),
        ({**PRODUCTION, "ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS", "empty"),
        ({"VAR_DIR": "/proc/no-such-dir/var"}, "VAR_DIR", "cannot create"),
    ],
)
def test_a_value_the_settings_cannot_use_is_refused_naming_its_variable(
    monkeypatch, tmp_path, env, named, says
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured) as refused:
        load_settings(monkeypatch, tmp_path, **env)
    message = str(refused.value)
    assert named in message and says in message, message
    assert "hunter2" not in message  # a URL's password is never repeated


def test_the_values_documented_are_read_as_documented(monkeypatch, tmp_path) -> None:
    loaded = load_settings(
        monkeypatch,
        tmp_path,
        **{**PRODUCTION, "ALLOWED_HOSTS": "exchange.example, api.exchange.example"},
        DATABASE_URL="postgres://exchange:pw@db.internal:5432/exchange",
        CELERY_BROKER_URL="amqp://user:pass@rabbit.internal:5672//",
        REDIS_URL="redis://redis.internal:6379/1",
        BEHIND_PROXY="True",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="warning",
        LOGIN_COOLOFF_HOURS="0.5",
        API_THROTTLE_USER="100000/min",
    )
    assert loaded["DEBUG"] is False and loaded["BEHIND_PROXY"] is True
    assert loaded["SECURE_SSL_REDIRECT"] is False
    assert loaded["DATABASES"]["default"]["NAME"] == "exchange"
    assert loaded["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert loaded["ALLOWED_HOSTS"] == ["exchange.example", "api.exchange.example"]
    assert loaded["AXES_COOLOFF_TIME"] == 0.5
    assert loaded["LOGGING"]["root"]["level"] == "WARNING"
    embedded = load_settings(monkeypatch, tmp_path)
    assert embedded["DEBUG"] is True and embedded["CELERY_BROKER_URL"] == ""
    assert embedded["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"


def test_manage_py_says_what_is_wrong_in_one_line(tmp_path) -> None:
    result = run_manage("check", VAR_DIR=str(tmp_path), DATABASE_URL="postgres://u:hunter2@db:port/x")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "ImproperlyConfigured: DATABASE_URL has a port that is not a number."
    ]


def test_manage_py_reads_the_settings_module_a_command_names(tmp_path) -> None:
    (tmp_path / "alternative_settings.py").write_text(
        'from consortium.settings import *  # noqa: F403\nALTERNATIVE_MARKER = "read"\n'
    )
    args = ("diffsettings", "--settings=alternative_settings", f"--pythonpath={tmp_path}")
    result = run_manage(*args, VAR_DIR=str(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    assert "ALTERNATIVE_MARKER = 'read'" in result.stdout
    missing = run_manage("check", "--settings=no_such_settings_module", VAR_DIR=str(tmp_path / "var"))
    assert missing.returncode != 0 and "no_such_settings_module" in missing.stderr


def test_without_a_broker_tasks_run_in_process_without_a_word_about_one(tmp_path) -> None:
    # Celery builds a producer even for an eager call; without a broker it defaulted to AMQP on localhost
    # and warned "No hostname was supplied" on the first task of every embedded process.
    script = (
        "from consortium.celery import app\n"
        "@app.task(name='tests.noop')\n"
        "def noop():\n"
        "    return 'ran'\n"
        "print(noop.delay().get())\n"
    )
    result = run_manage("shell", "-c", script, VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "ran"
    assert "kombu" not in result.stderr and "hostname" not in result.stderr, result.stderr
