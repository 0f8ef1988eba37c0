"""Parameter checks shared by the archive clients (catalog, engineering database)."""

import math

__all__ = ["check_timeout"]


def check_timeout(value, *, name="timeout"):
    """Return ``value`` as a number of seconds > 0, or raise ValueError naming ``name``.

    Examples
    --------
    >>> from spelunker.archive._checks import check_timeout
    >>> check_timeout("2.5")
    2.5
    """
    seconds = math.nan
    if not isinstance(value, bool):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            pass
    if not (math.isfinite(seconds) and seconds > 0):
        msg = f"{name}={value!r} must be a number of seconds > 0"
        raise ValueError(msg)
    return seconds
