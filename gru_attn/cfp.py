"""VOCANO-exact CFP (combined frequency and periodicity) features, vectorised over frames
(scipy FFTs on CPU, torch on CUDA).

Reproduces VOCANO's extractor (``cfp_feature_extraction`` + ``full_feature_extraction``)
to float32 round-off; every quirk is documented in
``tests/fixtures/vocano_cfp/README.md`` and cited below by its item number there.

Per window of ``W`` taps (186, 372, 743; 2049 for :func:`melody_z`) and per frame
``k`` (reference sample ``c = 320 (k + 1) - 1``, see :mod:`gru_attn.frames`):

1. taps ``x[c - Lh ... c + Lh - 1]`` (``Lh = (W - 1) // 2``) weighted by
   ``h[W-1], h[0], ..., h[2Lh-2]`` of a symmetric Blackman-Harris window (the first
   tap index wraps, item 1); samples outside ``[0, N - 2]`` are dropped (item 2) and
   the used weights are L2-normalised per frame;
2. ``S = |FFT_8000|^0.24``; cepstrum ``C = Re(FFT(S)) / sqrt(8000)``, negatives and
   quefrencies ``[0:16]`` and ``[-16:]`` zeroed, ``C^0.6``; generalised spectrum
   ``G = Re(FFT(C)) / sqrt(8000)``, negatives and ``[0:40]`` zeroed (item 3);
3. triangular log-frequency filterbanks (48 bins per octave from 80 Hz, 174 rows, row 0
   empty; row ``i`` centred at ``80 * 2 ** (i / 48)`` Hz, the package's one pitch grid,
   :func:`bin_to_hz`) map ``S[0:501]`` -> ``tfrL0``, ``G[0:501]`` -> ``tfrLF`` (item 4) and
   ``C[0:201]`` -> ``tfrLQ`` (item 5).

Features: rows ``174 b ... 174 b + 173`` of the ``(1566, T)`` output hold block ``b`` in
the order SN1 SN2 SN3 SIN1 SIN2 SIN3 ZN1 ZN2 ZN3 (SN/SIN = rising/falling spectral
flux of ``tfrL0``, Z = ``tfrLF * tfrLQ``), each z-scored over its whole 174 x T slab.

Implementation notes. The chain is float64 up to ``C^0.6`` (float32 there loses 5e-2:
``^0.6`` of a round-off error ``d`` is ``d^0.6``); the last transform, ``C^0.6 -> G``, feeds
only a filterbank, so float32 keeps its error relative (2e-6 on the features).
``S`` is real and even, so ``Re(FFT(S))`` is a DCT-I of its first 4001 values; ``C`` after
the cut is even except that index 16 survives while its mirror 7984 is zeroed, so
``Re(FFT(C))`` is the DCT-I of ``C[0:4001]`` with ``C[16]`` halved. Both are computed
unnormalised (scipy's real DCT-I on CPU, ``irfft`` on CUDA) and the ``1/sqrt(8000)`` factors
are applied to the small (174, F) maps instead. Powers are ``exp(g log x)`` (faster
than ``pow`` on CPU), ``|X|^0.24`` is computed from ``|X|^2``; the filterbanks are sparse.
Frames are processed in batches of ``batch_frames`` (on CPU by single-threaded workers,
one per torch thread); per window only ``tfrL0`` and ``Z`` (174 x T float64 each) are kept
until that window's blocks are z-scored over the whole file, so memory is the output plus
two such maps.
"""

from __future__ import annotations

import contextlib
import functools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np
import scipy.fft
import torch

from gru_attn.audio import check_cfp_audio
from gru_attn.devices import resolve_device, single_thread_workers
from gru_attn.errors import InputError
from gru_attn.frames import HOP, SAMPLE_RATE, num_frames

