"""The CI recipes run: examples/ci/github-actions.yml (with the composite action.yml) and
examples/ci/gitlab-ci.yml, their shell steps in order, against the bookstore v2.

Each runs in a fresh workspace holding the files a checkout gives the job. Simulated, since
they need the CI service or the network, and checked instead:
- `actions/checkout`, `actions/setup-python`: the workspace is prepared by the test and the
  project's virtualenv (python, apitape) comes first on PATH;
- the action's `Install apitape` step and GitLab's `pip install .`: they download from PyPI;
  the virtualenv's apitape is that same checkout;
- `actions/upload-artifact` and GitLab's `artifacts:`: each path it would upload exists;
- `mikepenz/action-junit-report` and GitLab's `reports: junit`: the file parses as JUnit;
- `marocchino/sticky-pull-request-comment` and GitLab's comment (a `curl` to the API, run
  against a stand-in `curl` that records its arguments): the body is the Markdown summary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from apitape.demo import DEMO_PASSWORD
from apitape.processes import free_port
from apitape.report.load import load_json_report
from apitape.report.markdown import markdown_report
from tests.bookstore_cassette import PASSWORD_PLACEHOLDER
from tests.integration.conftest import REPO

VENV_BIN = Path(sys.executable).parent
DOC = (REPO / "docs" / "ci.md").read_text()
CHECKED_OUT = ("action.yml", "cassettes/bookstore.yaml", "examples/bookstore")


def workspace(tmp_path: Path) -> Path:
    """What a checkout gives the job: the files the recipes read."""
    root = tmp_path / "workspace"
    for name in CHECKED_OUT:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, root / name)
    return root


def base_env(tmp_path: Path) -> dict[str, str]:
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"  # setup-python, simulated
    env["CI"] = "true"
    return env


def bash(
    script: str, cwd: Path, env: dict[str, str], *, log: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `script` as the runners do; `log`: stderr into stdout, one log as CI shows it."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd, env=env, stdout=subprocess.PIPE, text=True, timeout=180,
        stderr=subprocess.STDOUT if log else subprocess.PIPE,
    )  # fmt: skip


def stop_candidate(pid_file: Path) -> None:
    if pid_file.is_file():  # the candidate build this test started, by its id
        subprocess.run(["kill", pid_file.read_text().strip()], check=False)


class GitHub:
    """Runs a workflow's job the way the runner does, for the expressions these recipes use."""

    def __init__(
        self, root: Path, env: dict[str, str], event: str, secrets: dict[str, str]
    ) -> None:
        self.root, self.env, self.event, self.secrets = root, env, event, secrets
        self.temp = root.parent / "runner-temp"
        self.temp.mkdir()
        self.failed = False
        self.summary = self.temp / "step-summary.md"
        self.checked: list[str] = []

    def value(self, name: str, scope: dict[str, Any]) -> Any:
        head, *rest = name.split(".")
        if head == "runner" and rest == ["temp"]:
            return str(self.temp)
        if head == "github" and rest == ["event_name"]:
            return self.event
        found: Any = scope[head]
        for part in rest:
            found = found.get(part, "") if isinstance(found, dict) else ""
        return found

    def expand(self, text: str, scope: dict[str, Any]) -> str:
        return re.sub(
            r"\$\{\{\s*(.+?)\s*\}\}", lambda m: str(self.value(m.group(1), scope)), str(text)
        )

    def condition(self, expression: str | None, scope: dict[str, Any]) -> bool:
        if expression is None:
            return not self.failed
        code = expression.replace("&&", " and ").replace("||", " or ")
        code = code.replace("always()", "True").replace("success()", str(not self.failed))
        code = code.replace("failure()", str(self.failed))
        code = re.sub(
            r"\b[a-z_]+(?:\.[A-Za-z0-9_-]+)+", lambda m: repr(self.value(m.group(0), scope)), code
        )
        return bool(eval(code, {"__builtins__": {}}))  # the recipes' own text

    def run(self, script: str, env: dict[str, str], scope: dict[str, Any]) -> dict[str, str]:
        outputs = self.temp / "output"
        outputs.write_text("")
        step_env = {
            **self.env, **{k: self.expand(v, scope) for k, v in env.items()},
            "RUNNER_TEMP": str(self.temp), "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_ACTION_PATH": str(self.root),
            "GITHUB_PATH": str(self.temp / "path"), "GITHUB_WORKSPACE": str(self.root),
        }  # fmt: skip
        result = bash(self.expand(script, scope), self.root, step_env)
        self.failed |= result.returncode != 0
        self.log.append((script.splitlines()[0], result))
        return dict(line.split("=", 1) for line in outputs.read_text().splitlines() if line)

    def job(self, steps: list[dict[str, Any]]) -> dict[str, Any]:
        scope: dict[str, Any] = {"env": self.env, "steps": {}, "secrets": self.secrets}
        self.log: list[tuple[str, subprocess.CompletedProcess[str]]] = []
        for step in steps:
            if not self.condition(step.get("if"), scope):
                continue
            outputs: dict[str, Any] = {}
            uses = step.get("uses", "")
            given = {k: self.expand(v, scope) for k, v in (step.get("with") or {}).items()}
            if "run" in step:
                outputs = self.run(step["run"], step.get("env", {}), scope)
            elif uses == "./":
                outputs = self.action(given)
            else:
                self.simulate(uses, given)
            if "id" in step:
                scope["steps"][step["id"]] = {"outputs": outputs}
        return scope

    def action(self, given: dict[str, str]) -> dict[str, str]:
        action = yaml.safe_load((self.root / "action.yml").read_text())
        inputs = {k: given.get(k, spec.get("default", "")) for k, spec in action["inputs"].items()}
        assert not set(given) - set(inputs), "the workflow gives an input the action lacks"
        scope: dict[str, Any] = {"inputs": inputs, "steps": {}, "env": self.env}
        for step in action["runs"]["steps"]:
            if not self.condition(step.get("if"), scope):
                continue
            if step["id"] == "install":  # downloads from PyPI: apitape is on PATH already
                assert '"$GITHUB_ACTION_PATH"' in step["run"]
                self.checked.append("install")
                continue
            outputs = self.run(step["run"], step.get("env", {}), scope)
            scope["steps"][step["id"]] = {"outputs": outputs}
        return {k: self.expand(spec["value"], scope) for k, spec in action["outputs"].items()}

    def simulate(self, uses: str, given: dict[str, str]) -> None:
        name = uses.split("@")[0]
        self.checked.append(name)
        if name in ("actions/checkout", "actions/setup-python"):
            return
        if name == "actions/upload-artifact":
            paths = [line.strip() for line in given["path"].splitlines() if line.strip()]
            assert len(paths) == 3 and all((self.root / p).is_file() for p in paths), paths
        elif name == "mikepenz/action-junit-report":
            assert ET.parse(self.root / given["report_paths"]).getroot().tag == "testsuite"
        elif name == "marocchino/sticky-pull-request-comment":
            self.comment = (self.root / given["path"]).read_text()
        else:
            raise AssertionError(f"the test does not know how to stand in for {uses}")


