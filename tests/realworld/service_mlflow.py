"""MLflow tracking server with the basic-auth app: experiments, runs (hex run ids), params,
metrics with millisecond timestamps, tags, search, artifacts (served by the server), users,
registered models; driven with `requests` on the REST API and with the mlflow client.

Run as a script in the services venv: `python service_mlflow.py session BASE_URL WORKDIR`.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rw_common as c

ADMIN_PASSWORD = "testbed-admin-pw-1"
ALICE_PASSWORD = "alice-pw-testbed-2"


class MLflow(c.Service):
    name = "mlflow"
    style = "JSON REST (MLflow tracking API, basic auth) via requests + mlflow client"
    session_module = "service_mlflow.py"
    # Basic credentials are redacted after the scheme (`Basic redacted-authorization-...`),
    # so a --secret is the base64 part alone. Two users (and a wrong password), so record and replay
    # share a key file and each --secret fills only the placeholders made from its own value
    use_key_file = True
    secrets = [
        ("authorization", base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()),
        ("authorization", base64.b64encode(f"alice:{ALICE_PASSWORD}".encode()).decode()),
        ("password", ALICE_PASSWORD),
    ]

    def available(self):
        why = super().available()
        if why:
            return why
        if not Path(c.venv_bin("mlflow")).exists():
            return f"mlflow not installed in {c.services_venv()}"
        return None

    def start(self, workdir: Path) -> c.Instance:
        workdir.mkdir(parents=True, exist_ok=True)
        ini = workdir / "basic_auth.ini"
        ini.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{workdir / 'basic_auth.db'}\n"
            "admin_username = admin\n"
            f"admin_password = {ADMIN_PASSWORD}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        env = c.clean_env(
            MLFLOW_AUTH_CONFIG_PATH=str(ini),
            MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
            MLFLOW_FLASK_SERVER_SECRET_KEY="testbed-flask-secret",
        )

        def launch(port: int) -> c.Instance:
            argv = [
                c.venv_bin("mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{workdir / 'mlflow.db'}",
                "--artifacts-destination",
                str(workdir / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--app-name",
                "basic-auth",
                "--allowed-hosts",
                "127.0.0.1,127.0.0.1:*,localhost,localhost:*",
            ]
            proc = c.Proc(argv, workdir / "mlflow.log", env=env, cwd=workdir)
            return c.Instance(f"http://127.0.0.1:{port}", proc, workdir)

        def ready(inst: c.Instance) -> None:
            c.wait_http(inst.url + "/health", inst.proc, timeout=120, ok=lambda s: s == 200)

        # gunicorn cannot bind port 0 and say which it got: a free port, again if it was taken
        return c.start_on_free_port(launch, ready)


SERVICE = MLflow()


# --- the session (runs in the services venv: requests, mlflow) -------------------------------


def session(base_url: str, workdir: str) -> None:
    import os
    import time

    import requests

    api = base_url + "/api/2.0/mlflow"
    admin = ("admin", ADMIN_PASSWORD)
    alice = ("alice", ALICE_PASSWORD)
    s = requests.Session()
    n = 0

    def call(what, method, url, expect=200, auth=alice, **kw):
        nonlocal n
        n += 1
        r = s.request(method, url, auth=auth, timeout=60, **kw)
        print(f"{n:3} {what}: {r.status_code}")
        if r.status_code != expect:
            raise AssertionError(f"{what}: expected {expect}, got {r.status_code}: {r.text[:300]}")
        try:
            return r.json()
        except ValueError:
            return r.text

    call("health", "GET", base_url + "/health", auth=None)
    call("version", "GET", base_url + "/version", auth=admin)
    call(
        "no credentials (401)",
        "GET",
        api + "/experiments/search?max_results=10",
        expect=401,
        auth=None,
    )
    call(
        "wrong password (401)",
        "GET",
        api + "/experiments/search?max_results=10",
        expect=401,
        auth=("admin", "wrong-password"),
    )
    call(
        "admin creates user alice",
        "POST",
        base_url + "/api/2.0/mlflow/users/create",
        auth=admin,
        json={"username": "alice", "password": ALICE_PASSWORD},
    )
    call("get user alice", "GET", base_url + "/api/2.0/mlflow/users/get?username=alice", auth=admin)
    exp = call(
        "create experiment",
        "POST",
        api + "/experiments/create",
        json={"name": "testbed-exp", "tags": [{"key": "team", "value": "qa"}]},
    )
    exp_id = exp["experiment_id"]
    call(
        "create experiment again (400)",
        "POST",
        api + "/experiments/create",
        expect=400,
        json={"name": "testbed-exp"},
    )
    call("get experiment", "GET", api + "/experiments/get", params={"experiment_id": exp_id})
    call(
        "get experiment by name",
        "GET",
        api + "/experiments/get-by-name",
        params={"experiment_name": "testbed-exp"},
    )
    call(
        "get missing experiment (404)",
        "GET",
        api + "/experiments/get-by-name",
        expect=404,
        params={"experiment_name": "no-such-exp"},
    )
    run = call(
        "create run",
        "POST",
        api + "/runs/create",
        json={
            "experiment_id": exp_id,
            "start_time": int(time.time() * 1000),
            "run_name": "baseline",
            "tags": [{"key": "mlflow.user", "value": "alice"}],
        },
    )
    run_id = run["run"]["info"]["run_id"]
    call(
        "log param",
        "POST",
        api + "/runs/log-parameter",
        json={"run_id": run_id, "key": "lr", "value": "0.01"},
    )
    for step in range(3):
        call(
            f"log metric step {step}",
            "POST",
            api + "/runs/log-metric",
            json={
                "run_id": run_id,
                "key": "loss",
                "value": 1.0 / (step + 1),
                "timestamp": int(time.time() * 1000),
                "step": step,
            },
        )
    call(
        "log batch",
        "POST",
        api + "/runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [
                {"key": "acc", "value": 0.9, "timestamp": int(time.time() * 1000), "step": 0}
            ],
            "params": [{"key": "epochs", "value": "3"}],
            "tags": [{"key": "stage", "value": "dev"}],
        },
    )
    call(
        "set tag",
        "POST",
        api + "/runs/set-tag",
        json={"run_id": run_id, "key": "note", "value": "first"},
    )
    call("get run", "GET", api + "/runs/get", params={"run_id": run_id})
    call(
        "metric history",
        "GET",
        api + "/metrics/get-history",
        params={"run_id": run_id, "metric_key": "loss"},
    )
    call(
        "search runs",
        "POST",
        api + "/runs/search",
        json={"experiment_ids": [exp_id], "filter": "metrics.loss < 2", "max_results": 10},
    )
    call(
        "update run (finish)",
        "POST",
        api + "/runs/update",
        json={"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)},
    )
    call(
        "alice gets a missing run (403: no permission on what does not exist)",
        "GET",
        api + "/runs/get",
        expect=403,
        params={"run_id": "0123456789abcdef0123456789abcdef"},
    )
    call(
        "admin gets a missing run (404)",
        "GET",
        api + "/runs/get",
        expect=404,
        auth=admin,
        params={"run_id": "0123456789abcdef0123456789abcdef"},
    )
    call(
        "log metric bad value (400)",
        "POST",
        api + "/runs/log-metric",
        expect=400,
        json={"run_id": run_id, "key": "loss", "value": "not-a-number", "timestamp": 1},
    )

    # the mlflow client itself, through the same proxy: a second run with an artifact
    os.environ["MLFLOW_TRACKING_URI"] = base_url
    os.environ["MLFLOW_TRACKING_USERNAME"] = "alice"
    os.environ["MLFLOW_TRACKING_PASSWORD"] = ALICE_PASSWORD
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=base_url)
    r2 = client.create_run(exp_id, run_name="client-run")
    n += 1
    client.log_metric(r2.info.run_id, "rmse", 0.5, step=1)
    n += 1
    Path(workdir).mkdir(parents=True, exist_ok=True)
    (Path(workdir) / "notes.txt").write_text("hello from the testbed\n")
    client.log_artifact(r2.info.run_id, str(Path(workdir) / "notes.txt"))
    n += 1
    arts = client.list_artifacts(r2.info.run_id)
    n += 1
    print(f"{n:3} client run {r2.info.run_id}: artifacts {[a.path for a in arts]}")
    client.set_terminated(r2.info.run_id)
    n += 1
    call("list artifacts (REST)", "GET", api + "/artifacts/list", params={"run_id": r2.info.run_id})
    call(
        "download artifact",
        "GET",
        base_url
        + f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{r2.info.run_id}/artifacts/notes.txt",
    )

    call("delete run", "POST", api + "/runs/delete", json={"run_id": run_id})
    call("get deleted run", "GET", api + "/runs/get", params={"run_id": run_id})
    call("restore run", "POST", api + "/runs/restore", json={"run_id": run_id})
    call(
        "create registered model",
        "POST",
        api + "/registered-models/create",
        json={"name": "testbed-model", "description": "from the testbed"},
    )
    call(
        "create model version",
        "POST",
        api + "/model-versions/create",
        json={"name": "testbed-model", "source": f"runs:/{run_id}/model", "run_id": run_id},
    )
    call(
        "get model version",
        "GET",
        api + "/model-versions/get",
        params={"name": "testbed-model", "version": "1"},
    )
    call("search experiments", "POST", api + "/experiments/search", json={"max_results": 10})
    call(
        "alice cannot delete admin's default experiment (403)",
        "POST",
        api + "/experiments/delete",
        expect=403,
        json={"experiment_id": "0"},
    )
    call("delete experiment", "POST", api + "/experiments/delete", json={"experiment_id": exp_id})
    print(f"session done: {n} client calls")


if __name__ == "__main__":
    if sys.argv[1] == "session":
        session(sys.argv[2], sys.argv[3])
