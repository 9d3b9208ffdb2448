"""The one exception type for bad user input, and the command-line plumbing around it.

Raised where bad input is first seen, with a one-line message that names the file
(or option) and says what was expected. Command-line entry points catch it and
print ``error: <message>`` instead of a traceback (:func:`print_error`); their argument
parsers (:class:`ArgumentParser`) report a bad option the same way, in one line.
"""

from __future__ import annotations

import argparse
import re
import sys


class InputError(ValueError):
    """Bad input: a missing or unreadable file, a wrong shape, NaNs, a bad option."""


def print_error(message) -> None:
    """Print ``error: <message>`` on stderr, one line per line of ``message``."""
    for line in str(message).splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line, ``error: <option>: <reason>``, exit 2
    (argparse itself prints the usage, then ``<prog>: error: argument <option>: <reason>``)."""

    def error(self, message: str):
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        found = re.match(r"the following arguments are required: (.+)", message)
        if found:
            message = f"{found.group(1)}: required (see --help)"
        print_error(message.splitlines()[0] if message else "bad arguments (see --help)")
        sys.exit(2)


def safe_streams() -> None:
    """Let stdout / stderr print any file name: characters their encoding cannot show (names that
    are not UTF-8, decoded by Python with ``surrogateescape``) are escaped instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream
                pass
