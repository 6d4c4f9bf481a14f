"""apitape.yaml: valid files load; broken ones fail naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from apitape.cli import main
from apitape.config import Config, load_config, parse_config
from apitape.errors import ConfigError
from apitape.http.endpoints import endpoint_name


def test_full_config_loads() -> None:
    config = parse_config(
        """
masks: {uuid: false}
templates: ["/books/{isbn}", "GET /users/{name}/repos"]
rules:
  ignore_headers: [Cache-Control]
  ignore: ["$.a"]
  tolerance: 0.5
  text_masks: ['\\d+ ms']
endpoints:
  "GET /books/{isbn}": {mask: ["$.b"]}
noise: my-noise.yaml
""",
        "apitape.yaml",
    )
    assert config.masks == {"uuid": False}
    assert config.rules.ignore_headers == ("cache-control",)
    assert config.rules.tolerance[0][1] == 0.5
    assert config.noise_file == "my-noise.yaml"
    assert endpoint_name("GET", "http://h/books/978-0-13", config.templates) == "GET /books/{isbn}"
    assert (
        endpoint_name("GET", "http://h/users/ada/repos", config.templates)
        == "GET /users/{name}/repos"
    )
    assert (
        endpoint_name("POST", "http://h/users/ada/repos", config.templates)
        == "POST /users/ada/repos"
    )
    assert [p.text for p in config.rules_for("GET /books/{isbn}").mask] == ["$.b"]
    assert config.rules_for("GET /other").mask == ()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "rules:\n  ignor: ['$.a']\n",
            2,
            "unknown key 'ignor' in rules; known keys: ignore_headers",
        ),
        ("masks:\n  uuid: maybe\n", 2, "masks.uuid must be true or false"),
        ("masks:\n  colour: true\n", 2, "unknown key 'colour' in masks"),
        ("rules:\n  ignore:\n    - '$.ok'\n    - 'price'\n", 4, "path 'price' must start with $"),
        ("rules:\n  ignore: '$.a'\n", 2, "rules.ignore must be a list"),
        ("rules:\n  tolerance: lots\n", 2, "rules.tolerance must be a number"),
        ("rules:\n  text_masks: ['(unclosed']\n", 2, "is not a valid regular expression"),
        ("endpoints:\n  /books: {}\n", 2, "endpoint '/books' must be 'METHOD /path'"),
        ("templates: ['books/{id}']\n", 1, "must start with /"),
        ("rules: [1, 2\n", 2, "is not valid YAML"),
        ("- a list\n", 1, "the top level must be a mapping"),
        ("redact:\n  header: [x]\n", 2, "unknown key 'header' in redact"),
        ("redact:\n  values: ['(open']\n", 2, "is not a valid regular expression"),
    ],
)
def test_broken_config_names_file_line_and_key(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "apitape.yaml")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"apitape.yaml, line {line}: ")
    assert message in str(caught.value)


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(None) == Config()
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml", required=True)


def test_cli_exits_2_on_a_broken_config(tmp_path: Path, closed_port: int) -> None:
    cassette = tmp_path / "c.yaml"
    cassette.write_text(
        "interactions:\n- {request: {method: GET, uri: 'http://h/'}, response: {status: {code: 200}}}\n"
    )
    config = tmp_path / "apitape.yaml"
    config.write_text("rules:\n  ignore: [price]\n")
    target = f"http://127.0.0.1:{closed_port}"
    result = CliRunner().invoke(
        main, ["replay", str(cassette), "--target", target, "--config", str(config)]
    )
    assert result.exit_code == 2
    # Said as it is taken up, before it is read: a run that fails on it has said so too.
    announced, error = result.stderr.splitlines()
    assert announced == f"apitape: applying rules from {config}"
    assert error.startswith(
        f"apitape: error: {config}, line 2: rules.ignore: path 'price' must start with $"
    )


def test_redact_section_extends_the_default_secrets() -> None:
    config = parse_config(
        "redact:\n  headers: [X-Tenant-Key]\n  fields: ['pin']\n  values: ['ACME-\\d+']\n"
    )
    policy = config.redaction
    assert "authorization" in policy.headers and "x-tenant-key" in policy.headers
    assert policy.fields[-1] == "pin" and policy.values[-1] == "ACME-\\d+"
