"""The heap is frozen for the run's schedule and handed back after it."""

from __future__ import annotations

import gc

from chaoskit._gc import release_heap, settle_heap


def test_settle_freezes_what_lives_and_release_hands_it_back() -> None:
    try:
        frozen = settle_heap()
        assert frozen == gc.get_freeze_count() > 1000  # at least the interpreter's own
    finally:
        release_heap()
    assert gc.get_freeze_count() == 0
