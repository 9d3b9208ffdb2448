"""Per-step learning-rate schedules (gru_attn/schedules.py) and how the engine steps them."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gru_attn.errors import InputError
from gru_attn.schedules import WarmupCosine


def schedule(epochs=2, steps_per_epoch=10, warmup=0.1, eta_min=1e-5, lr=1e-3):
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=lr)
    return optimizer, WarmupCosine(optimizer, epochs, steps_per_epoch, warmup=warmup, eta_min=eta_min)


def lrs_of_steps(optimizer, scheduler, n):
    """The lr each of ``n`` optimisation steps runs at (stepped after every step, as the engine does)."""
    seen = []
    for _ in range(n):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_warm_up_rises_linearly_then_the_cosine_falls_to_eta_min():
    optimizer, scheduler = schedule(epochs=2, steps_per_epoch=10, warmup=0.1)  # 20 steps, 2 of warm-up
    lrs = lrs_of_steps(optimizer, scheduler, 20)
    assert lrs[:3] == pytest.approx([0.5e-3, 1e-3, 1e-3])  # (s + 1) / w, then the peak
    # the cosine over the 18 steps after warm-up: halfway between lr and eta_min at its midpoint
    assert lrs[11] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 9 / 18)))
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))  # falls at every step after the peak
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)  # after the last step: eta_min
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)  # and stays there


def test_no_warm_up_starts_at_the_optimizer_lr():
    optimizer, scheduler = schedule(warmup=0.0)
    assert lrs_of_steps(optimizer, scheduler, 1) == [pytest.approx(1e-3)]


def test_state_dict_resumes_the_same_schedule():
    optimizer, scheduler = schedule()
    whole = lrs_of_steps(optimizer, scheduler, 20)
    optimizer, scheduler = schedule()
    first = lrs_of_steps(optimizer, scheduler, 7)
    state = scheduler.state_dict()
    optimizer, scheduler = schedule()
    scheduler.load_state_dict(state)
    optimizer.param_groups[0]["lr"] = scheduler.get_last_lr()[0]
    assert first + lrs_of_steps(optimizer, scheduler, 13) == pytest.approx(whole)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"epochs": 0}, "scheduler.epochs=0"),
        ({"steps_per_epoch": 0}, "scheduler.steps_per_epoch=0"),
        ({"warmup": 1.0}, "scheduler.warmup=1.0"),
        ({"eta_min": -1.0}, "scheduler.eta_min=-1.0"),
    ],
)
def test_bad_settings_are_one_input_error(kwargs, needle):
    with pytest.raises(InputError, match=needle.replace(".", r"\.")):
        schedule(**kwargs)


def test_training_steps_the_schedule_after_every_batch(run_train, tmp_path):
    run_train(
        [
            "experiment=fast_test",
            "scheduler=warmup_cosine",
            "scheduler.warmup=0.2",
            "trainer.max_epochs=3",
            f"hydra.run.dir={tmp_path}",
        ],
        check=True,
    )
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    last = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)["scheduler"]
    steps = last["total_steps"] // 3
    assert last["last_epoch"] == 3 * steps  # one step per batch, not one per epoch
    optimizer, reference = schedule(epochs=3, steps_per_epoch=steps, warmup=0.2, eta_min=1e-5, lr=1e-3)
    expected = [reference.lr_at(steps * (e + 1), 1e-3) for e in range(3)]
    assert [h["lr"] for h in history] == pytest.approx(expected)  # the lr after each epoch's last step


@pytest.mark.slow
def test_resume_with_a_longer_run_says_the_per_step_schedule_continues(run_train, tmp_path):
    args = ["experiment=fast_test", "scheduler=warmup_cosine", f"hydra.run.dir={tmp_path}"]
    run_train([*args, "trainer.max_epochs=1"], check=True)
    steps = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)["scheduler"]["total_steps"]
    proc = run_train([*args, "trainer.max_epochs=2", "trainer.resume=auto"], check=True)
    assert f"lr schedule spans {steps} steps, the config {2 * steps}" in proc.stdout + proc.stderr
    assert torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)["scheduler"]["total_steps"] == steps
