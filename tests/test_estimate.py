"""The wait estimate: the caller's place in line times how fast the queue moved lately."""

from __future__ import annotations

import pytest

from ivr.estimate import MIN_SAMPLES, minutes, remaining

# Ten bridges ended one minute apart; the callers had waited 1 to 10 minutes.
TEN = [(1_000.0 + 60 * i, 60.0 * (i + 1)) for i in range(10)]


def test_the_estimate_is_the_place_in_line_times_the_time_between_bridges():
    assert remaining(TEN, 0, position=1) == 60
    assert remaining(TEN, 500, position=4) == 240  # the elapsed time does not matter then


def test_without_a_position_it_is_the_median_wait_ahead_of_callers_who_waited_this_long():
    assert remaining(TEN, 0) == 330  # the median of all ten waits
    assert remaining(TEN, 50) == 280  # all ten waited longer than 50 s
    assert remaining(TEN, 200) is None  # only seven waited longer than 200 s


def test_below_the_minimum_of_samples_there_is_no_estimate():
    few = TEN[: MIN_SAMPLES - 1]
    assert remaining(few, 0, position=3) is None and remaining(few, 0) is None
    assert remaining(TEN[:MIN_SAMPLES], 0, position=3) == 180
    assert remaining([(5.0, 60.0)] * 10, 0, position=2) is None  # no span: no rate
    assert remaining([], 0) is None


@pytest.mark.parametrize(
    "seconds, said", [(None, 0), (0, 0), (89, 0), (90, 2), (150, 2), (151, 3), (420, 7), (3600, 60)]
)
def test_minutes_are_whole_and_never_one(seconds, said):
    assert minutes(seconds) == said
