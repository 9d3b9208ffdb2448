"""The synthetic singer: a seeded, deterministic song renderer with exact labels.

:func:`render_song` turns ``(seed, split, index)`` into a :class:`Song` (16 kHz int16
audio, notes, the true f0 per 20 ms frame and the syllable timing behind the labels);
``gru_attn.synth`` writes songs into the cached corpus. Needs only numpy and scipy.

Rooms, in the order a song is made (``song.render_song`` calls them):
- ``score``: the singer's range and timbre, and the melody (key, tempo, phrases, legato, melismas);
- ``voice``: articulation, the syllable timing behind the labels, f0 / voicing / level /
  formant tracks on a 2.5 ms control grid, additive synthesis of the dry voice;
- ``mix``: accompaniment, room reverb and the recording chain;
- ``song``: per-song random streams, the mix to int16, labels and true f0 per frame;
- ``control``: the control grid and the small signal helpers they share.

Each room's docstring says what it draws.

Labels (the vowel-onset convention)
-----------------------------------
Notes carry their onset and offset in seconds and the nominal integer MIDI pitch.
A note starts where its vowel starts: any leading consonant lies before the onset,
after silence and inside legato lines alike (between two connected notes the
consonant ends at the second note's onset). In a melisma (a connected note on the
previous note's vowel) the onset is the centre of the pitch glide to the new note. A
note ends where its voiced part ends: at the end of its release, where an unvoiced
consonant before the next note starts, or, when the next note follows through a voiced
consonant, a re-attack or a melisma, at the next note's onset (a shared boundary). A
re-attack (a legato repeat of the same pitch on the same vowel, through a short dip of
the voicing) starts where the dip ends. ``Song.phonemes``
holds this timing (consonant start, vowel start, voicing end, consonant class per note),
exact to one 2.5 ms control step. The true f0 file holds the smooth f0 contour at each
frame centre (jitter and fry, which average out within a frame, are left out); a frame
is voiced where the voicing envelope is at least 10 % of full, so unvoiced consonants
are unvoiced and voiced ones (and their pitch glides) voiced. Over the middle 80 % of
every note the contour stays within 100 cents of the labelled pitch and its median
within 50 cents (``tests/test_synth.py`` checks both).

Determinism: song ``i`` of split ``s`` draws from ``numpy`` generators seeded by
``(seed, s, i)`` (separate streams for its length, the voice, the accompaniment, the
room and the recording chain), so a song does not depend on the other songs or on the
split sizes, and the voice and labels do not depend on the mix. Same arguments, same bytes.
"""

from gru_attn.data.singer.score import MIDI_HIGH, MIDI_LOW
from gru_attn.data.singer.song import SINGER_VERSION, SPLITS, Song, accompanied, render_song, song_length, song_name
from gru_attn.data.singer.voice import Phonemes

__all__ = [
    "MIDI_HIGH",
    "MIDI_LOW",
    "SINGER_VERSION",
    "SPLITS",
    "Phonemes",
    "Song",
    "accompanied",
    "render_song",
    "song_length",
    "song_name",
]
