"""prepbench.study.interrupts: Ctrl-C and SIGTERM raise KeyboardInterrupt and are remembered
(a job's use of it: tests/test_faults.py)."""

import signal

import pytest

from prepbench.study import interrupts


def test_a_signal_is_raised_as_keyboard_interrupt_and_remembered(monkeypatch):
    monkeypatch.setattr(interrupts, "_requested", False)
    assert not interrupts.requested()
    with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"):
        interrupts._interrupt(signal.SIGTERM, None)
    assert interrupts.requested()


def test_install_takes_only_the_signals_nobody_else_has_taken():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def theirs(signum, frame):
        pass

    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, theirs)
        interrupts.install()
        assert signal.getsignal(signal.SIGINT) is interrupts._interrupt
        assert signal.getsignal(signal.SIGTERM) is theirs
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
