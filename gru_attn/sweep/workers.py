"""``python -m gru_attn.sweep.workers``: one sweep process per GPU, all on one Optuna study.

    python -m gru_attn.sweep.workers --gpus 0,1,2,3 -- hparams_search=optuna [overrides ...]

starts, for each listed GPU ``i``, ``python -m gru_attn.train --multirun <overrides>
trainer.device=cuda:i hydra.sweeper.n_jobs=1``. They share the study (same storage and
study name: the defaults of ``hparams_search=optuna|grid`` put it in
``multirun/<study_name>/optuna.db``), each asks for its next trial as soon as its
previous one ends, and together they run the study's ``n_trials`` in total: no GPU
waits for a slow neighbour. All but the first worker draw fresh sampler randomness
(``hydra.sweeper.reseed=true``), so they do not propose the same points.

Output lines are prefixed with the worker's device. Ctrl-C or SIGTERM stops every worker
(SIGTERM, then SIGKILL after ``--grace`` seconds); their interrupted trials are re-queued,
so running the same command again finishes the study.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from typing import IO, Sequence

from gru_attn.errors import ArgumentParser
from gru_attn.sweep.devices import FAKE_GPUS_ENV, gpu_count


def parse_gpus(spec: str | None, visible: int) -> list[int]:
    """``"0,2"`` -> [0, 2]; None or ``"all"`` -> every visible GPU. Raises ValueError when one is not visible."""
    if spec is None or spec == "all":
        gpus = list(range(visible))
    else:
        try:
            gpus = [int(x) for x in spec.split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"--gpus {spec!r}: expected GPU indices like 0,1,2 or 'all'") from None
    if not gpus:
        raise ValueError(f"--gpus {spec or 'all'}: no GPU visible (set {FAKE_GPUS_ENV}=n to try this on a CPU)")
    bad = [g for g in gpus if not 0 <= g < visible]
    if bad or len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpus {spec}: expected distinct indices among the {visible} visible GPU(s)")
    return gpus


def worker_command(gpu: int, overrides: Sequence[str], first: bool) -> list[str]:
    """The sweep command of the worker bound to ``cuda:<gpu>``."""
    command = [
        sys.executable,
        "-m",
        "gru_attn.train",
        "--multirun",
        *overrides,
        f"trainer.device=cuda:{gpu}",
        "hydra.sweeper.n_jobs=1",
    ]
    if not first:
        command.append("hydra.sweeper.reseed=true")
    return command


def _pump(stream: IO[str], prefix: str, out: IO[str], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            out.write(f"{prefix} {line}")
            out.flush()


def run_workers(gpus: Sequence[int], overrides: Sequence[str], grace: float = 30.0, out: IO[str] = sys.stdout) -> int:
    """Run one sweep process per GPU until all end; returns 0 when all succeeded.

    SIGINT / SIGTERM received meanwhile are passed on (SIGTERM; SIGKILL after ``grace``
    seconds) and the return value is 130.
    """
    lock = threading.Lock()
    procs, pumps = [], []
    for k, gpu in enumerate(gpus):
        proc = subprocess.Popen(
            worker_command(gpu, overrides, first=k == 0),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        procs.append(proc)
        pump = threading.Thread(target=_pump, args=(proc.stdout, f"[cuda:{gpu}]", out, lock), daemon=True)
        pump.start()
        pumps.append(pump)
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()
        with lock:
            out.write(f"[workers] signal {signum}: stopping {len(procs)} worker(s)\n")
            out.flush()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for proc in procs:
            while True:
                try:
                    proc.wait(timeout=grace if stopping.is_set() else None)
                    break
                except subprocess.TimeoutExpired:
                    proc.kill()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for pump in pumps:
        pump.join(timeout=5)
    if stopping.is_set():
        return 130
    failed = [(gpu, p.returncode) for gpu, p in zip(gpus, procs) if p.returncode != 0]
    for gpu, code in failed:
        out.write(f"[workers] the worker on cuda:{gpu} exited with status {code}\n")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="python -m gru_attn.sweep.workers",
        description="One sweep process per GPU, all sharing one Optuna study. "
        "Everything after -- is passed to `python -m gru_attn.train --multirun`.",
    )
    parser.add_argument("--gpus", default=None, help="GPU indices, e.g. 0,1,2,3 (default: all visible)")
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds between SIGTERM and SIGKILL when stopping the workers (default 30)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. hparams_search=optuna")
    args = parser.parse_args(argv)
    if not any(o.startswith("hparams_search=") or o.startswith("hydra/sweeper=") for o in args.overrides):
        parser.error("the workers share an Optuna study: pass hparams_search=optuna (or grid) after --")
    try:
        gpus = parse_gpus(args.gpus, gpu_count())
    except ValueError as exc:
        parser.error(str(exc))
    return run_workers(gpus, args.overrides, grace=args.grace)


if __name__ == "__main__":
    sys.exit(main())
