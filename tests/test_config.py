"""Config errors name the file, the line and the key path; secrets come from the environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.config import load_config, parse_duration
from monitor.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)
    return str(caught.value)


def test_a_bad_url_is_reported_with_its_line_and_key_path(tmp_path):
    path = write(
        tmp_path,
        """
        sources:
          - name: One
            url: https://example.org/feed
          - name: Two
            url: ftp://example.org/feed
        """,
    )
    assert error_of(path) == f"{path}:5: sources[1].url: not an http(s) URL"


def test_an_unknown_key_is_reported_where_it_stands(tmp_path):
    path = write(
        tmp_path,
        """
        fetch:
          download_delay: 2
          timout: 30
        """,
    )
    assert (
        error_of(path)
        == f"{path}:3: fetch.timout: unknown key (check its spelling and indentation)"
    )


def test_several_errors_are_all_reported(tmp_path):
    path = write(
        tmp_path,
        """
        sources:
          - name: Listing without selector
            url: https://example.org/press
            kind: listing
          - url: https://example.org/feed
        schedule:
          default_interval: soon
        """,
    )
    message = error_of(path)
    assert f"{path}:2: sources[0]: a listing source needs link_selector" in message
    assert f"{path}:5: sources[1].name: required key is missing" in message
    assert f"{path}:7: schedule.default_interval: 'soon' is not a duration" in message


def test_invalid_yaml_points_at_the_line(tmp_path):
    path = write(tmp_path, "sources:\n  - name: [unclosed\n")
    assert error_of(path).startswith(f"{path}:3: invalid YAML")


def test_duplicate_keys_and_duplicate_source_names_are_errors(tmp_path):
    path = write(tmp_path, "fetch:\n  timeout: 3\n  timeout: 4\n")
    assert "fetch.timeout: duplicate key" in error_of(path)
    path = write(
        tmp_path,
        """
        sources:
          - {name: A, url: "https://a.example/feed"}
          - {name: A, url: "https://b.example/feed"}
        """,
    )
    assert "two sources are named 'A'" in error_of(path)


def test_environment_variables_are_interpolated(tmp_path):
    path = write(
        tmp_path,
        """
        fetch:
          contact: ${CONTACT}
          user_agent: ${UA:-newsmon-test}
        """,
    )
    config = load_config(path, environ={"CONTACT": "mailto:ops@example.org"})
    assert config.fetch.contact == "mailto:ops@example.org"
    assert config.fetch.user_agent == "newsmon-test"
    assert error_of(path, environ={}) == (
        f"{path}:2: fetch.contact: environment variable CONTACT is not set "
        "(write ${CONTACT:-default} for a default)"
    )


def test_relative_sqlite_paths_are_relative_to_the_config_file(tmp_path):
    path = write(tmp_path, "storage:\n  url: sqlite:///data/n.db\n")
    assert load_config(path).resolve_storage_url() == f"sqlite:///{tmp_path}/data/n.db"


def test_a_missing_file_is_a_config_error(tmp_path):
    assert "config file not found" in error_of(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"), [(90, 90), ("90s", 90), ("15m", 900), ("1.5h", 5400), ("2d", 172800)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_the_shipped_config_is_valid():
    config = load_config(Path(__file__).resolve().parent.parent / "config.yaml")
    assert {"ev_supply_chain", "asean_japan", "eu_japan"} <= set(config.topics)
    names = " ".join(s.name for s in config.sources)
    assert "Yomiuri" in names or "Japan News" in names
    assert (
        "Indonesia" in names
        or "Kemlu" in names
        or "kemlu" in " ".join(s.url for s in config.sources)
    )
