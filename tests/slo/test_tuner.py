"""The SLO tuner's choices, driven by the calls a batcher would report: a cap that keeps a
call within half the target, a wait that shrinks as load rises and is never spent on a
lone request, throughput first once the SLO cannot be met, and the window it measures p99
over. Time is the tuner's argument, so nothing here depends on the machine's speed."""

from __future__ import annotations

import logging

import pytest

from shipyard.serving.slo import (
    CALL_OVERHEAD_SECONDS,
    HEADROOM,
    TUNE_SECONDS,
    WINDOW_SECONDS,
    CallCost,
    LatencyWindow,
    SloTuner,
)

SLO = 0.050
FIXED = 0.002  # seconds of a call whatever its size (a forest's per-call cost)
PER_ROW = 0.0001


def cost(rows: int) -> float:
    return FIXED + PER_ROW * rows


class Clock:
    """Feeds a tuner calls as a batcher would, with a clock that only moves when told."""

    def __init__(self, tuner: SloTuner) -> None:
        self.tuner = tuner
        self.now = 100.0

    def call(self, rows: int, *, latency: float | None = None) -> None:
        seconds = cost(rows)
        self.now += seconds
        waited = seconds if latency is None else latency
        self.tuner.observe(self.now, rows, seconds, [self.now - waited] * rows)

    def tick(self) -> None:
        """Let the next call retune."""
        self.now += TUNE_SECONDS


def warmed(slo: float = SLO, max_rows: int = 1024, max_wait: float = 0.010) -> Clock:
    clock = Clock(SloTuner(slo, max_rows=max_rows, max_wait_seconds=max_wait, ref="forest:1"))
    for rows in (1, 4, 16, 64, 2, 32, 8, 128) * 4:
        clock.call(rows)
    clock.tick()
    clock.call(1)
    return clock


def test_the_cost_fit_learns_fixed_and_per_row_seconds() -> None:
    fit = CallCost()
    for rows in (1, 10, 100, 50, 5) * 10:
        fit.add(rows, cost(rows))
    a, b = fit.coefficients()
    assert a == pytest.approx(FIXED, rel=1e-6) and b == pytest.approx(PER_ROW, rel=1e-6)
    assert fit.rows_within(0.012, ceiling=10_000) == 100
    assert fit.rows_within(0.001, ceiling=10_000) == 1  # not even one row fits: still one
    assert fit.rows_within(1.0, ceiling=256) == 256


def test_calls_of_one_size_charge_every_second_to_the_rows() -> None:
    fit = CallCost()
    for _ in range(5):
        fit.add(1, 0.004)
    assert fit.coefficients() == (0.0, pytest.approx(0.004))
    assert fit.rows_within(0.020, ceiling=256) == 5
    assert fit.rows_within(0.001, ceiling=256) == 2  # too slow even alone: still try two, to learn


def test_a_cost_that_does_not_grow_with_rows_allows_the_ceiling() -> None:
    fit = CallCost()
    for rows in (1, 100, 1, 100, 50, 3) * 5:
        fit.add(rows, 0.003)
    assert fit.rows_within(0.010, ceiling=512) == 512


def test_before_any_call_the_tuner_never_holds() -> None:
    tuner = SloTuner(SLO, max_rows=300, max_wait_seconds=0.005)
    assert tuner.tuning.batch_rows == 1 and tuner.tuning.wait_seconds == 0.0
    assert tuner.hold_for(0.0001, waited=0.0, rows=1) == 0.0
    assert tuner.hold_for(None, waited=0.0, rows=1) == 0.0


def test_a_call_is_held_for_the_rows_that_amortise_its_fixed_cost() -> None:
    clock = warmed()
    # The fixed cost (2 ms + the call overhead) is worth about 20.5 rows of 0.1 ms: 21 rows.
    assert clock.tuner.tuning.batch_rows == 21
    assert not clock.tuner.tuning.saturated


def test_never_for_more_rows_than_fit_in_half_the_target() -> None:
    clock = warmed(slo=0.01)  # half of 80% of 10 ms: 4 ms, 20 rows of this model
    rows = clock.tuner.tuning.batch_rows
    assert cost(rows) <= HEADROOM * 0.01 / 2 < cost(rows + 1)


def test_the_ceiling_still_bounds_the_batch() -> None:
    clock = warmed(max_rows=16)
    assert clock.tuner.tuning.batch_rows == 16


def test_lone_calls_show_no_fixed_cost_so_nothing_is_held() -> None:
    tuner = SloTuner(SLO, max_rows=256, max_wait_seconds=0.005)
    now = 0.0
    for _ in range(3):
        now += 1.0
        tuner.observe(now, 1, 0.005, [now - 0.006])
    assert tuner.tuning.batch_rows == 1 and tuner.tuning.wait_seconds == 0.0


@pytest.mark.parametrize("gap", [None, 0.5, 0.010], ids=["first-request", "after-a-pause", "gap-longer-than-wait"])
def test_a_lone_request_is_never_held(gap: float | None) -> None:
    clock = warmed()
    assert clock.tuner.tuning.wait_seconds > 0
    assert clock.tuner.hold_for(gap, waited=0.0, rows=1) == 0.0


def test_dense_arrivals_are_held_only_until_the_batch_is_there() -> None:
    clock = warmed()
    wait = clock.tuner.tuning.wait_seconds
    assert 0 < wait <= 0.010
    assert clock.tuner.hold_for(0.0001, waited=0.0, rows=1) == pytest.approx(0.0001 * 20)
    assert clock.tuner.hold_for(0.0001, waited=0.0, rows=15) == pytest.approx(0.0001 * 6)
    assert clock.tuner.hold_for(0.0001, waited=0.0, rows=21) == 0.0  # enough already
    assert clock.tuner.hold_for(wait / 2, waited=0.0, rows=1) == pytest.approx(wait)


