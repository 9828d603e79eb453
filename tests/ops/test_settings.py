"""Settings are validated at start, with one clear message per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from navixy_panel.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.data_dir == Path(".navixy-panel")
    assert settings.session_ttl_seconds == 86400
    assert settings.log_format == "text"
    assert settings.cors_origins == ()


def test_values_are_parsed() -> None:
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://u:p@db:5432/panel",
        "NAVIXY_PANEL_DATA_DIR": "/var/lib/np",
        "NAVIXY_PANEL_SESSION_TTL": "60",
        "NAVIXY_PANEL_MAX_BODY_BYTES": "4096",
        "NAVIXY_PANEL_LOG_FORMAT": "JSON",
        "NAVIXY_PANEL_CORS_ORIGINS": "https://panel.example, https://b.example",
    })
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/panel"
    assert settings.data_dir == Path("/var/lib/np")
    assert (settings.session_ttl_seconds, settings.max_body_bytes) == (60, 4096)
    assert settings.log_format == "json"
    assert settings.cors_origins == ("https://panel.example", "https://b.example")


def test_every_bad_value_is_reported() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({
            "DATABASE_URL": "mysql://x",
            "NAVIXY_PANEL_SESSION_TTL": "soon",
            "NAVIXY_PANEL_MAX_BODY_BYTES": "0",
            "NAVIXY_PANEL_LOG_FORMAT": "xml",
        })
    assert caught.value.problems == [
        "DATABASE_URL: must start with postgresql:// (or postgresql+asyncpg://)",
        "NAVIXY_PANEL_SESSION_TTL: must be an integer, got 'soon'",
        "NAVIXY_PANEL_MAX_BODY_BYTES: must be between 1024 and 1073741824, got 0",
        "NAVIXY_PANEL_LOG_FORMAT: must be one of text, json, got 'xml'",
    ]
