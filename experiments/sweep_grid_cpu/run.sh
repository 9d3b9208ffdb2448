#!/usr/bin/env bash
# The two grid sweeps of this report (run from the repository root, ~50 min on 2 CPU cores):
# every hidden_dim x num_layers of the default model on a small embedded corpus, two short
# epochs, once with the median pruner (grid.yaml's default) and once without; then compare.
set -euo pipefail
grid() {  # grid <study name> [overrides...]
  python -m gru_attn.train --multirun hparams_search=grid hydra.sweeper.study_name="$1" \
      data.corpus.minutes_train=1.0 data.corpus.minutes_val=0.25 data.corpus.minutes_test=0.25 data.corpus.reverb=0.0 \
      data.batch_size=4 data.chunk_frames=32 optimizer.lr=0.003 \
      trainer.max_epochs=2 trainer.limit_train_batches=4 trainer.early_stopping_patience=null \
      optimized_metric=val/loss optimized_direction=minimize "${@:2}"
}
[ "${1:-}" = "--compare-only" ] || { grid grid_cpu_short; grid grid_cpu_short_nopruning hydra/sweeper/pruner=none; }
python -m gru_attn.compare multirun/grid_cpu_short_nopruning multirun/grid_cpu_short --out experiments/sweep_grid_cpu
