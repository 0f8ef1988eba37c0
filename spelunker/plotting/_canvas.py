"""Where a figure draws: the Axes or Figure it is given, or a new pyplot one.

Shared by the figure modules of `spelunker.plotting` (not for users).
pyplot is imported only when a new figure is asked for, so the figures work
without it (the report draws on `matplotlib.figure.Figure` objects).
"""

__all__ = ["new_axes", "new_figure"]


def new_axes(ax, **subplot_kw):
    """``ax``, or the Axes of a new pyplot figure made with ``subplot_kw``."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # pyplot loads only when a new figure is asked for

    _, ax = plt.subplots(**subplot_kw)
    return ax


def new_figure(fig, figsize):
    """``fig``, or a new pyplot figure of ``figsize`` (constrained layout)."""
    if fig is not None:
        return fig
    import matplotlib.pyplot as plt  # pyplot loads only when a new figure is asked for

    return plt.figure(figsize=figsize, layout="constrained")
