"""The one error type for failures the user can fix: a bad option, a missing or broken file, a run
that does not match. The command line prints its message as a single line (no traceback) and exits
with a non-zero status; anything else that escapes a command is treated as a bug in nbskit.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure caused by what the user gave; the message alone says what to fix."""