def expected_summary(report_json: Path) -> str:
    return markdown_report(load_json_report(report_json))


def assert_the_password_was_filled(report_json: Path) -> None:
    """Both recorded logins answered as recorded: alice's password was filled in, and the
    client's deliberately wrong one stayed wrong."""
    report = json.loads(report_json.read_text())
    logins = [i["outcome"] for i in report["interactions"] if i["endpoint"] == "POST /login"]
    assert logins == ["pass", "pass"]
    assert report["summary"]["regressions"] == 8


@pytest.mark.parametrize("recipe", ["github-actions.yml", "gitlab-ci.yml"])
def test_each_recipe_fills_the_placeholder_the_committed_cassette_holds(recipe: str) -> None:
    # re-recording cassettes/bookstore.yaml (a new key) changes it: the recipes must follow
    text = (REPO / "examples" / "ci" / recipe).read_text()
    assert re.findall(r"redacted-password-[0-9a-f]{16}", text) == [PASSWORD_PLACEHOLDER]


def test_the_github_workflow_runs_and_gates_on_the_planted_regressions(tmp_path: Path) -> None:
    recipe = yaml.safe_load((REPO / "examples" / "ci" / "github-actions.yml").read_text())
    root = workspace(tmp_path)
    env = {**base_env(tmp_path), **recipe["env"], "CANDIDATE_PORT": str(free_port())}
    # the repository secret the recipe names; the placeholder it fills is the committed one's
    runner = GitHub(root, env, "pull_request", {"BOOKSTORE_PASSWORD": DEMO_PASSWORD})
    try:
        scope = runner.job(recipe["jobs"]["replay"]["steps"])
    finally:
        stop_candidate(runner.temp / "candidate.pid")
    logs = "\n".join(f"{name}: {r.returncode}\n{r.stdout}{r.stderr}" for name, r in runner.log)
    outputs = scope["steps"]["apitape"]["outputs"]
    assert runner.failed, logs  # the gate: bookstore v2 carries regressions
    assert (outputs["exit-status"], outputs["regressions"], outputs["total"]) == ("1", "8", "17")
    assert [r.returncode for _, r in runner.log] == [0, 1, 0], logs  # start, replay, stop
    assert runner.checked == [
        "actions/checkout", "actions/setup-python", "install", "actions/upload-artifact",
        "mikepenz/action-junit-report", "marocchino/sticky-pull-request-comment",
    ]  # fmt: skip
    report_json = root / outputs["report-json"]
    assert runner.comment == expected_summary(report_json)
    assert_the_password_was_filled(report_json)
    assert runner.summary.read_text() == runner.comment  # the job summary shows it too
    assert outputs["report-html"] == "apitape-reports/report.html"


