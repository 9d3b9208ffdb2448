"""The training entry point: config composition, end-to-end runs, compatibility script, resume, errors."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from gru_attn.config import CONF_DIR, compose
from gru_attn.compat import parse_args, to_overrides

GROUPS = ["data", "model", "optimizer", "scheduler", "trainer", "experiment"]


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("override", [f"{g}={o}" for g in GROUPS for o in group_options(g)])
def test_every_group_option_composes_and_builds(override):
    cfg = compose([override])
    resolved = OmegaConf.to_container(cfg, resolve=False)
    for key in ("data", "model", "optimizer", "scheduler", "trainer", "loss", "decode"):
        assert key in resolved, key
        OmegaConf.to_container(cfg[key], resolve=True)  # every interpolation resolves
    layer = torch.nn.Linear(2, 2)
    import hydra

    optimizer = hydra.utils.instantiate(cfg.optimizer)(layer.parameters())
    assert isinstance(optimizer, torch.optim.Optimizer)
    if cfg.scheduler.get("_target_") is not None:
        hydra.utils.instantiate(cfg.scheduler)(optimizer)


def test_guide_flags_map_to_overrides():
    args = parse_args(["--model_type", "simplified_gru_attention", "--num_epochs", "10", "--batch_size", "32",
                       "--hidden_dim", "512", "--num_layers", "3", "--learning_rate", "0.0005",
                       "--feat_dir", "f", "--pitch_dir", "p"])
    assert to_overrides(args) == ["model=simplified", "data=vocano", "model.hidden_dim=512", "model.num_layers=3",
                                  "optimizer.lr=0.0005", "data.batch_size=32", "trainer.max_epochs=10",
                                  "data.feat_dir=f", "data.pitch_dir=p"]


@pytest.fixture(scope="module")
def fast_run(run_cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("fast_run")
    proc = run_cli(["-m", "gru_attn.train", "experiment=fast_test", f"hydra.run.dir={out}"], check=True)
    return out, proc


def test_fast_test_run_leaves_every_artifact(fast_run):
    out, proc = fast_run
    assert "trainable parameters" in proc.stdout
    for rel in [".hydra/config.yaml", ".hydra/overrides.yaml", "train.log", "metrics.json", "training_curves.png",
                "checkpoints/epoch_001.pt", "checkpoints/epoch_002.pt", "checkpoints/best.pt",
                "checkpoints/last.pt", "checkpoints/final.pt"]:
        assert (out / rel).is_file(), rel
    metrics = json.loads((out / "metrics.json").read_text())
    summary, history = metrics["summary"], metrics["history"]
    assert summary["status"] == "completed"
    assert summary["parameters"] > 0 and summary["device"] == "cpu"
    assert len(history) == 2 and [h["epoch"] for h in history] == [1, 2]
    for key in ("train/loss", "val/loss", "val/COnP_f1", "val/COnPOff_f1", "val/COn_f1", "val/voiced_acc",
                "val/onset_f1", "val/offset_f1", "val/oracle_COnP_f1", "val/pitch_RPA", "val/pitch_FA",
                "train/pitch_loss"):
        assert key in history[-1], key
    assert 0.0 <= history[-1]["val/COnP_f1"] <= 1.0
    ckpt = torch.load(out / "checkpoints/final.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["feature_layout"]["n_bins"] == 174
    assert ckpt["model_config"]["hidden_dim"] == 128 and "optimizer" in ckpt and "decode" in ckpt
    assert ckpt["pitch_method"] == "model" and ckpt["model_config"]["pitch_head"] is True


def test_default_model_trains_on_tiny_config(run_cli, tmp_path):
    proc = run_cli(["-m", "gru_attn.train", "experiment=fast_test", "model=gru_attention", "model.hidden_dim=64",
                    "model.num_heads=4", "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}"], check=True)
    assert json.loads((tmp_path / "metrics.json").read_text())["summary"]["status"] == "completed"
    assert "64x2" in proc.stdout


def test_guide_command_runs_through_compat_script(run_cli, tmp_path):
    run_cli(["train_gru_attention.py", "--model_type", "simplified_gru_attention", "--num_epochs", "1",
             "--batch_size", "4", "experiment=fast_test", f"hydra.run.dir={tmp_path}"], check=True)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["history"]) == 1
    cfg = OmegaConf.load(tmp_path / ".hydra/config.yaml")
    assert cfg.data.batch_size == 4 and cfg.model.hidden_dim == 128


def test_resume_matches_uninterrupted_run(run_cli, fast_run, tmp_path):
    full, _ = fast_run
    run_cli(["-m", "gru_attn.train", "experiment=fast_test", "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}"],
            check=True)
    run_cli(["-m", "gru_attn.train", "experiment=fast_test", "trainer.resume=auto", f"hydra.run.dir={tmp_path}"],
            check=True)
    a = torch.load(full / "checkpoints/final.pt", weights_only=True)
    b = torch.load(tmp_path / "checkpoints/final.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for name, tensor in a["model"].items():
        assert torch.allclose(tensor.float(), b["model"][name].float(), atol=1e-6), name
    for ha, hb in zip(a["history"], b["history"]):
        assert ha["val/loss"] == pytest.approx(hb["val/loss"], abs=1e-6)
        assert ha["train/loss"] == pytest.approx(hb["train/loss"], abs=1e-6)


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_indivisible_hidden_dim_is_a_clear_error(run_cli, tmp_path):
    proc = run_cli(["-m", "gru_attn.train", "experiment=fast_test", "model.hidden_dim=100", "model.num_heads=8",
                    f"hydra.run.dir={tmp_path}"])
    assert_one_line_error(proc, "100", "8")


def test_corrupt_resume_checkpoint_is_a_clear_error(run_cli, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint at all")
    proc = run_cli(["-m", "gru_attn.train", "experiment=fast_test", f"trainer.resume={bad}",
                    f"hydra.run.dir={tmp_path / 'run'}"])
    assert_one_line_error(proc, str(bad))


def test_empty_vocano_folder_is_a_clear_error(run_cli, tmp_path):
    (tmp_path / "feat").mkdir()
    (tmp_path / "pitch").mkdir()
    proc = run_cli(["-m", "gru_attn.train", "data=vocano", f"data.root={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}"])
    assert_one_line_error(proc, str(tmp_path / "feat"))


def test_unknown_model_name_is_rejected(run_cli, tmp_path):
    proc = run_cli(["-m", "gru_attn.train", "model=transformer_xl", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode != 0
    assert "model/transformer_xl" in proc.stderr or "transformer_xl" in proc.stderr
