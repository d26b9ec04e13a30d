"""LOG_FORMAT, METRICS_ENABLED, OTEL_EXPORTER_OTLP_ENDPOINT and the agent's/tools' HTTP port."""

from __future__ import annotations

import pytest

from shared.settings import Env, ObservabilitySettings, SettingsError


def test_defaults_are_text_logs_metrics_on_tracing_off() -> None:
    settings = ObservabilitySettings.from_env(
        Env({}), port_variable="AGENT_HTTP_PORT", default_port=8091
    )
    assert settings.log_format == "text" and settings.metrics and settings.otlp_endpoint is None
    assert (settings.http_port, settings.http_port_explicit) == (8091, False)


def test_an_explicit_port_is_marked_so_that_a_taken_one_stops_the_service() -> None:
    env = Env({"TOOLS_HTTP_PORT": "0", "TOOLS_HTTP_HOST": "0.0.0.0", "LOG_FORMAT": "JSON"})
    settings = ObservabilitySettings.from_env(
        env, port_variable="TOOLS_HTTP_PORT", default_port=8092
    )
    assert (settings.http_port, settings.http_port_explicit) == (0, True)
    assert settings.http_host == "0.0.0.0" and settings.log_format == "json"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("LOG_FORMAT", "xml"), ("METRICS_ENABLED", "maybe"), ("AGENT_HTTP_PORT", "70000")],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        ObservabilitySettings.from_env(Env({variable: value}), port_variable="AGENT_HTTP_PORT")
