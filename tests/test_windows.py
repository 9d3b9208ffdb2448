"""Windows and chunks: zero padding, gathering == naive slicing, epoch coverage, no copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gru_attn.errors import InputError
from gru_attn.windows import ChunkDataset, naive_windows, pad_song

K = 3


def make_songs(lengths=(37, 5, 64), seed=0):
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((2, 6, n)).astype(np.float32), (rng.random((n, 3)) < 0.3).astype(np.uint8))
        for n in lengths
    ]


def test_pad_song():
    feats = make_songs((10,))[0][0]
    padded = pad_song(feats, K)
    assert padded.shape == (2, 6, 10 + 2 * K) and padded.dtype == np.float32
    assert not padded[:, :, :K].any() and not padded[:, :, -K:].any()
    np.testing.assert_array_equal(padded[:, :, K:-K], feats)


def test_naive_windows_slices_padded_song():
    feats = make_songs((10,))[0][0]
    windows = naive_windows(feats, [0, 4, 9], context=K)
    assert windows.shape == (3, 2, 6, 2 * K + 1)
    padded = pad_song(feats, K)
    for i, t in enumerate([0, 4, 9]):
        np.testing.assert_array_equal(windows[i], padded[:, :, t : t + 2 * K + 1])
    np.testing.assert_array_equal(windows[1], feats[:, :, 1:8])


def test_chunk_windows_equal_naive_windows():
    songs = make_songs()
    data = ChunkDataset(songs, chunk_frames=8, context=K, seed=1)
    items = [(0, -5), (0, 0), (0, 30), (1, -2), (2, 60)]  # partial chunks at both song edges
    feats, targets, mask = data.collate(items)
    assert feats.shape == (5, 2, 6, 8 + 2 * K) and feats.dtype == torch.float32
    assert targets.shape == (5, 8, 3) and targets.dtype == torch.int64
    assert mask.shape == (5, 8) and mask.dtype == torch.bool
    for b, (song, start) in enumerate(items):
        song_feats, song_targets = songs[song]
        frames = np.arange(start, start + 8)
        inside = (frames >= 0) & (frames < song_targets.shape[0])
        np.testing.assert_array_equal(mask[b].numpy(), inside)
        np.testing.assert_array_equal(targets[b].numpy()[inside], song_targets[frames[inside]])
        assert not targets[b].numpy()[~inside].any()
        windows = feats[b].unfold(2, 2 * K + 1, 1).permute(2, 0, 1, 3).numpy()  # (8, C, F, 7)
        np.testing.assert_array_equal(windows[inside], naive_windows(song_feats, frames[inside], K))
        assert not windows[~inside][:, :, :, K].any()  # centre frames outside the song are zeros


def test_epoch_covers_every_frame_once():
    songs = make_songs()
    data = ChunkDataset(songs, chunk_frames=8, context=K, seed=3)
    assert data.n_frames == 37 + 5 + 64
    for epoch in range(3):
        seen = [np.zeros(t.shape[0], dtype=int) for _, t in songs]
        batches = data.epoch_batches(epoch, batch_size=4)
        for feats, _targets, _mask in batches:
            assert feats.shape[0] <= 4
        for (song, start), m in zip(data.epoch_plan(epoch), torch.cat([b[2] for b in batches]).numpy()):
            frames = np.arange(start, start + 8)[m]
            np.add.at(seen[song], frames, 1)
        assert all((s == 1).all() for s in seen)


def test_epoch_plan_is_seeded_and_varies():
    data = ChunkDataset(make_songs(), chunk_frames=8, context=K, seed=3)
    np.testing.assert_array_equal(data.epoch_plan(1), data.epoch_plan(1))
    assert not np.array_equal(data.epoch_plan(1), data.epoch_plan(2))
    other = ChunkDataset(make_songs(), chunk_frames=8, context=K, seed=4)
    assert not np.array_equal(data.epoch_plan(1), other.epoch_plan(1))


def test_epoch_batches_sequence():
    data = ChunkDataset(make_songs(), chunk_frames=8, context=K)
    batches = data.epoch_batches(0, batch_size=5)
    n_chunks = len(data.epoch_plan(0))
    assert len(batches) == -(-n_chunks // 5)
    assert len(batches[:2]) == 2
    torch.testing.assert_close(batches[:2][1][0], batches[1][0])
    assert batches[-1][0].shape[0] == n_chunks - 5 * (len(batches) - 1)
    with pytest.raises(InputError, match="batch_size"):
        data.epoch_batches(0, batch_size=0)


def test_songs_stored_once_without_copy():
    songs = make_songs()
    data = ChunkDataset(songs, chunk_frames=8, context=K)
    assert all(np.shares_memory(stored, feats) for stored, (feats, _) in zip(data.feats, songs))
    assert data.nbytes == sum(f.nbytes + t.nbytes for f, t in songs)


@pytest.mark.parametrize(
    "songs, kwargs, message",
    [
        ([], {}, "no songs"),
        ([(np.zeros((2, 6, 5), np.float32), np.zeros((4, 3), np.uint8))], {}, r"expected \(5, 3\)"),
        ([(np.zeros((6, 5), np.float32), np.zeros((5, 3), np.uint8))], {}, r"expected \(C, F, T\)"),
        (
            [
                (np.zeros((2, 6, 5), np.float32), np.zeros((5, 3), np.uint8)),
                (np.zeros((2, 7, 5), np.float32), np.zeros((5, 3), np.uint8)),
            ],
            {},
            "song 1",
        ),
        ([(np.zeros((2, 6, 5), np.float32), np.zeros((5, 3), np.uint8))], {"chunk_frames": 0}, "chunk_frames"),
    ],
)
def test_bad_input(songs, kwargs, message):
    with pytest.raises(InputError, match=message):
        ChunkDataset(songs, **kwargs)
