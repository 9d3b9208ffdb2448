"""Shared fixtures: repository paths, a per-session corpus cache, CLI runners (a subprocess, or the
Hydra training CLI in process), and the one trained checkpoint of the session.

``python -m pytest -m "not slow"`` is the inner loop; ``python -m pytest`` (after
``bash tests/setup.sh``) the full suite. Error paths call the entry points in process;
a subprocess only where the fresh process is what is tested."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Under pytest-xdist (``-n auto`` in pyproject.toml) the workers share the cores: each worker,
# and every process it starts, gets its share of torch/OpenMP threads instead of all of them
# (two workers of two threads each on two cores run slower than one). Set before torch loads.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
VOCANO_FIXTURE = FIXTURES / "vocano_cfp"  # VOCANO reference outputs of probe.wav (README.md there)


# The files of the longest runs (a minute or more of sweeps and training each on 2 cores).
LONGEST_FIRST = ("test_sweep_slurm.py", "test_sweep_parallel.py", "test_sweep_e2e.py", "test_learning.py")


def pytest_collection_modifyitems(config, items):
    """Order of the files: :data:`LONGEST_FIRST`, then by their number of slow tests (stable
    otherwise). Under pytest-xdist the long runs start early and the many short tests fill
    in at the end, instead of one worker finishing a sweep file alone."""
    slow = {}
    for item in items:
        slow[item.path] = slow.get(item.path, 0) + (item.get_closest_marker("slow") is not None)

    def rank(item):
        name = item.path.name
        return (LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST), -slow[item.path])

    items.sort(key=rank)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One GRU_ATTN_CACHE for the whole session, so the tiny synthetic corpus is generated once."""
    return tmp_path_factory.mktemp("gru_attn_cache")


@pytest.fixture(scope="session")
def run_cli(cache_dir):
    """Run ``python <args>`` from the repo root with the session cache; returns CompletedProcess.

    A fresh interpreter costs seconds (torch + Hydra imports): use it where the process itself
    is under test; :func:`run_train` and the CLIs' ``main(argv)`` run in process."""

    def run(args: list[str], timeout: float = 600, check: bool = False, env: dict | None = None):
        full_env = {
            **os.environ,
            "GRU_ATTN_CACHE": str(cache_dir),
            "PYTHONUNBUFFERED": "1",
            "HYDRA_FULL_ERROR": "0",
            **(env or {}),
        }
        proc = subprocess.run(
            [sys.executable, *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"command failed ({proc.returncode}): {args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return proc

    return run


@pytest.fixture(scope="session")
def run_train(cache_dir):
    """Run the training CLI (``python -m gru_attn.train <args>``, or with ``compat=True`` the
    seed-guide script ``train_gru_attention.py <args>``) in this process, with the session cache.

    Hydra composes, runs and reports exactly as on the command line; what the command would
    print goes to the returned CompletedProcess (returncode 0, or the code it exits with).
    The logging handlers Hydra installs, ``sys.argv``, torch's thread count and the
    environment are restored afterwards."""

    def run(args: list[str], check: bool = False, env: dict | None = None, compat: bool = False):
        import torch

        from gru_attn import compat as compat_cli
        from gru_attn import train

        root = logging.getLogger()
        saved_handlers, saved_level = root.handlers[:], root.level
        saved_argv, saved_threads = sys.argv[:], torch.get_num_threads()
        saved_env = {k: os.environ.get(k) for k in ("GRU_ATTN_CACHE", "HYDRA_FULL_ERROR", *(env or {}))}
        os.environ.update({"GRU_ATTN_CACHE": str(cache_dir), "HYDRA_FULL_ERROR": "0", **(env or {})})
        out, err, code = io.StringIO(), io.StringIO(), 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                if compat:
                    sys.argv = ["train_gru_attention.py"]
                    compat_cli.main(list(args))
                else:
                    sys.argv = ["gru_attn/train.py", *args]
                    train.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.argv = saved_argv
            torch.set_num_threads(saved_threads)
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            for handler in root.handlers[:]:
                if handler not in saved_handlers:
                    handler.close()
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
        proc = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
        if check and code != 0:
            raise AssertionError(f"training failed ({code}): {args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    return run


@pytest.fixture(scope="session")
def trained_run(run_cli, tmp_path_factory) -> Path:
    """The session's one trained model: ``python -m gru_attn.train experiment=fast_test`` (two
    short epochs on the tiny synthetic corpus, default decoding) run once as a real process.
    Returns its run directory ``<tmp>/run`` (``checkpoints/best.pt``, ``metrics.json``,
    ``metrics.csv``, ...); what the command printed is in ``<tmp>/stdout.txt`` beside it.
    Tests read it and never write into it."""
    out = tmp_path_factory.mktemp("trained_run") / "run"
    proc = run_cli(["-m", "gru_attn.train", "experiment=fast_test", f"hydra.run.dir={out}"], check=True)
    (out.parent / "stdout.txt").write_text(proc.stdout)
    return out
