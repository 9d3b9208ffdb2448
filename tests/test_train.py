"""The training entry point: config composition, end-to-end runs, compatibility script, resume, errors."""

from __future__ import annotations

import json
import re

import pytest
import torch
from omegaconf import OmegaConf

from gru_attn.compat import parse_args, to_overrides
from gru_attn.config import CONF_DIR, TARGET_WHITELIST, compose

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

    optimizer = hydra.utils.instantiate(cfg.optimizer, _execution_whitelist_=TARGET_WHITELIST)(layer.parameters())
    assert isinstance(optimizer, torch.optim.Optimizer)
    if cfg.scheduler.get("_target_") is not None:
        make = hydra.utils.instantiate(cfg.scheduler, _execution_whitelist_=TARGET_WHITELIST)
        # a per-step schedule (gru_attn/schedules.py) is also told the epoch's length, as the engine does
        make(optimizer, steps_per_epoch=10) if getattr(make.func, "per_batch", False) else make(optimizer)


def test_guide_flags_map_to_overrides():
    args = parse_args(
        [
            "--model_type",
            "simplified_gru_attention",
            "--num_epochs",
            "10",
            "--batch_size",
            "32",
            "--hidden_dim",
            "512",
            "--num_layers",
            "3",
            "--learning_rate",
            "0.0005",
            "--feat_dir",
            "f",
            "--pitch_dir",
            "p",
        ]
    )
    assert to_overrides(args) == [
        "model=simplified",
        "data=vocano",
        "model.hidden_dim=512",
        "model.num_layers=3",
        "optimizer.lr=0.0005",
        "data.batch_size=32",
        "trainer.max_epochs=10",
        "data.feat_dir=f",
        "data.pitch_dir=p",
    ]


