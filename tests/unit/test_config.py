from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kiosk_server.cli import main
from kiosk_server.config import ConfigError, parse_config
from tests.support.hall import EXAMPLE, SESSION_ENV


def example() -> dict:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_the_example_configuration_is_valid_and_complete():
    s = parse_config(example(), env=SESSION_ENV)
    assert [z.code for z in s.layout.zones] == list("ABCDEF")
    assert sum(len(z.matters) for z in s.layout.zones) == 16
    assert len(s.layout.windows) == 11
    assert s.layout.windows[0].zones == ["A", "B"]
    assert set(s.device_tokens) == {"K1", "S1", "S2"}


def test_every_problem_is_reported_with_its_key_path():
    d = example()
    d["server"]["port"] = 70000
    d["hall"]["timezone"] = "Mars/Olympus"
    d["zones"][0]["prefix"] = "a1"
    d["zones"][1]["matters"][0]["promised_days"] = -1
    d["zones"][2]["prefix"] = "B"
    d["windows"][0]["zones"] = ["A", "Z"]
    d["hall"]["opening_hours"] = [["18:00", "09:00"]]
    d["bogus"] = {}
    with pytest.raises(ConfigError) as e:
        parse_config(d, env={})
    keys = {k for k, _ in e.value.problems}
    assert {"server.port", "hall.timezone", "zones.0.prefix", "zones.1.matters.0.promised_days",
            "windows.0.zones", "hall.opening_hours", "bogus", "security.secret_key_env",
            "security.data_key_env", "devices.0.token_env"} <= keys
    assert any(k == "zones" and "prefix 'B'" in m for k, m in e.value.problems)


def test_known_default_secrets_are_refused():
    env = dict(SESSION_ENV, HALL_SECRET_KEY="please-change-this-secret-key-0123456789")
    with pytest.raises(ConfigError) as e:
        parse_config(example(), env=env)
    assert ("security.secret_key_env", "a default secret is in force; set your own") in e.value.problems


def test_check_config_command_prints_problems_and_fails(tmp_path: Path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace('zones = ["A", "B"]', 'zones = ["A", "Q"]', 1),
                   encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["check-config", "--config", str(bad), "--no-secrets"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "windows.0.zones: unknown zone 'Q'" in err
    assert main(["check-config", "--config", str(EXAMPLE), "--no-secrets"]) == 0
    assert "6 zones, 16 matters, 11 windows" in capsys.readouterr().out
