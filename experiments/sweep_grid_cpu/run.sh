#!/usr/bin/env bash
# The two grid sweeps of this report (run from the repository root, ~50 min on 2 CPU cores):
# every hidden_dim x num_layers of the default model on a small embedded corpus, two short
# epochs, once with the median pruner (grid.yaml's default) and once without; then compare.
set -euo pipefail
grid() {  # grid <study name> [overrides...]
  python -m gru_attn.train --multirun hparams_search=grid experiment=grid_cpu_short \
      hydra.sweeper.study_name="$1" "${@:2}"   # the budget: conf/experiment/grid_cpu_short.yaml
}
[ "${1:-}" = "--compare-only" ] || { grid grid_cpu_short; grid grid_cpu_short_nopruning hydra/sweeper/pruner=none; }
python -m gru_attn.compare multirun/grid_cpu_short_nopruning multirun/grid_cpu_short --out experiments/sweep_grid_cpu
