"""Shared fixtures: repository paths, a per-session corpus cache, CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
VOCANO_FIXTURE = FIXTURES / "vocano_cfp"  # VOCANO reference outputs of probe.wav (README.md there)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One GRU_ATTN_CACHE for the whole session, so the tiny synthetic corpus is generated once."""
    return tmp_path_factory.mktemp("gru_attn_cache")


@pytest.fixture(scope="session")
def run_cli(cache_dir):
    """Run ``python <args>`` from the repo root with the session cache; returns CompletedProcess."""

    def run(args: list[str], timeout: float = 600, check: bool = False, env: dict | None = None):
        full_env = {**os.environ, "GRU_ATTN_CACHE": str(cache_dir), "PYTHONUNBUFFERED": "1",
                    "HYDRA_FULL_ERROR": "0", **(env or {})}
        proc = subprocess.run([sys.executable, *args], cwd=REPO, env=full_env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"command failed ({proc.returncode}): {args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    return run
