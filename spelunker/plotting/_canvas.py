"""The canvas of a figure: the Axes or Figure given (checked) or a new one, and its resolution.

Shared by the figure modules of `spelunker.plotting` (not for users).
pyplot is imported only when a new figure is asked for, so the figures work
without it (the report draws on `matplotlib.figure.Figure` objects).
"""

from spelunker._validate import check_positive_float
from spelunker.errors import ParameterError

__all__ = ["new_axes", "new_figure", "check_axes", "check_dpi", "MIN_DPI"]

#: Lowest resolution a figure is written at (dots per inch): below it matplotlib cannot
#: render the text of the figures (FreeType refuses the font size) or the frames.
MIN_DPI = 10.0


def check_axes(ax, name="ax", *, where=None):
    """Return ``ax`` if it is a matplotlib Axes, else raise `~spelunker.errors.ParameterError`.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting._canvas import check_axes
    >>> check_axes(Figure().add_subplot()).__class__.__name__
    'Axes'
    >>> check_axes("x", where="plot_events")
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: plot_events: ax='x' must be a matplotlib Axes
    """
    from matplotlib.axes import Axes  # matplotlib loads only when drawing

    if isinstance(ax, Axes):
        return ax
    prefix = f"{where}: " if where else ""
    msg = f"{prefix}{name}={ax!r:.60} must be a matplotlib Axes"
    raise ParameterError(msg)


def check_dpi(value, *, where=None):
    """Return ``value`` as a resolution (dots per inch) of at least `MIN_DPI`.

    A number > 0 is not enough: at 5 dots per inch matplotlib fails deep in
    FreeType (a ``RuntimeError``) or in the GIF writer.

    Examples
    --------
    >>> from spelunker.plotting._canvas import check_dpi
    >>> check_dpi(2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: dpi=2 must be at least 10 dots per inch ...
    """
    dpi = check_positive_float(value, "dpi", where=where)
    if dpi < MIN_DPI:
        text = (f"dpi={value!r} must be at least {MIN_DPI:g} dots per inch (matplotlib "
                "cannot draw the figure's text below)")
        raise ParameterError(f"{where}: {text}" if where else text)
    return dpi


def new_axes(ax, **subplot_kw):
    """``ax`` (checked: a matplotlib Axes), or the Axes of a new pyplot figure (``subplot_kw``)."""
    if ax is not None:
        return check_axes(ax)
    import matplotlib.pyplot as plt  # pyplot loads only when a new figure is asked for

    _, ax = plt.subplots(**subplot_kw)
    return ax


def new_figure(fig, figsize):
    """``fig`` (checked: a matplotlib Figure), or a new constrained pyplot figure of ``figsize``."""
    if fig is not None:
        from matplotlib.figure import FigureBase  # matplotlib loads only when drawing

        if not isinstance(fig, FigureBase):
            msg = f"fig={fig!r:.60} must be a matplotlib Figure (or SubFigure)"
            raise ParameterError(msg)
        return fig
    import matplotlib.pyplot as plt  # pyplot loads only when a new figure is asked for

    return plt.figure(figsize=figsize, layout="constrained")
