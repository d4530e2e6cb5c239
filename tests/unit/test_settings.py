"""Settings are checked where they are read: a typo stops the command with one line that
names the setting, the value and what is allowed, never a traceback or a silent default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lrs.cli import main
from lrs.config import NAMES, Settings, SettingsError, load_settings


def test_layers_apply_in_order_defaults_file_environment_flags(tmp_path: Path) -> None:
    toml = tmp_path / "lrs.toml"
    toml.write_text('[lrs]\nport = 9000\nhost = "0.0.0.0"\nprocessors = false\n')
    settings = load_settings(str(toml), environ={"LRS_PORT": "9100"}, data="x")
    assert (settings.host, settings.port, settings.processors, settings.data) == (
        "0.0.0.0", 9100, False, "x"
    )
    assert load_settings(str(toml), environ={"LRS_PORT": "9100"}, port=9200).port == 9200
    assert load_settings(environ={}).port == Settings().port == 8000


@pytest.mark.parametrize(
    ("word", "meaning"),
    [("true", True), ("1", True), ("YES", True), (" on ", True),
     ("false", False), ("0", False), ("no", False), ("Off", False)],
)
def test_switches_take_only_yes_no_words(word: str, meaning: bool) -> None:
    assert load_settings(environ={"LRS_PROCESSORS": word}).processors is meaning


@pytest.mark.parametrize("word", ["flase", "", "2", "y", "disabled"])
def test_a_switch_typo_is_refused_not_read_as_false(word: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"LRS_PROCESSORS": word})
    assert str(caught.value) == (
        f"LRS_PROCESSORS={word!r}: must be one of true/false/1/0/yes/no/on/off"
    )


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("LRS_PORT", "abc", "an integer from 0 to 65535"),
        ("LRS_PORT", "65536", "an integer from 0 to 65535"),
        ("LRS_MAX_JSON_DEPTH", "251", "an integer from 0 to 250"),
        ("LRS_MAX_BODY_BYTES", "-1", "an integer of at least 0"),
        ("LRS_PROCESSOR_BATCH", "0", "an integer of at least 1"),
        ("LRS_RATE_LIMIT", "nan", "a number of at least 0"),
        ("LRS_REQUEST_TIMEOUT", "inf", "a number of at least 0"),
        ("LRS_KAFKA_SESSION_TIMEOUT", "0", "a number above 0"),
        ("LRS_LOG_LEVEL", "loud", "one of critical, error, warning, info, debug"),
        ("LRS_DEFAULT_XAPI_VERSION", "1.0.0", "one of 2.0.0, 1.0.3"),
        ("LRS_KAFKA_PROCESSING_GUARANTEE", "exactly-once", "one of at_least_once, exactly_once"),
        ("LRS_KAFKA_LAG_LOG_INTERVAL", "0", "a number above 0"),
        ("LRS_BUS", "kafak://k:9092", "local or kafka://host:port[,host:port]"),
    ],
)
def test_a_bad_value_names_setting_value_and_what_is_allowed(
    variable: str, value: str, allowed: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={variable: value})
    assert str(caught.value) == f"{variable}={value!r}: must be {allowed}"


def test_every_bad_value_is_named_at_once_in_field_order_with_where_it_came_from(tmp_path: Path) -> None:
    toml = tmp_path / "lrs.toml"
    toml.write_text('[lrs]\nport = "x"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(str(toml), environ={"LRS_PAGE_SIZE": "0"}, flags={"rate_burst": "--rate-burst"}, rate_burst=0)
    assert str(caught.value).splitlines() == [
        f"{toml} [lrs] port='x': must be an integer from 0 to 65535",
        "--rate-burst=0: must be an integer of at least 1",
        "LRS_PAGE_SIZE='0': must be an integer of at least 1",
    ]


def test_values_in_range_are_converted() -> None:
    settings = load_settings(
        environ={"LRS_PORT": "0", "LRS_MAX_NUMBER": "1e9", "LRS_LOG_LEVEL": "DEBUG",
                 "LRS_BUS": "kafka://a:9092,b:9092", "LRS_STORE": "mongodb://m/lrs"}
    )
    assert (settings.port, settings.max_number, settings.log_level) == (0, 1e9, "debug")
    assert settings.bus == "kafka://a:9092,b:9092" and settings.store_url == "mongodb://m/lrs"


def test_unknown_lrs_variables_are_warned_about_with_the_likely_name() -> None:
    warnings: list[str] = []
    environ = {"LRS_PROT": "9000", "LRS_CONFIG": "", "LRS_AUDIT_SECRET": "s",
               "LRS_IDENTITY_SECRET": "s", "TEST_KAFKA_BOOTSTRAP": "k:9092"}
    load_settings(environ=environ, warn=warnings.append)
    assert warnings == ["LRS_PROT is not a setting and is ignored (did you mean LRS_PORT?)"]


def test_unknown_file_entries_are_refused(tmp_path: Path) -> None:
    toml = tmp_path / "lrs.toml"
    toml.write_text("[lrs]\nprot = 9000\n")
    with pytest.raises(SettingsError, match=r"unknown setting\(s\) prot; known: host, port"):
        load_settings(str(toml), environ={})


def test_every_setting_says_what_it_allows() -> None:
    from lrs.config import allowed

    assert all(allowed(name) for name in NAMES)


def test_the_cli_prints_one_error_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("LRS_PORT", "abc")
    assert main(["rebuild", "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "error: LRS_PORT='abc': must be an integer from 0 to 65535\n"
    )
    monkeypatch.delenv("LRS_PORT")
    assert main(["serve", "--data", str(tmp_path), "--max-json-depth", "999"]) == 2
    assert capsys.readouterr().err == (
        "error: --max-json-depth=999: must be an integer from 0 to 250\n"
    )
    assert main(["rebuild", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "error: cannot read the settings file" in capsys.readouterr().err


def test_no_traceback_from_the_installed_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lrs.cli", "rebuild", "--data", str(tmp_path)],
        env={"LRS_PROCESSORS": "flase", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: LRS_PROCESSORS='flase': must be one of true/false/1/0/yes/no/on/off\n"
    )