def test_fast_test_run_leaves_every_artifact(trained_run):
    out = trained_run  # the session's one `python -m gru_attn.train experiment=fast_test` (tests/conftest.py)
    assert "trainable parameters" in (out.parent / "stdout.txt").read_text()
    for rel in [
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
        "train.log",
        "metrics.json",
        "training_curves.png",
        "checkpoints/best.pt",
        "checkpoints/last.pt",
        "checkpoints/final.pt",
    ]:
        assert (out / rel).is_file(), rel
    assert not list((out / "checkpoints").glob("epoch_*.pt"))  # per-epoch checkpoints only on request
    metrics = json.loads((out / "metrics.json").read_text())
    summary, history = metrics["summary"], metrics["history"]
    assert summary["status"] == "completed"
    assert summary["parameters"] > 0 and summary["device"] == "cpu"
    assert len(history) == 2 and [h["epoch"] for h in history] == [1, 2]
    for key in (
        "train/loss",
        "val/loss",
        "val/COnP_f1",
        "val/COnPOff_f1",
        "val/COn_f1",
        "val/voiced_acc",
        "val/onset_f1",
        "val/offset_f1",
        "val/oracle_COnP_f1",
        "val/pitch_RPA",
        "val/pitch_FA",
        "train/pitch_loss",
    ):
        assert key in history[-1], key
    ckpt = torch.load(out / "checkpoints/final.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["feature_layout"]["n_bins"] == 174
    assert ckpt["model_config"]["hidden_dim"] == 128 and "optimizer" in ckpt and "decode" in ckpt
    assert ckpt["model_config"]["_target_"] == "gru_attn.model.NoteSegmenter"
    assert ckpt["decode"] == {k: v for k, v in OmegaConf.to_container(compose([]).decode).items()}
    assert ckpt["pitch_method"] == compose([]).inference.pitch_method == "model"
    assert ckpt["model_config"]["pitch_head"] is True


@pytest.mark.slow
def test_default_model_trains_on_tiny_config(run_train, tmp_path):
    run_train(
        [
            "experiment=fast_test",
            "model=gru_attention",
            "model.hidden_dim=64",
            "model.num_heads=4",
            "trainer.max_epochs=1",
            f"hydra.run.dir={tmp_path}",
        ],
        check=True,
    )
    assert json.loads((tmp_path / "metrics.json").read_text())["summary"]["status"] == "completed"
    state = torch.load(tmp_path / "checkpoints/final.pt", weights_only=True)
    assert (state["model_config"]["hidden_dim"], state["model_config"]["num_layers"]) == (64, 2)


@pytest.mark.slow
def test_guide_command_runs_through_compat_script(run_train, tmp_path):
    run_train(
        [
            "--model_type",
            "simplified_gru_attention",
            "--num_epochs",
            "1",
            "--batch_size",
            "4",
            "experiment=fast_test",
            f"hydra.run.dir={tmp_path}",
        ],
        check=True,
        compat=True,
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["history"]) == 1
    cfg = OmegaConf.load(tmp_path / ".hydra/config.yaml")
    assert cfg.data.batch_size == 4 and cfg.model.hidden_dim == 128


@pytest.mark.slow
def test_resume_matches_uninterrupted_run(run_cli, trained_run, tmp_path):
    full = trained_run
    # the same run, interrupted after its first epoch (max_minutes is checked after every epoch;
    # max_epochs stays, so the cosine schedule's length is the same in both). Fresh processes,
    # as the uninterrupted run was made: float results must not depend on what ran before.
    run_cli(
        [
            "-m",
            "gru_attn.train",
            "experiment=fast_test",
            "trainer.max_minutes=1e-6",
            "trainer.checkpoint_every=1",
            f"hydra.run.dir={tmp_path}",
        ],
        check=True,
    )
    assert (tmp_path / "checkpoints/epoch_001.pt").is_file()
    assert not (tmp_path / "checkpoints/epoch_002.pt").exists()
    run_cli(
        ["-m", "gru_attn.train", "experiment=fast_test", "trainer.resume=auto", f"hydra.run.dir={tmp_path}"], check=True
    )
    a = torch.load(full / "checkpoints/final.pt", weights_only=True)
    b = torch.load(tmp_path / "checkpoints/final.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for name, tensor in a["model"].items():
        assert torch.allclose(tensor.float(), b["model"][name].float(), atol=1e-6), name
    for ha, hb in zip(a["history"], b["history"]):
        assert ha["val/loss"] == pytest.approx(hb["val/loss"], abs=1e-6)
        assert ha["train/loss"] == pytest.approx(hb["train/loss"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["cosine", "warmup_cosine"])
def test_resume_with_a_longer_run_says_the_schedule_continues(run_train, tmp_path, scheduler):
    args = ["experiment=fast_test", f"scheduler={scheduler}", f"hydra.run.dir={tmp_path}"]
    run_train([*args, "trainer.max_epochs=1"], check=True)
    proc = run_train([*args, "trainer.max_epochs=2", "trainer.resume=auto"], check=True)
    if scheduler == "cosine":  # stepped per epoch
        assert "lr schedule spans 1 epochs, the config 2" in proc.stdout + proc.stderr
    else:  # set every step: the config's run has twice the steps
        found = re.search(r"lr schedule spans (\d+) steps, the config (\d+)", proc.stdout + proc.stderr)
        assert found and int(found[2]) == 2 * int(found[1]), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(json.loads((tmp_path / "metrics.json").read_text())["history"]) == 2


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_indivisible_hidden_dim_is_a_clear_error(run_train, tmp_path):
    proc = run_train(["experiment=fast_test", "model.hidden_dim=100", "model.num_heads=8", f"hydra.run.dir={tmp_path}"])
    assert_one_line_error(proc, "100", "8")


def test_target_outside_the_whitelist_is_a_clear_error(run_train, tmp_path):
    # config targets may name gru_attn.* and torch.optim.* only (gru_attn.config.TARGET_WHITELIST)
    proc = run_train(["experiment=fast_test", "optimizer._target_=os.system", f"hydra.run.dir={tmp_path}"])
    assert_one_line_error(proc, "optimizer", "os.system")
    assert "Traceback" not in proc.stderr


def test_corrupt_resume_checkpoint_is_a_clear_error(run_train, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint at all")
    proc = run_train(["experiment=fast_test", f"trainer.resume={bad}", f"hydra.run.dir={tmp_path / 'run'}"])
    assert_one_line_error(proc, str(bad))


def test_empty_vocano_folder_is_a_clear_error(run_train, tmp_path):
    (tmp_path / "feat").mkdir()
    (tmp_path / "pitch").mkdir()
    proc = run_train(["data=vocano", f"data.root={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}"])
    assert_one_line_error(proc, str(tmp_path / "feat"))


def test_unknown_model_name_is_rejected(run_train, tmp_path):
    proc = run_train(["model=transformer_xl", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode != 0
    assert "model/transformer_xl" in proc.stderr or "transformer_xl" in proc.stderr


def test_resume_from_another_model_size_is_one_line(run_train, trained_run, tmp_path):
    ckpt = trained_run / "checkpoints/last.pt"
    proc = run_train(
        ["experiment=fast_test", "model.hidden_dim=64", f"trainer.resume={ckpt}", f"hydra.run.dir={tmp_path}"]
    )
    assert_one_line_error(proc, str(ckpt), "do not fit")


@pytest.mark.parametrize("lr", ["-1", "nan"])
def test_bad_learning_rate_is_one_line_and_a_failed_run(run_train, tmp_path, lr):
    proc = run_train(["experiment=fast_test", f"optimizer.lr={lr}", f"hydra.run.dir={tmp_path}"])
    assert_one_line_error(proc, "optimizer", lr)
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert summary["status"] == "failed" and lr in summary["reason"]
    assert not (tmp_path / "checkpoints").exists()


def test_zero_epochs_is_an_error_without_a_checkpoint(run_train, tmp_path):
    proc = run_train(["experiment=fast_test", "trainer.max_epochs=0", f"hydra.run.dir={tmp_path}"])
    assert_one_line_error(proc, "trainer.max_epochs=0")
    assert not (tmp_path / "checkpoints").exists()


def test_optimized_metric_typo_fails_before_the_first_step(run_train, tmp_path):
    proc = run_train(["experiment=fast_test", "optimized_metric=val/COnP_f", f"hydra.run.dir={tmp_path}"])
    assert_one_line_error(proc, "val/COnP_f", "val/COnP_f1")
    assert not (tmp_path / "checkpoints" / "last.pt").exists()  # no epoch ran


def test_moved_key_names_its_new_place(run_train, tmp_path):
    proc = run_train(["experiment=fast_test", "+data.pitch_method=world", f"hydra.run.dir={tmp_path}"])
    assert_one_line_error(proc, "data.pitch_method", "inference.pitch_method")


def test_vocano_split_does_not_move_with_the_training_seed():
    a, b = compose(["data=vocano", "seed=1"]), compose(["data=vocano", "seed=2"])
    assert a.data.corpus.seed == b.data.corpus.seed == a.data.split_seed
    assert compose(["data=vocano", "data.split_seed=5"]).data.corpus.seed == 5


def _signature_defaults(function) -> dict:
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_trainer_settings_defaults_are_the_yaml_ones():
    """YAML is the one source of defaults: every field of TrainerSettings is a key of
    conf/trainer/default.yaml with the same default, and the other way round."""
    from dataclasses import MISSING, fields

    from gru_attn.engine import TrainerSettings

    yaml = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "trainer" / "default.yaml"))
    python = {f.name: f.default for f in fields(TrainerSettings)}
    assert MISSING not in python.values()
    assert python == yaml


def test_synthetic_corpus_defaults_are_the_yaml_ones():
    """Every parameter of the corpus generator is set in conf/data/synthetic.yaml; those with a
    Python default have the YAML's value; the corpus size has none (the YAML's choice)."""
    from gru_attn import synth
    from gru_attn.corpus import load_synthetic_corpus

    yaml = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "data" / "synthetic.yaml"))["corpus"]
    assert yaml.pop("_target_") == "gru_attn.corpus.load_synthetic_corpus"
    yaml.pop("root_dir")  # where the cache lives: ensure_corpus's first argument
    assert set(_signature_defaults(load_synthetic_corpus)) == {"splits", "progress"}  # everything else: **params
    import inspect

    for function in (synth.generate_corpus, synth.ensure_corpus):
        params = set(inspect.signature(function).parameters) - {"out_dir", "root_dir", "progress", "workers"}
        assert params == set(yaml), function.__name__
        defaults = {k: v for k, v in _signature_defaults(function).items() if k not in ("progress", "workers")}
        assert not {"minutes_train", "minutes_val", "minutes_test"} & set(defaults)
        for name, value in defaults.items():
            expected = yaml[name]
            assert (list(value) if isinstance(value, tuple) else value) == expected, (function.__name__, name)


def test_engine_reads_no_audio_and_no_config():
    """The loop imports no corpus generator, corpus loader, audio or pitch-tracker module."""
    import ast

    tree = ast.parse((CONF_DIR.parent / "gru_attn" / "engine.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    banned = {
        "gru_attn.synth",
        "gru_attn.singer",
        "gru_attn.audio",
        "gru_attn.pitch",
        "gru_attn.corpus",
        "gru_attn.tracked_pitch",
        "gru_attn.config",
        "hydra",
        "omegaconf",
    }
    assert not imported & banned, imported & banned
    # nor through the modules it imports: no tracker, corpus or config code is reachable from it
    from test_layers import import_graph

    graph, reached, todo = import_graph(), set(), ["gru_attn.engine"]
    while todo:
        for target in graph[todo.pop()] - reached:
            reached.add(target)
            todo.append(target)
    assert not {m for m in reached if m in banned - {"gru_attn.audio"} or m.startswith("gru_attn.data")}, reached
