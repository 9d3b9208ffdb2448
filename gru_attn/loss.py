"""The sdt6 loss: three two-way cross-entropies, one per (voiced, onset, offset) pair.

Onset and offset frames are rare (about 1 frame in 15-25 is positive), so an
unweighted loss is minimised by predicting "no event" almost everywhere, and the
onset/offset probabilities then rarely cross the decoder's 0.5 threshold. We weight
the positive class of each pair (``*_weight``; the negative class has weight 1).

Why class weights rather than the alternatives:

- focal loss adds a focusing parameter, and its probabilities are harder to
  threshold consistently across training runs;
- soft (smoothed) labels over neighbouring frames lower the peak the decoder
  thresholds;
- a positive-class weight ``w`` shifts the decision point in a known way
  (it acts like a prior ratio of ``w``), keeps the loss a proper per-frame mean, and
  is one easily swept number per pair.

``event_width`` (frames) widens the onset and offset targets the model trains on: the
``event_width`` frames either side of a labelled event are positive too
(:func:`gru_attn.labels.widen_events`, applied by :meth:`Sdt6Loss.training_targets`
to whole songs before they are cut into chunks, and by validation for ``val/loss``).
A one-frame target asks the network to tell frame ``k`` from ``k +- 1`` (20 ms), finer
than the metrics' 50 ms onset tolerance; the curve then spreads over its neighbours
and its peak stays under the threshold. Decoding still takes the peak frame.

With the model's pitch head (181 logits per frame) and the true f0 per frame, the
loss adds ``pitch_weight * (pitch_loss + pitch_voicing_loss)``: cross-entropy of the
174 bin logits against a Gaussian over the bins (``pitch_sigma`` bins, centred on the
fractional bin of the f0) on frames whose f0 lies inside the bins' range, and a
binary cross-entropy of the voicing logit (target: f0 inside the range).

``voiced_lead_weight`` (needs the f0 per frame): the weight of the voiced pair's negative
class ("no note") on frames whose f0 is voiced, i.e. voiced consonants (m, n, l, v, z)
before a vowel, which the note convention leaves outside the note. On voices the corpus
never made, the silence/voiced head fires on them and notes start 50-120 ms early
(experiments/voiced_leads); a weight > 1 makes those frames count more. 1 leaves the loss
as it was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gru_attn.cfp import BINS_PER_OCTAVE, F_LOW
from gru_attn.contract import N_SDT_LOGITS, split_logits
from gru_attn.errors import InputError
from gru_attn.labels import PAIR_NAMES, widen_events


def pitch_targets(pitch_hz: torch.Tensor, n_bins: int, sigma: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(...,) f0 in Hz -> (soft targets (..., n_bins) summing to 1 on voiced frames, voiced (...,) bool).

    A frame is voiced when its fractional bin lies in ``[-0.5, n_bins - 0.5]`` (f0 of 0,
    or outside the CFP range, is unvoiced; its soft target is all zeros).
    """
    hz = pitch_hz.detach().float()
    bins = BINS_PER_OCTAVE * torch.log2(hz.clamp(min=1e-3) / F_LOW)  # as cfp.hz_to_bin
    voiced = (hz > 0) & torch.isfinite(hz) & (bins >= -0.5) & (bins <= n_bins - 0.5)
    centre = torch.where(voiced, bins, torch.zeros_like(bins))
    grid = torch.arange(n_bins, device=pitch_hz.device, dtype=torch.float32)
    soft = torch.exp(-0.5 * ((grid - centre[..., None]) / sigma) ** 2)
    soft = soft / soft.sum(-1, keepdim=True) * voiced[..., None]
    return soft, voiced


