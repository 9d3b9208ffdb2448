"""The one exception type for bad user input.

Raised where bad input is first seen, with a one-line message that names the file
(or option) and says what was expected. Command-line entry points catch it and
print ``error: <message>`` instead of a traceback.
"""


class InputError(ValueError):
    """Bad input: a missing or unreadable file, a wrong shape, NaNs, a bad option."""
