"""conf/loss and conf/inference are config groups: `loss=<name>` / `inference=<name>` select a
file, and the old key paths (`loss.onset_weight=...`, `inference.pitch_method=...`) still override."""

from __future__ import annotations

import hydra
import pytest

from gru_attn.config import TARGET_WHITELIST, compose
from gru_attn.loss import Sdt6Loss


def build_loss(cfg):
    return hydra.utils.instantiate(cfg.loss, _execution_whitelist_=TARGET_WHITELIST)


def test_default_loss_and_inference_come_from_their_groups():
    cfg = compose([])
    assert cfg.hydra.runtime.choices["loss"] == "sdt6" and cfg.hydra.runtime.choices["inference"] == "default"
    loss = build_loss(cfg)
    assert isinstance(loss, Sdt6Loss) and loss.pos_weight.tolist() == [1.0, 5.0, 5.0]
    assert cfg.inference.pitch_method == "model"


def test_keys_of_the_groups_are_overridden_by_their_old_paths():
    cfg = compose(["loss.onset_weight=8", "loss.event_width=1", "inference.pitch_method=praat"])
    loss = build_loss(cfg)
    assert loss.pos_weight.tolist() == [1.0, 8.0, 5.0] and loss.event_width == 1
    assert cfg.inference.pitch_method == "praat"


def test_a_new_loss_file_is_selected_by_name(tmp_path):
    (tmp_path / "loss").mkdir()
    (tmp_path / "loss" / "heavy_events.yaml").write_text(
        "defaults:\n  - sdt6\n  - _self_\nonset_weight: 20.0\noffset_weight: 12.0\n"
    )
    cfg = compose([f"hydra.searchpath=[file://{tmp_path}]", "loss=heavy_events"])
    assert build_loss(cfg).pos_weight.tolist() == [1.0, 20.0, 12.0]
    with pytest.raises(Exception, match="loss/nope"):
        compose(["loss=nope"])
