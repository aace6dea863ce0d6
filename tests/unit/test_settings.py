from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dlq.core.settings import (
    BACKEND_ALIASES,
    QueueSettings,
    SettingsSource,
    build_settings,
    load_config_file,
)
from dlq.exceptions import ConfigurationError

UPSTREAM_DEFAULTS = {
    "WORKERS": {},
    "BACKEND": "dlq.backends.synchronous.SynchronousBackend",
    "LOGGER_FACTORY": "logging.getLogger",
    "BACKEND_OVERRIDES": {},
    "MIDDLEWARE": ("dlq.core.middleware.LoggingMiddleware",),
    "IGNORE_APPS": (),
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": 6379,
    "REDIS_PASSWORD": None,
    "REDIS_DATABASE": 0,
    "REDIS_PREFIX": "",
    "REDIS_URL": None,
    "ENABLE_PROMETHEUS": False,
    "PROMETHEUS_START_PORT": 9300,
    "ATOMIC_JOBS": True,
}


def test_defaults_are_upstreams() -> None:
    settings = build_settings({})
    for name, value in UPSTREAM_DEFAULTS.items():
        assert getattr(settings, name) == value, name


def test_config_file_wins_and_the_rest_is_inherited(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("LIGHTWEIGHT_QUEUE_REDIS_PORT = 12345\nOTHER = 1\n")
    settings = build_settings(
        {"LIGHTWEIGHT_QUEUE_REDIS_PORT": 1, "LIGHTWEIGHT_QUEUE_REDIS_HOST": "redis.internal"},
        load_config_file(special),
    )
    assert settings.REDIS_PORT == 12345
    assert settings.REDIS_HOST == "redis.internal"


def test_misspelt_name_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_settings({"LIGHTWEIGHT_QUEUE_WORKER": {"a": 1}})
    (problem,) = caught.value.problems
    assert problem.name == "LIGHTWEIGHT_QUEUE_WORKER"
    assert problem.source == "Django settings"
    assert problem.hint == "did you mean LIGHTWEIGHT_QUEUE_WORKERS?"


def test_misspelt_prefix_is_caught_too() -> None:
    with pytest.raises(ConfigurationError, match="did you mean LIGHTWEIGHT_QUEUE_BACKEND"):
        build_settings({"LIGTHWEIGHT_QUEUE_BACKEND": "x.y"})


def test_unrelated_settings_are_ignored() -> None:
    build_settings({"DEBUG": True, "WORKERS": 3, "REDIS_URL": "anything"})


def test_wrong_value_names_setting_value_source_and_expectation(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("LIGHTWEIGHT_QUEUE_REDIS_PORT = 'abc'\n")
    with pytest.raises(ConfigurationError) as caught:
        build_settings({}, load_config_file(special))
    (problem,) = caught.value.problems
    assert problem.name == "LIGHTWEIGHT_QUEUE_REDIS_PORT"
    assert "'abc'" in problem.message
    assert problem.source == str(special)
    assert problem.expected == "a TCP port, an integer from 1 to 65535"


def test_nested_value_errors_name_the_key() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_settings({"LIGHTWEIGHT_QUEUE_WORKERS": {"emails": -1, "ok": 2}})
    (problem,) = caught.value.problems
    assert problem.name == "LIGHTWEIGHT_QUEUE_WORKERS['emails']"
    assert problem.message.startswith("-1 is not valid")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENABLE_PROMETHEUS", "yes"),
        ("ATOMIC_JOBS", 1),
        ("MIDDLEWARE", "dlq.core.middleware.LoggingMiddleware"),
        ("BACKEND", "not a path"),
        ("WORKERS", {"bad queue": 1}),
        ("REDIS_DATABASE", -1),
        ("PROMETHEUS_START_PORT", 70000),
        ("REDIS_URL", "http://example"),
    ],
)
def test_wrong_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=f"LIGHTWEIGHT_QUEUE_{name}"):
        build_settings({f"LIGHTWEIGHT_QUEUE_{name}": value})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_settings({"LIGHTWEIGHT_QUEUE_REDIS_PORT": "x", "LIGHTWEIGHT_QUEUE_WORKER": {}})
    assert len(caught.value.problems) == 2


def test_secrets_never_appear_in_errors() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_settings({"LIGHTWEIGHT_QUEUE_REDIS_URL": "http://user:hunter2@host"})
    assert "hunter2" not in str(caught.value)
    settings = build_settings({"LIGHTWEIGHT_QUEUE_REDIS_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(("upstream", "ours"), sorted(BACKEND_ALIASES.items()))
def test_upstream_backend_paths_are_aliases(upstream: str, ours: str) -> None:
    settings = build_settings(
        {
            "LIGHTWEIGHT_QUEUE_BACKEND": upstream,
            "LIGHTWEIGHT_QUEUE_BACKEND_OVERRIDES": {"q": upstream},
        }
    )
    assert ours == settings.BACKEND
    assert settings.backend_path_for("q") == ours


def test_upstream_logging_middleware_is_an_alias() -> None:
    settings = build_settings(
        {
            "LIGHTWEIGHT_QUEUE_MIDDLEWARE": [
                "django_lightweight_queue.middleware.logging.LoggingMiddleware"
            ]
        }
    )
    assert settings.MIDDLEWARE == ("dlq.core.middleware.LoggingMiddleware",)


def test_settings_cannot_be_changed() -> None:
    settings = build_settings({"LIGHTWEIGHT_QUEUE_WORKERS": {"a": 1}})
    with pytest.raises(ValidationError):
        settings.REDIS_PORT = 1  # type: ignore[misc]  # proving that it is refused
    with pytest.raises(TypeError):
        settings.WORKERS["a"] = 2  # type: ignore[index]  # proving that it is refused


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_config_file(tmp_path / "missing.py")
    broken = tmp_path / "broken.py"
    broken.write_text("LIGHTWEIGHT_QUEUE_WORKERS = {\n")
    with pytest.raises(ConfigurationError, match=r"broken\.py"):
        load_config_file(broken)


def test_source_labels_are_used_for_unknown_names() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_settings({}, SettingsSource("special.py", {"LIGHTWEIGHT_QUEUE_REDIS_PROT": 1}))
    assert caught.value.problems[0].source == "special.py"


def test_model_lists_every_field_with_a_description() -> None:
    for name, field in QueueSettings.model_fields.items():
        assert field.description, name