def test_the_gitlab_job_runs_and_gates_on_the_planted_regressions(tmp_path: Path) -> None:
    job = yaml.safe_load((REPO / "examples" / "ci" / "gitlab-ci.yml").read_text())["apitape"]
    root = workspace(tmp_path)
    port = str(free_port())
    env = {**base_env(tmp_path), **job["variables"], "CANDIDATE_PORT": port}
    env["BOOKSTORE_PASSWORD"] = DEMO_PASSWORD  # the masked CI/CD variable the job names
    install = [line for line in job["script"] if "pip install" in line]
    assert len(install) == 1  # downloads from PyPI: apitape is on PATH already
    script = "\n".join(line for line in job["script"] if line not in install)
    try:
        result = bash(script, root, env, log=True)
    finally:
        stop_candidate(root / "candidate.pid")
    assert result.returncode == 1, result.stdout  # the gate
    # the log begins as docs/ci.md shows it (where the candidate listens on port 8000)
    (shown,) = re.findall(r"The GitLab job's log begins:\n\n```\n(.*?)```", DOC, re.DOTALL)
    assert result.stdout.replace(f"127.0.0.1:{port}", "127.0.0.1:8000").startswith(shown)
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert all((root / p).is_dir() for p in artifacts["paths"])
    for name in ("report.json", "report.html", "junit.xml", "summary.md"):
        assert (root / "apitape-reports" / name).is_file(), name
    assert ET.parse(root / artifacts["reports"]["junit"]).getroot().tag == "testsuite"
    assert_the_password_was_filled(root / "apitape-reports" / "report.json")

    # after_script, on a merge request: the comment goes through a stand-in curl
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "curl").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$CURL_ARGS"\n')
    (stand_in / "curl").chmod(0o755)
    comment_env = {
        **env, "PATH": f"{stand_in}{os.pathsep}{env['PATH']}", "CURL_ARGS": str(tmp_path / "a"),
        "CI_MERGE_REQUEST_IID": "7", "APITAPE_GITLAB_TOKEN": "t", "CI_PROJECT_ID": "3",
        "CI_API_V4_URL": "https://gitlab.example/api/v4",
    }  # fmt: skip
    after = bash("\n".join(job["after_script"]), root, comment_env)
    assert after.returncode == 0, after.stderr
    args = (tmp_path / "a").read_text().splitlines()
    assert "https://gitlab.example/api/v4/projects/3/merge_requests/7/notes" in args
    body = args[args.index("--data-urlencode") + 1]
    assert body.startswith("body@")
    comment = (root / body.removeprefix("body@")).read_text()
    assert comment == expected_summary(root / "apitape-reports" / "report.json")


def test_the_docs_step_gives_the_action_inputs_it_has() -> None:
    inputs = yaml.safe_load((REPO / "action.yml").read_text())["inputs"]
    steps = [
        step
        for block in re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)
        for step in (yaml.safe_load(block) if block.lstrip().startswith("-") else [])
    ]
    (step,) = [s for s in steps if str(s.get("uses", "")).endswith("/apitape@<tag>")]
    assert set(step["with"]) <= set(inputs)
    assert {"cassette", "target"} <= set(step["with"])
    assert step["with"]["secrets"].startswith("password=")
    assert "APITAPE_REDACT_KEY" in step["env"]  # with the key, the password fills exactly