N_FFT = 8000  # fs / fr with fr = 2 Hz
N_BINS = 174  # log-frequency rows per block
N_BLOCKS = 9  # SN1-3, SIN1-3, ZN1-3
N_FEATURES = N_BINS * N_BLOCKS  # 1566
WINDOW_SIZES = (186, 372, 743)  # Blackman-Harris taps of blocks 1, 2, 3
MELODY_WINDOW = 2049
GAMMAS = (0.24, 0.6, 1.0)  # spectrum, cepstrum, generalised spectrum (^1 is a no-op)
F_LOW = 80.0  # Hz, lowest central frequency (fc)
F_HIGH = 1000.0  # Hz, 1 / tc
BINS_PER_OCTAVE = 48
CEPS_CUT = 16  # round(fs * tc): low quefrencies zeroed
SPEC_CUT = 40  # round(fc / fr): low frequency bins zeroed
N_SPEC = 501  # spectral bins kept: round(F_HIGH / fr) + 1
N_QUEF = 201  # quefrency bins kept: round(fs / F_LOW) + 1
BATCH_FRAMES = 32  # frames per vectorised batch on CPU
CUDA_BATCH_FRAMES = 1024  # frames per vectorised batch on CUDA (fewer kernel launches)
ZSCORE_ROWS = 16  # rows per slab when z-scoring a block (a small temporary instead of a whole block)
SPEC_AXIS_HZ = SAMPLE_RATE * np.linspace(0.0, 0.5, N_FFT // 2)[:N_SPEC]  # (501,) Hz: bin j at 8000 j / 3999 (item 4)
QUEF_AXIS_HZ = 1.0 / (np.arange(N_QUEF) / SAMPLE_RATE + 1e-8)  # (201,) Hz: quefrency j / 16000 s (item 5)

_TINY = float(np.finfo(np.float64).tiny)
Layers = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def central_freqs() -> np.ndarray:
    """(175,) float64 Hz: ``80 * 2**(i / 48)`` for i = 0..174 (all centres below 1000 Hz)."""
    n = int(np.floor(np.log2(F_HIGH / F_LOW) * BINS_PER_OCTAVE)) + 1
    return np.array([F_LOW * 2.0 ** (i / BINS_PER_OCTAVE) for i in range(n)])


def bin_to_hz(bins) -> np.ndarray:
    """Fractional CFP rows (any shape) -> Hz: row ``i`` is centred at ``80 * 2 ** (i / 48)``.

    The pitch grid of the whole package: the model's pitch head, its loss and the
    pitch-shift augmentation all count in these rows (48 per octave, 25 cents apart).
    """
    return F_LOW * 2.0 ** (np.asarray(bins, dtype=np.float64) / BINS_PER_OCTAVE)


def hz_to_bin(hz) -> np.ndarray:
    """Hz (any shape) -> fractional CFP rows (inverse of :func:`bin_to_hz`); NaN where ``hz <= 0``."""
    hz = np.asarray(hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hz > 0, BINS_PER_OCTAVE * np.log2(np.where(hz > 0, hz, 1.0) / F_LOW), np.nan)


def _triangles(axis_hz: np.ndarray) -> np.ndarray:
    """(174, len(axis_hz)) float64 triangular weights of the bins at ``axis_hz`` (Hz).

    Row r rises over (cf[r-1], cf[r]) and falls over (cf[r], cf[r+1]) with strict
    inequalities (a bin exactly on an edge or centre weighs 0); row 0 stays empty and
    rows are not area-normalised, as in VOCANO.
    """
    cf = central_freqs()
    f = axis_hz[None, :]
    lo, mid, hi = cf[:-2, None], cf[1:-1, None], cf[2:, None]
    rising = np.where((f > lo) & (f < mid), (f - lo) / (mid - lo), 0.0)
    falling = np.where((f > mid) & (f < hi), (hi - f) / (hi - mid), 0.0)
    weights = np.zeros((N_BINS, axis_hz.size))
    weights[1:] = rising + falling
    return weights


@functools.lru_cache(maxsize=None)
def _filterbanks(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse (COO) filterbanks on ``device``: spectral (174, 501) and quefrency (174, 201).

    Rows are :func:`_triangles` on ``SPEC_AXIS_HZ`` and ``QUEF_AXIS_HZ``. About 900 and 360
    weights are non-zero, so the product is sparse.
    """
    return tuple(torch.from_numpy(_triangles(axis)).to_sparse().to(device) for axis in (SPEC_AXIS_HZ, QUEF_AXIS_HZ))


def blackman_harris(window: int) -> np.ndarray:
    """(window,) float64 symmetric 4-term Blackman-Harris window (``scipy.signal.windows.blackmanharris``).

    Written out so that importing this module does not pull in ``scipy.signal`` (~50 MB).
    """
    phase = 2.0 * np.pi * np.arange(window) / (window - 1)
    return 0.35875 - 0.48829 * np.cos(phase) + 0.14128 * np.cos(2 * phase) - 0.01168 * np.cos(3 * phase)


@functools.lru_cache(maxsize=None)
def _taps(window: int, device: torch.device) -> torch.Tensor:
    """(2 Lh,) float64 window weights for tap offsets -Lh ... Lh-1: h[W-1], h[0], ..., h[2Lh-2]."""
    h = blackman_harris(window)
    half = (window - 1) // 2
    return torch.from_numpy(np.concatenate([h[-1:], h[: 2 * half - 1]])).to(device)


def _frames(x: torch.Tensor, window: int, start: int, stop: int) -> torch.Tensor:
    """(stop - start, 2 Lh) float64 weighted, L2-normalised taps of frames ``start:stop``.

    ``x`` (N,) is the whole signal; taps outside samples ``[0, N - 2]`` are dropped
    (item 2), and each frame is divided by the norm of the weights it actually uses.
    """
    taps = _taps(window, x.device)
    half = taps.numel() // 2
    n_usable = x.numel() - 1  # the last sample is never used
    first = HOP * (start + 1) - 1 - half  # sample under the first tap of frame `start`
    last = HOP * stop - 1 + half  # one past the last tap of frame `stop - 1`
    if first >= 0 and last <= n_usable:  # no frame of the batch reaches an edge
        return x[first:last].to(torch.float64).unfold(0, 2 * half, HOP) * _unit(taps)
    segment = x[max(first, 0) : min(last, n_usable)].to(torch.float64)
    segment = torch.nn.functional.pad(segment, (max(-first, 0), max(last - n_usable, 0)))
    index = first + HOP * torch.arange(stop - start, device=x.device)[:, None] + torch.arange(2 * half, device=x.device)
    return segment.unfold(0, 2 * half, HOP) * _unit(taps * ((index >= 0) & (index < n_usable)))


def _unit(weights: torch.Tensor) -> torch.Tensor:
    """``weights`` (..., n) divided by their L2 norm along the last axis."""
    return weights / torch.linalg.vector_norm(weights, dim=-1, keepdim=True)


def _positive_power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """In-place ``max(x, 0) ** exponent`` computed as ``exp(exponent * log x)``; zeros stay 0.

    ``log``/``exp`` are faster than ``pow`` on CPU but slow on 0 and -inf, so
    non-positive entries are lifted to the smallest normal double and the result is
    thresholded back to 0 (no real value of this chain is that small).
    """
    x.clamp_min_(_TINY).log_().mul_(exponent).exp_()
    return torch.nn.functional.threshold_(x, 2.0 * _TINY**exponent, 0.0)


def _cosine_transform(x: torch.Tensor) -> torch.Tensor:
    """(F, 4001) real -> (F, 4001) real, same dtype: the unnormalised 8000-point FFT of the even
    sequence whose first half is ``x`` (a DCT-I: ``y[k] = x[0] + (-1)^k x[4000]
    + 2 sum_{n=1}^{3999} x[n] cos(pi n k / 4000)``); ``x`` may be overwritten.

    CPU: scipy's real-to-real DCT-I (torch has none; its ``irfft`` first copies the real input
    to a complex one, which is slower). CUDA: ``irfft`` with no normalisation.
    """
    if x.device.type == "cpu":
        return torch.from_numpy(scipy.fft.dct(x.numpy(), type=1, overwrite_x=True))
    return torch.fft.irfft(x, n=N_FFT, norm="forward")


def _power_spectrum(frames: torch.Tensor) -> torch.Tensor:
    """(F, 2 Lh) frames -> (F, 4001) ``|X|^2`` of their 8000-point FFTs (the complex X is freed on return).

    CPU: scipy's FFT, as for :func:`_cosine_transform` (as fast as torch's here, and it
    saves loading a second FFT library); CUDA: torch's.
    """
    if frames.device.type == "cpu":
        x = torch.from_numpy(scipy.fft.rfft(frames.numpy(), n=N_FFT))
    else:
        x = torch.fft.rfft(frames, n=N_FFT)
    return x.real.square().addcmul_(x.imag, x.imag)


def _layers(frames: torch.Tensor) -> Layers:
    """(F, 2 Lh) weighted frames -> (tfrL0, tfrLF, tfrLQ), each (174, F) float64.

    The cosine transforms are unnormalised, so they give ``sqrt(N) C`` and, after the power,
    ``(sqrt(N) C)^0.6 = N^0.3 C^0.6`` and ``N^0.8 G``; the two small maps are rescaled at the end.
    """
    spec_fb, quef_fb = _filterbanks(frames.device)
    spectrum = _power_spectrum(frames).log_().mul_(GAMMAS[0] / 2).exp_()  # S = |X|^0.24 (|X| = 0: exp(-inf) = 0)
    tfr_l0 = torch.sparse.mm(spec_fb, spectrum[:, :N_SPEC].T)
    ceps = _positive_power(_cosine_transform(spectrum), GAMMAS[1])  # (sqrt(N) C)^0.6
    ceps[:, :CEPS_CUT] = 0.0
    tfr_lq = torch.sparse.mm(quef_fb, ceps[:, :N_QUEF].T).mul_(N_FFT ** (-GAMMAS[1] / 2))
    ceps[:, CEPS_CUT] *= 0.5  # even part: C[16] is kept but its mirror C[7984] was zeroed
    gen = _cosine_transform(ceps.to(torch.float32))[:, :N_SPEC].to(torch.float64).clamp_min_(0.0)  # N^0.8 G
    gen[:, :SPEC_CUT] = 0.0
    return tfr_l0, torch.sparse.mm(spec_fb, gen.T).mul_(N_FFT ** (-GAMMAS[1] / 2 - 0.5)), tfr_lq


def _keep_l0_z(l0: torch.Tensor, lf: torch.Tensor, lq: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """What the features need: tfrL0 (for the flux blocks) and Z = tfrLF * tfrLQ."""
    return l0, lf * lq


def _keep_z(l0: torch.Tensor, lf: torch.Tensor, lq: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Z = tfrLF * tfrLQ only (melody)."""
    return (lf * lq,)