def test_the_oldest_request_is_never_held_past_the_wait() -> None:
    clock = warmed()
    wait = clock.tuner.tuning.wait_seconds
    gap = wait / 10  # 19 more rows would take 1.9 waits
    assert clock.tuner.hold_for(gap, waited=wait / 4, rows=2) == pytest.approx(0.75 * wait)
    assert clock.tuner.hold_for(gap, waited=wait, rows=2) == 0.0
    assert clock.tuner.hold_for(gap, waited=2 * wait, rows=2) == 0.0
    # Nobody expected within what is left: no hold.
    assert clock.tuner.hold_for(wait / 2, waited=0.6 * wait, rows=2) == 0.0


def test_the_wait_tightens_as_measured_latency_rises() -> None:
    clock = warmed()
    waits = []
    target = HEADROOM * SLO
    for share in (0.1, 0.3, 0.5, 0.7, 0.9):
        clock.now += WINDOW_SECONDS  # only this share's requests in the window
        clock.call(8, latency=share * target)
        waits.append(clock.tuner.tuning.wait_seconds)
    assert waits == sorted(waits, reverse=True) and waits[-1] < waits[0] / 5
    assert waits[0] <= 0.010


def test_a_p99_over_the_target_stops_holding_until_it_is_back() -> None:
    clock = warmed()
    clock.now += WINDOW_SECONDS
    clock.call(8, latency=SLO)
    tuning = clock.tuner.tuning
    assert tuning.saturated and tuning.wait_seconds == 0.0
    assert tuning.p99_seconds == pytest.approx(SLO)
    assert clock.tuner.hold_for(0.00001, waited=0.0, rows=1) == 0.0
    clock.now += WINDOW_SECONDS  # the slow requests leave the window
    clock.call(8, latency=0.003)
    assert not clock.tuner.tuning.saturated and clock.tuner.tuning.wait_seconds > 0


def test_the_wait_leaves_room_for_two_calls_of_the_batch() -> None:
    clock = warmed(slo=0.02, max_wait=1.0)
    clock.now += WINDOW_SECONDS
    clock.call(8, latency=0.001)
    tuning = clock.tuner.tuning
    room = HEADROOM * 0.02 - 2 * cost(tuning.batch_rows)
    assert 0 < tuning.wait_seconds <= room


def test_the_window_counts_recent_requests_only_and_stays_bounded() -> None:
    window = LatencyWindow(capacity=100, seconds=1.0)
    assert window.p99(0.0) is None
    window.add(9.0, [])
    assert window.p99(9.0) is None
    for i in range(1000):
        window.add(10.0, [0.5 if i < 900 else 0.001])
    assert window.p99(10.0) == pytest.approx(0.001)  # only the newest 100 are kept
    window.add(10.1, [0.002] * 30)
    window.add(10.1, [0.9] * 250)  # one call larger than the window: its newest 100
    assert window.p99(10.1) == pytest.approx(0.9)
    window.add(10.5, [0.3] * 90)
    assert window.p99(10.5) == pytest.approx(0.9)  # 10 of the big call are left, 10% of the window
    window.add(10.6, [0.3] * 5)
    assert window.p99(10.6) == pytest.approx(0.9)  # 5 of them left
    assert window.p99(11.2) == pytest.approx(0.3)  # the rest are older than a second
    assert window.p99(12.0) is None


def test_the_chosen_values_are_logged_at_debug_level(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="shipyard.serving.slo"):
        clock = warmed()
        clock.now += 1.0  # at most one line a second
        clock.call(1)
    tuning = clock.tuner.tuning
    assert tuning.p99_seconds is not None
    assert [r.getMessage() for r in caplog.records if r.name == "shipyard.serving.slo"][-1] == (
        f"batching forest:1 for p99 <= 50.0 ms: hold up to {tuning.wait_seconds * 1000:.2f} ms "
        f"for {tuning.batch_rows} rows, measured p99 {tuning.p99_seconds * 1000:.1f} ms"
    )


def test_calls_of_one_and_two_rows_are_enough_to_see_the_fixed_cost() -> None:
    fit = CallCost()
    for rows in (1, 2) * 20:
        fit.add(rows, cost(rows))
    assert fit.coefficients() == (pytest.approx(FIXED), pytest.approx(PER_ROW))


def test_a_cheap_call_is_not_worth_any_hold() -> None:
    """A compiled linear model: 10 µs a call and 1 µs a row. Holding it would cost the event
    loop more than the calls it saves."""
    tuner = SloTuner(SLO, max_rows=256, max_wait_seconds=0.010)
    now = 100.0
    for rows in (1, 4, 16, 64, 2, 32, 8, 128) * 4:
        now += 0.001
        tuner.observe(now, rows, 0.00001 + 0.000001 * rows, [now - 0.0005])
    now += TUNE_SECONDS
    tuner.observe(now, 1, 0.000011, [now - 0.0005])
    assert tuner.tuning.batch_rows > 1 and tuner.tuning.wait_seconds == 0.0


def test_a_call_is_held_at_most_ten_fixed_costs() -> None:
    tuner = SloTuner(1.0, max_rows=1024, max_wait_seconds=1.0)
    now = 100.0
    for rows in (1, 4, 16, 64, 2, 32, 8, 128) * 4:
        now += 0.001
        tuner.observe(now, rows, 0.001 + 0.00001 * rows, [now - 0.002])
    now += TUNE_SECONDS
    tuner.observe(now, 1, 0.00101, [now - 0.002])
    assert 0 < tuner.tuning.wait_seconds <= 10 * (0.001 + CALL_OVERHEAD_SECONDS)
