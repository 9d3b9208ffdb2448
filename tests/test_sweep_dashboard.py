"""optuna-dashboard (the ``[dashboard]`` extra) reads the project's studies, in SQLite and in a journal
file, with the attributes the sweeper writes (owner, run dir, retries, per-epoch reports, pruning)."""

from __future__ import annotations

import io
import json
import os
import socket
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
from optuna.trial import TrialState

from gru_attn.sweep import study as st

try:
    import optuna_dashboard
except ImportError:  # the [test] extra (tests/setup.sh installs it) has it: in CI a missing package fails
    if os.environ.get("CI"):
        raise
    pytest.skip("optuna-dashboard (the [dashboard] extra) is not installed", allow_module_level=True)


def sweep_like_study(url: str) -> None:
    """A study as the gru_optuna sweeper leaves it: two finished trials (one pruned), an orphan and its retry."""
    storage = st.open_storage(url)
    study = st.open_study(storage, "tiny", ["maximize"])
    trials = st.Trials(study, storage)
    dist = {"model.hidden_dim": optuna.distributions.CategoricalDistribution([16, 32])}
    for value, final in ((0.3, TrialState.COMPLETE), (0.1, TrialState.PRUNED)):
        trial = study.ask(dist)
        trials.claim(trial.number)
        trial.set_user_attr(st.RUN_DIR_ATTR, f"/runs/{trial.number}")
        trial.report(value, 1)
        study.tell(trial, value if final == TrialState.COMPLETE else None, final)
    orphan = study.ask(dist)
    trials.set_attr(
        orphan.number, st.OWNER_ATTR, {"host": socket.gethostname(), "pid": 2**22 + 1, "trial": orphan.number}
    )
    trials.fail_and_requeue(orphan.number, "was interrupted")


def get_json(app, path: str):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status[0].startswith("200"), (path, status, body[:300])
    return json.loads(body)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_optuna_dashboard_reads_a_sweep_study(tmp_path, kind):
    url = f"sqlite:///{tmp_path}/optuna.db" if kind == "sqlite" else f"journal:///{tmp_path}/optuna.log"
    sweep_like_study(url)
    app = optuna_dashboard.wsgi(st.open_storage(url))  # what `optuna-dashboard <storage>` serves
    studies = get_json(app, "/api/studies")["study_summaries"]
    assert [s["study_name"] for s in studies] == ["tiny"]
    detail = get_json(app, f"/api/studies/{studies[0]['study_id']}")
    states = [t["state"] for t in sorted(detail["trials"], key=lambda t: t["number"])]
    assert states == ["Complete", "Pruned", "Fail", "Waiting"]
    first = min(detail["trials"], key=lambda t: t["number"])
    assert first["values"] == [0.3] and [v["step"] for v in first["intermediate_values"]] == [1]
    attrs = {a["key"]: a["value"] for a in first["user_attrs"]}
    assert attrs[st.RUN_DIR_ATTR] == "/runs/0" and json.loads(attrs[st.OWNER_ATTR])["trial"] == 0
