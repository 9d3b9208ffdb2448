"""Audio loading: VOCANO's int16 scaling, channels, resampling, formats, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from gru_attn.audio import MIN_CFP_SAMPLES, check_cfp_audio, load_audio
from gru_attn.errors import InputError
from gru_attn.frames import SAMPLE_RATE


@pytest.fixture
def int16_tone() -> np.ndarray:
    """(16000,) int16: 1 s of a 220 Hz tone plus noise, using most of the 16-bit range."""
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    x = 0.7 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)


def test_int16_scaling_is_vocanos_float32_division(tmp_path, int16_tone):
    sf.write(tmp_path / "a.wav", int16_tone, SAMPLE_RATE, subtype="PCM_16")
    audio = load_audio(tmp_path / "a.wav")
    assert audio.dtype == np.float32 and audio.shape == int16_tone.shape
    np.testing.assert_array_equal(audio, int16_tone.astype(np.float32) / np.float32(32767.0))
    assert not np.array_equal(audio, (int16_tone / 32768.0).astype(np.float32))


def test_flac_16bit_equals_wav(tmp_path, int16_tone):
    sf.write(tmp_path / "a.wav", int16_tone, SAMPLE_RATE, subtype="PCM_16")
    sf.write(tmp_path / "a.flac", int16_tone, SAMPLE_RATE, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(tmp_path / "a.flac"), load_audio(tmp_path / "a.wav"))


def test_float_wav_matches_int16_wav(tmp_path, int16_tone):
    scaled = int16_tone.astype(np.float32) / np.float32(32767.0)
    sf.write(tmp_path / "f.wav", scaled, SAMPLE_RATE, subtype="FLOAT")
    sf.write(tmp_path / "i.wav", int16_tone, SAMPLE_RATE, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(tmp_path / "f.wav"), load_audio(tmp_path / "i.wav"))


def test_24bit_is_read_as_float(tmp_path, int16_tone):
    sf.write(tmp_path / "a.wav", int16_tone.astype(np.float64) / 32768.0, SAMPLE_RATE, subtype="PCM_24")
    audio = load_audio(tmp_path / "a.wav")
    np.testing.assert_allclose(audio, int16_tone / 32768.0, atol=1e-6)


def test_stereo_of_identical_channels_equals_mono(tmp_path, int16_tone):
    sf.write(tmp_path / "m.wav", int16_tone, SAMPLE_RATE, subtype="PCM_16")
    sf.write(tmp_path / "s.wav", np.stack([int16_tone, int16_tone], axis=1), SAMPLE_RATE, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(tmp_path / "s.wav"), load_audio(tmp_path / "m.wav"))


def test_stereo_is_averaged_after_scaling(tmp_path, int16_tone):
    stereo = np.stack([int16_tone, (int16_tone // 2).astype(np.int16)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, SAMPLE_RATE, subtype="PCM_16")
    expected = (stereo.astype(np.float32) / np.float32(32767.0)).mean(axis=1)
    np.testing.assert_array_equal(load_audio(tmp_path / "s.wav"), expected)


@pytest.mark.parametrize("rate", [44100, 22050, 48000, 8000])
def test_other_rates_are_resampled_to_16k(tmp_path, rate):
    n = rate  # 1 s
    t = np.arange(n) / rate
    sf.write(tmp_path / "a.wav", 0.5 * np.sin(2 * np.pi * 440 * t), rate, subtype="FLOAT")
    audio = load_audio(tmp_path / "a.wav")
    assert audio.dtype == np.float32 and audio.shape == (SAMPLE_RATE,)
    # still a 440 Hz tone: the spectral peak of the middle half sits at 440 Hz
    mid = audio[4000:12000]
    peak_hz = np.argmax(np.abs(np.fft.rfft(mid * np.hanning(mid.size)))) * SAMPLE_RATE / mid.size
    assert abs(peak_hz - 440) <= 2


def test_44k1_resampled_length(tmp_path):
    n = 12345
    sf.write(tmp_path / "a.wav", np.full(n, 0.1), 44100, subtype="FLOAT")
    assert load_audio(tmp_path / "a.wav").shape == (int(np.ceil(n * 160 / 441)),)


def test_ogg_vorbis(tmp_path):
    if "OGG" not in sf.available_formats():
        pytest.skip("libsndfile without OGG support")
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sf.write(tmp_path / "a.ogg", 0.5 * np.sin(2 * np.pi * 440 * t), SAMPLE_RATE, format="OGG", subtype="VORBIS")
    audio = load_audio(tmp_path / "a.ogg")
    assert audio.dtype == np.float32 and abs(audio.size - SAMPLE_RATE) < 2000 and np.abs(audio).max() > 0.3


def _error_for(path) -> str:
    with pytest.raises(InputError) as info:
        load_audio(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "no such file" in _error_for(tmp_path / "missing.wav")


def test_folder_is_not_a_file(tmp_path):
    assert "not a file" in _error_for(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "empty file" in _error_for(tmp_path / "empty.wav")


def test_non_audio_file(tmp_path):
    (tmp_path / "text.wav").write_text("this is not audio\n" * 20)
    assert "not a readable audio file" in _error_for(tmp_path / "text.wav")


def test_truncated_header(tmp_path, int16_tone):
    sf.write(tmp_path / "a.wav", int16_tone, SAMPLE_RATE, subtype="PCM_16")
    (tmp_path / "cut.wav").write_bytes((tmp_path / "a.wav").read_bytes()[:20])
    assert "not a readable audio file" in _error_for(tmp_path / "cut.wav")


def test_zero_length_audio(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    assert "no audio samples" in _error_for(tmp_path / "zero.wav")


def test_check_cfp_audio_accepts_two_frames():
    check_cfp_audio(0.1 * np.ones(MIN_CFP_SAMPLES, dtype=np.float32))


@pytest.mark.parametrize(
    "audio, words",
    [
        (0.1 * np.ones(MIN_CFP_SAMPLES - 1), "too short"),
        (0.1 * np.ones(10), "too short"),
        (np.zeros(16000), "silent"),
        (np.full(16000, 5e-5), "silent"),
        (np.full(16000, np.nan), "NaN"),
        (np.ones((2, 16000)), "shape"),
    ],
)
def test_check_cfp_audio_rejects(audio, words):
    with pytest.raises(InputError, match=words) as info:
        check_cfp_audio(audio, "song.wav")
    assert str(info.value).startswith("song.wav: ")
