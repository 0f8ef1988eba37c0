"""A time limit for tests of code that must not hang (link loops, damaged files)."""

import signal
from contextlib import contextmanager


@contextmanager
def deadline(seconds):
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""

    def expire(signum, frame):
        msg = f"did not return within {seconds} s"
        raise AssertionError(msg)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
