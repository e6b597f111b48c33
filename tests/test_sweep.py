"""The sweep's progress line: k/N, elapsed time, and the time left from the jobs done."""

from prepbench.study.sweep import duration, estimate


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (0, 12.4, 65, 3600 + 125)] == ["0s", "12s", "1m05s", "1h02m"]


def test_the_time_left_comes_from_the_jobs_that_trained():
    assert estimate(10, [], 1.0) == "0 of 10 done, 1s elapsed, time left known after the first job that trains"
    # skipped jobs take no time and do not lower the estimate: 8 left x 60 s
    done = [("skipped", 0.1), ("finished", 50.0), ("failed", 70.0)]
    assert estimate(11, done, 125.0) == "3 of 11 done, 2m05s elapsed, about 8m00s left"
    assert estimate(11, done, 125.0, parallel=2) == "3 of 11 done, 2m05s elapsed, about 4m00s left"
    assert estimate(2, [("finished", 5.0), ("finished", 5.0)], 10.0) == "2 of 2 done, 10s elapsed"
