"""Entry point of the cross-generator evaluation set: ``python -m gru_attn.crossgen --help``.

The set itself (composer, MIDI, fluidsynth rendering, calibration, cache, report) is
:mod:`gru_attn.tools.crossgen`.
"""

import sys

from gru_attn.tools.crossgen.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
