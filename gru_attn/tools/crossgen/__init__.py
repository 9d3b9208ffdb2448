"""A cross-generator evaluation set: sampled GM voices rendered by fluidsynth, scored per condition.

    python -m gru_attn.crossgen [--out DIR] [--songs 8] [--seconds 30] [--seed 0]     # generate only
    python -m gru_attn.crossgen --ckpt CHECKPOINT [--pitch-method praat|world|harvest] [--report DIR]

The training corpus comes from the project's own singer (``gru_attn.synth``). This set
shares no code with it: melodies come from a small composer (``compose``), the voice
is a General MIDI soundfont's sampled "Choir Aahs" / "Voice Oohs" / "Synth Voice"
(programs 52-54, 0-based) rendered by the ``fluidsynth`` program, with pitch bends for
vibrato and glides and CC11 (expression) for dynamics. It is for evaluation only:
never train on it, never pick thresholds or checkpoints with it.

Needs the ``fluidsynth`` program and a GM soundfont (Debian:
``apt-get install fluidsynth fluid-soundfont-gm``, which installs
``/usr/share/sounds/sf2/FluidR3_GM.sf2``; ``--soundfont`` picks another).

Conditions (each its own songs):

=============  ==============================================================================
condition      audio
=============  ==============================================================================
clean          the voice alone, dry
accompaniment  voice + a GM accompaniment stem (chords of the song's key on piano, guitar,
               strings or pad, and a bass), rendered separately and mixed so that the RMS
               voice-to-accompaniment ratio is 6-12 dB
reverb         the dry voice convolved with a synthetic room (RT60 0.3-1.0 s) plus white,
               pink or brown noise at 15-30 dB SNR
=============  ==============================================================================

Layout under ``--out`` (default ``generated/crossgen``)::

    <condition>/wav/<condition>_NNN.wav      16 kHz mono, 16-bit PCM
    <condition>/notes/<condition>_NNN.csv    reference notes (onset, offset s, midi)
    <condition>/meta/<condition>_NNN.json    the song's draw (key, program, ratio, RT60, SNR)
    set.json                                 settings, fluidsynth version, soundfont, calibration

so ``python -m gru_attn.evaluate --ckpt C --wav-dir DIR/clean/wav --notes-dir DIR/clean/notes``
also reads it. Generation is seeded and cached: a set whose ``set.json`` matches the
settings is reused; the same seed, fluidsynth and soundfont give the same bytes.

Label convention (as the corpus's): a note starts where its voiced sound starts and
ends where it stops. Every note fades in and out by CC11 ramps; each note's sample is
started silently ``PREROLL`` s early so the sample's own slow swell is hidden, and
sounds on its own MIDI channel (channels rotate, so a previous note's release tail is
silenced by its channel's CC11 = 0 and never blurs the next note). The delay between
the scheduled start and the energy rise, and between the scheduled end and the energy
fall, are measured per program on isolated rendered notes (:func:`calibrate.calibrate`: the
times the 10 ms RMS crosses 15 dB below the sustain level) and added to the labels.
Connected (legato) notes are sung on one channel, so one sample sounds throughout:
either a melisma, a pitch-bend glide whose midpoint is the shared boundary, or a
voiced consonant (m, n, l), a 12-24 dB expression dip ending at the next note's
vowel (the shared boundary) with the pitch move inside it; repeated same-pitch notes
are always joined by such a dip or separated by a gap. Detached notes are separated
by a silent 40-150 ms gap (an unvoiced consonant or a breath).

With ``--ckpt``, every condition is transcribed and scored with
:func:`gru_attn.evaluate.evaluate` (mir_eval COnPOff / COnP / COn F1, macro mean over
songs) beside a baseline: the Praat contour segmented by
:func:`gru_attn.labels.pitch_to_notes`. The table (markdown) and all numbers (JSON)
go to ``--report`` (default ``<out>/report``) as ``<run>_<stem>.md/.json`` for
``<run>/checkpoints/<stem>.pt`` (else ``<stem>.md/.json``).
Exit status 0, or 2 for a missing tool, a bad option or checkpoint.

Rooms, in the order a set is made: ``compose`` (the melody and its reference labels),
``midi`` (the melody and an accompaniment as MIDI files), ``render`` (fluidsynth, room and
noise), ``calibrate`` (label delays per GM program), ``song`` (one song of a condition),
``cache`` (the seeded, cached set on disk), ``report`` (scoring a checkpoint against the
baseline) and ``cli`` (the command line, run as ``python -m gru_attn.crossgen``).
"""

from gru_attn.tools.crossgen.cache import generate
from gru_attn.tools.crossgen.render import DEFAULT_SOUNDFONT
from gru_attn.tools.crossgen.report import condition_dirs, evaluate_set, format_markdown
from gru_attn.tools.crossgen.song import CONDITIONS, VOICE_PROGRAMS, render_song, song_name

__all__ = [
    "CONDITIONS",
    "DEFAULT_SOUNDFONT",
    "VOICE_PROGRAMS",
    "condition_dirs",
    "evaluate_set",
    "format_markdown",
    "generate",
    "render_song",
    "song_name",
]