def _keep_all(l0: torch.Tensor, lf: torch.Tensor, lq: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The three raw layers (parity checks)."""
    return l0, lf, lq


@contextlib.contextmanager
def _batch_pool(x: torch.Tensor) -> Iterator[ThreadPoolExecutor | None]:
    """Workers for the batches of ``x``: on CPU ``torch.get_num_threads()`` single-threaded ones
    (:func:`gru_attn.devices.single_thread_workers`); None (batches in turn) on CUDA or with one thread."""
    workers = torch.get_num_threads() if x.device.type == "cpu" else 1
    if workers <= 1:
        yield None
        return
    with single_thread_workers(workers) as pool:
        yield pool


def _new_maps(x: torch.Tensor, count: int) -> tuple[np.ndarray, ...]:
    """``count`` uninitialised (174, T) float64 maps for the frames of ``x``."""
    return tuple(np.empty((N_BINS, num_frames(x.numel()))) for _ in range(count))


def _fill_maps(
    maps: tuple[np.ndarray, ...],
    x: torch.Tensor,
    window: int,
    batch_frames: int | None,
    keep: Callable[..., tuple[torch.Tensor, ...]],
    pool: ThreadPoolExecutor | None,
) -> None:
    """Run the chain over all frames of ``x`` batch by batch, writing ``maps`` ((174, T) float64 each).

    ``keep`` maps a batch's layers (tfrL0, tfrLF, tfrLQ), (174, F) each, to one (174, F)
    piece per map. ``batch_frames`` None: ``BATCH_FRAMES`` on CPU, ``CUDA_BATCH_FRAMES`` on
    CUDA. Chunks run on ``pool`` (:func:`_batch_pool`), or in turn.
    """
    n_frames = num_frames(x.numel())
    if batch_frames is None:
        batch_frames = BATCH_FRAMES if x.device.type == "cpu" else CUDA_BATCH_FRAMES

    def run(start: int) -> None:
        stop = min(start + batch_frames, n_frames)
        with torch.inference_mode():
            for out, kept in zip(maps, keep(*_layers(_frames(x, window, start, stop)))):
                out[:, start:stop] = kept.cpu().numpy()

    starts = range(0, n_frames, batch_frames)
    if pool is None:
        for start in starts:
            run(start)
    else:
        list(pool.map(run, starts))


def _signal(audio: np.ndarray, source: str, device: str | torch.device, dtype=None) -> torch.Tensor:
    """Checked (N,) tensor on the resolved device (float32 or float64, cast per batch)."""
    audio = np.asarray(audio, dtype=dtype)
    check_cfp_audio(audio, source)
    if audio.dtype not in (np.float32, np.float64):
        audio = audio.astype(np.float64)
    return torch.from_numpy(np.ascontiguousarray(audio)).to(resolve_device(device))


def _zscore(rows_of: Callable[[slice], np.ndarray], out: np.ndarray, source: str) -> None:
    """Write ``(X - mean) / std`` of a (174, T) float64 block ``X`` into ``out`` (float32, same
    shape): mean and population std over the whole block, as VOCANO.

    ``rows_of(rows)`` gives ``X[rows]``; it is called slab by slab (``ZSCORE_ROWS`` rows, three
    times each), so no block-sized temporary is ever made.
    """
    slabs = [slice(r, min(r + ZSCORE_ROWS, N_BINS)) for r in range(0, N_BINS, ZSCORE_ROWS)]
    mean = math.fsum(float(rows_of(rows).sum()) for rows in slabs) / out.size
    std = math.sqrt(math.fsum(float(np.square(rows_of(rows) - mean).sum()) for rows in slabs) / out.size)
    if not std > 0:
        raise InputError(f"{source}: CFP block has no variation (silent or degenerate audio)")
    for rows in slabs:
        np.divide(rows_of(rows) - mean, std, out=out[rows], casting="same_kind")


def _flux(tfr: np.ndarray, invert: bool) -> Callable[[slice], np.ndarray]:
    """Rows of the spectral flux of (174, T) ``tfr``: the first difference over time (column 0 =
    0), negated for the falling flux when ``invert``, negatives -> 0; for :func:`_zscore`."""

    def rows_of(rows: slice) -> np.ndarray:
        diff = np.zeros_like(tfr[rows])
        np.subtract(tfr[rows, 1:], tfr[rows, :-1], out=diff[:, 1:])
        if invert:
            np.negative(diff, out=diff)
        return np.maximum(diff, 0.0, out=diff)

    return rows_of


def _block(b: int) -> slice:
    """Rows of feature block ``b`` (0..8) in the (1566, T) layout."""
    return slice(N_BINS * b, N_BINS * (b + 1))


def cfp_features(
    audio: np.ndarray, device: str | torch.device = "cpu", batch_frames: int | None = None, source: str = "audio"
) -> np.ndarray:
    """(1566, T) float32 CFP features of 16 kHz mono ``audio`` (N,), T = floor((N - 1) / 320).

    Identical to VOCANO's ``full_feature_extraction(*cfp_feature_extraction(audio))`` up
    to float32 round-off. ``device``: "cpu", "cuda" or "auto"; ``batch_frames``: frames
    per vectorised batch (None: a per-device default). ``source`` names the input in
    error messages. Too short (< 2 frames) or silent audio -> InputError.
    Memory: the output plus two (174, T) float64 maps of one window at a time.
    """
    x = _signal(audio, source, device)
    n_windows = len(WINDOW_SIZES)
    features = np.empty((N_FEATURES, num_frames(x.numel())), dtype=np.float32)
    l0, z = _new_maps(x, 2)  # reused by the three windows
    with _batch_pool(x) as pool:
        for w, window in enumerate(WINDOW_SIZES):
            _fill_maps((l0, z), x, window, batch_frames, _keep_l0_z, pool)
            _zscore(_flux(l0, invert=False), features[_block(w)], source)  # SN
            _zscore(_flux(l0, invert=True), features[_block(n_windows + w)], source)  # SIN
            _zscore(lambda rows: z[rows], features[_block(2 * n_windows + w)], source)  # ZN
    return features


def melody_z(
    audio: np.ndarray, device: str | torch.device = "cpu", batch_frames: int | None = None, source: str = "audio"
) -> np.ndarray:
    """(174, T) float32 ``tfrLF * tfrLQ`` with the 2049-tap window (VOCANO's melody ``Z``).

    The input is rounded to float32 first, as VOCANO does; not normalised.
    """
    x = _signal(audio, source, device, dtype=np.float32)
    (z,) = maps = _new_maps(x, 1)
    with _batch_pool(x) as pool:
        _fill_maps(maps, x, MELODY_WINDOW, batch_frames, _keep_z, pool)
    return z.astype(np.float32)


def cfp_layers(
    audio: np.ndarray,
    window: int,
    device: str | torch.device = "cpu",
    batch_frames: int | None = None,
    source: str = "audio",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw layers (tfrL0, tfrLF, tfrLQ) of one window size, each (174, T) float64, unnormalised."""
    x = _signal(audio, source, device)
    maps = _new_maps(x, 3)
    with _batch_pool(x) as pool:
        _fill_maps(maps, x, window, batch_frames, _keep_all, pool)
    return maps