class Sdt6Loss(torch.nn.Module):
    """Per-pair 2-way cross-entropy over the 6 sdt6 logits, with masking and positive-class weights.

    For pair ``j`` (logits ``[2j, 2j + 1]``, target column ``j``) and a frame with
    target ``y``: ``w_j(y) * CE``, where ``w_j(1)`` is the pair's weight and
    ``w_j(0) = 1``. Each pair's loss is the sum over unmasked frames divided by the
    number of unmasked frames (a per-frame mean, so masked frames contribute
    nothing and batch size does not rescale it); the total is the sum of the pairs.
    """

    def __init__(
        self,
        onset_weight: float = 5.0,
        offset_weight: float = 5.0,
        voiced_weight: float = 1.0,
        pitch_weight: float = 1.0,
        pitch_sigma: float = 1.0,
        event_width: int = 0,
        voiced_lead_weight: float = 1.0,
    ):
        super().__init__()
        if (
            isinstance(event_width, bool)
            or not isinstance(event_width, (int, float))
            or not float(event_width).is_integer()
            or event_width < 0
        ):
            raise InputError(f"loss.event_width={event_width!r} must be a whole number of frames >= 0")
        self.event_width = int(event_width)
        if not float(pitch_weight) >= 0:
            raise InputError(f"loss.pitch_weight={pitch_weight!r} must be >= 0")
        if not float(pitch_sigma) > 0:
            raise InputError(f"loss.pitch_sigma={pitch_sigma!r} must be > 0 (bins)")
        self.pitch_weight, self.pitch_sigma = float(pitch_weight), float(pitch_sigma)
        weights = {"voiced": voiced_weight, "onset": onset_weight, "offset": offset_weight}
        if not float(voiced_lead_weight) > 0:
            raise InputError(f"loss.voiced_lead_weight={voiced_lead_weight!r} must be > 0")
        self.voiced_lead_weight = float(voiced_lead_weight)
        for name, value in weights.items():
            if not float(value) > 0:
                raise InputError(f"loss.{name}_weight={value!r} must be > 0")
        self.register_buffer("pos_weight", torch.tensor([float(weights[n]) for n in PAIR_NAMES]), persistent=False)

    def training_targets(self, targets):
        """A song's (T, 3) targets -> the (T, 3) uint8 targets this loss trains on
        (onset/offset widened by ``event_width`` frames each side)."""
        return widen_events(targets, self.event_width)

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, pitch: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """logits (B, L, 6) or (B, L, 6 + n_bins + 1), targets (B, L, 3) int64 {0, 1}, mask (B, L) bool,
        pitch (B, L) f0 in Hz (optional).

        Returns the total loss (scalar tensor, differentiable) and the detached
        per-pair losses ``{"voiced_loss", "onset_loss", "offset_loss"}``, plus
        ``pitch_loss`` and ``pitch_voicing_loss`` when the logits have the pitch
        outputs and ``pitch`` is given. With ``pitch`` and ``voiced_lead_weight != 1``,
        frames with a voiced f0 and no note weigh ``voiced_lead_weight`` in the voiced pair.
        """
        sdt6, bin_logits, voicing = split_logits(logits)
        if sdt6.shape[-1] != N_SDT_LOGITS or targets.shape != sdt6.shape[:-1] + (3,) or mask.shape != sdt6.shape[:-1]:
            raise ValueError(
                f"shapes do not match: logits {tuple(logits.shape)} (..., {N_SDT_LOGITS}), "
                f"targets {tuple(targets.shape)} (..., 3), mask {tuple(mask.shape)}"
            )
        pair_logits = sdt6.float().reshape(-1, 3, 2)  # (N, pair, class)
        y = targets.reshape(-1, 3).long()
        valid = mask.reshape(-1, 1)
        ce = F.cross_entropy(pair_logits.transpose(1, 2), y, reduction="none")  # (N, 3)
        weighted = torch.where(y == 1, self.pos_weight.to(ce) * ce, ce)
        if pitch is not None and self.voiced_lead_weight != 1.0:  # voiced frames outside notes: voiced consonants
            lead = (y[:, 0] == 0) & (pitch.reshape(-1) > 0)  # (N,): an f0 (NaN > 0 is False) and no note
            weighted[:, 0] = torch.where(lead, self.voiced_lead_weight * weighted[:, 0], weighted[:, 0])
        per_pair = torch.where(valid, weighted, 0.0).sum(0) / valid.sum().clamp(min=1)
        parts = {f"{name}_loss": per_pair[j].detach() for j, name in enumerate(PAIR_NAMES)}
        total = per_pair.sum()
        if bin_logits is not None and pitch is not None:
            if pitch.shape != mask.shape:
                raise ValueError(f"pitch has shape {tuple(pitch.shape)}, expected {tuple(mask.shape)}")
            bin_logits, voicing = bin_logits.float(), voicing.float()
            soft, voiced = pitch_targets(pitch, bin_logits.shape[-1], self.pitch_sigma)
            ce = -(soft * F.log_softmax(bin_logits, dim=-1)).sum(-1)
            on = mask & voiced
            pitch_loss = torch.where(on, ce, 0.0).sum() / on.sum().clamp(min=1)
            bce = F.binary_cross_entropy_with_logits(voicing, voiced.float(), reduction="none")
            voicing_loss = torch.where(mask, bce, 0.0).sum() / mask.sum().clamp(min=1)
            parts.update(pitch_loss=pitch_loss.detach(), pitch_voicing_loss=voicing_loss.detach())
            total = total + self.pitch_weight * (pitch_loss + voicing_loss)
        return total, parts
