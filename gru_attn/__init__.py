"""gru_attn: singing-voice note transcription with a GRU + multi-head-attention network.

Data flows one way: audio -> CFP features + pitch contour -> 19-frame windows ->
model -> per-frame sdt6 probabilities -> notes -> metrics / MIDI.
"""

__version__ = "0.1.0"
