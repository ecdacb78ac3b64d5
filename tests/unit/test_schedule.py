from __future__ import annotations

from memlens.watch.sampler import next_slot


def test_on_time_rounds_stay_on_the_grid() -> None:
    # A round that finishes early waits for the next grid point: no drift accumulates.
    assert next_slot(origin=100.0, slot=0, now=100.3, interval=1.0) == (1, 0)
    assert next_slot(origin=100.0, slot=5000, now=5100.9, interval=1.0) == (5001, 0)


def test_an_overrun_skips_the_slots_already_past_and_counts_them() -> None:
    # Round 0 took 2.5 s: slots 1 and 2 are gone, the next round runs at slot 3.
    assert next_slot(origin=0.0, slot=0, now=2.5, interval=1.0) == (3, 2)
    # Exactly on a grid point counts as on time.
    assert next_slot(origin=0.0, slot=0, now=1.0, interval=1.0) == (1, 0)


def test_the_grid_after_hours_is_exact() -> None:
    interval = 0.05
    slot = 0
    origin = 1000.0
    for _ in range(10 * 3600 * 20):  # ten hours at 20 Hz, each round taking 10 ms
        now = origin + slot * interval + 0.01
        slot, missed = next_slot(origin, slot, now, interval)
        assert missed == 0
    assert slot == 10 * 3600 * 20
