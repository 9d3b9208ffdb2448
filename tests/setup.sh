#!/usr/bin/env bash
# Everything the test suite needs, on a fresh Debian/Ubuntu machine. The README's test command is
#   bash tests/setup.sh && python -m pytest
# and .ci/run runs exactly that line (after starting its throwaway PostgreSQL and SLURM).
# While working, the inner loop `python -m pytest -m "not slow"` skips the end-to-end runs.
#
# 1. apt packages fluidsynth + fluid-soundfont-gm (tests/test_crossgen.py renders with them and
#    fails, not skips, without them): installed only when missing; installing needs root.
# 2. the package with its test extra (pytest, ruff, and the optional extras the tests exercise:
#    tensorboard, mlflow-skinny, optuna-dashboard, psycopg2) and the [peers] extra plus Basic Pitch
#    (the peers of benchmarks/bench_peers.py), torch pinned as in the README.
# Starts nothing and leaves no process behind. Without the PostgreSQL server and the SLURM
# cluster that .ci/run starts, test_sweep_parallel.py and test_sweep_slurm.py are skipped,
# each with its reason in pytest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

APT_PACKAGES=(fluidsynth fluid-soundfont-gm)
SOUNDFONT=/usr/share/sounds/sf2/FluidR3_GM.sf2
if command -v fluidsynth >/dev/null && [ -f "$SOUNDFONT" ]; then
  :  # already there
elif ! command -v apt-get >/dev/null; then
  echo "tests/setup.sh: the tests need the fluidsynth program and the GM soundfont $SOUNDFONT" \
       "(Debian/Ubuntu packages ${APT_PACKAGES[*]}); there is no apt-get here: install them" \
       "with this system's package manager, then run this script again" >&2
  exit 1
elif [ "$(id -u)" != 0 ]; then
  echo "tests/setup.sh: the tests need the apt packages ${APT_PACKAGES[*]}, and installing them" \
       "needs root: run 'sudo apt-get install ${APT_PACKAGES[*]}' (or this script as root)," \
       "then this script again" >&2
  exit 1
else
  echo "tests/setup.sh: installing ${APT_PACKAGES[*]} (apt-get, as root)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

pip install torch==2.13.0 -e ".[test,peers]"
# The peers of benchmarks/bench_peers.py (tests/test_bench_peers.py runs it on a tiny set): Basic Pitch
# without its dependencies, which would pull TensorFlow; it runs on onnxruntime (the [peers] extra).
pip install --no-deps basic-pitch==0.4.0
