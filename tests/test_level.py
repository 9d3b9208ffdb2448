"""The frame level (gru_attn.level): shape on the frame grid, dB values and a known dip."""

from __future__ import annotations

import numpy as np
import pytest

from gru_attn.frames import HOP, SAMPLE_RATE, num_frames
from gru_attn.level import FLOOR_DB, level_db, level_for_frames


@pytest.mark.parametrize("n", [0, 1, HOP, HOP + 1, 2 * HOP, SAMPLE_RATE, SAMPLE_RATE + 123])
def test_one_value_per_frame(n):
    assert level_db(np.ones(n, dtype=np.float32)).shape == (num_frames(n),)


def test_values_in_db_and_a_known_dip():
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    x = 0.5 * np.sin(2 * np.pi * 440 * t)  # RMS 0.5 / sqrt(2): -9.03 dB
    x[int(0.99 * SAMPLE_RATE) : int(1.01 * SAMPLE_RATE)] *= 0.1  # 20 ms 20 dB quieter, centred on 1.0 s
    level = level_db(x)
    assert level[10] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    # frame 49 is centred on 1.0 s: half of its 40 ms window is the quiet part
    assert np.argmin(level[5:-5]) + 5 == 49
    assert level[49] == pytest.approx(10 * np.log10((1 + 0.01) / 2 * 0.125), abs=0.1)
    assert level[46] == pytest.approx(level[10], abs=0.05) and level[52] == pytest.approx(level[10], abs=0.05)
    # silence is floored; a window running past the end counts zeros there
    assert level_db(np.zeros(SAMPLE_RATE)).max() == FLOOR_DB
    tail = level_db(np.ones(2 * SAMPLE_RATE + 160))  # the last frame's window holds 480 samples of audio
    assert tail[-1] == pytest.approx(10 * np.log10(480 / 640)) and tail[-2] == pytest.approx(0.0)


def test_level_for_frames_trims_and_pads():
    x = np.ones(SAMPLE_RATE)
    n = num_frames(len(x))
    assert level_for_frames(x, n - 2).shape == (n - 2,)
    padded = level_for_frames(x, n + 2)
    assert padded.shape == (n + 2,) and padded[-1] == padded[n - 1]
    assert (level_for_frames(np.zeros(0), 3) == FLOOR_DB).all()
    with pytest.raises(ValueError):
        level_db(np.ones((2, 100)))
