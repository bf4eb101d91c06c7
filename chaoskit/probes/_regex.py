"""Regular expressions given in an experiment: compiled once at validation, so a bad
one is refused at its line, never at run time, and never with a traceback."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["Regex"]


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    except (RecursionError, OverflowError, MemoryError):
        # sre's parser recurses per nested group: thousands of them exhaust the stack
        raise ValueError("not a usable regular expression: nested too deeply") from None
    return value


Regex = Annotated[str, AfterValidator(_compiles)]
"""A string that must compile as a Python regular expression."""
