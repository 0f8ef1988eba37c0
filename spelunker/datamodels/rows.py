"""Rows of a model's tables: grouped by visit and guide star, or found by their values.

`group_rows` is the one grouping of frames (and of the rows of per-frame,
periodogram and peak tables) by visit and guide star; `locate_rows` finds
given rows (a notebook's selection of frames, times or flux) among a
model's.  Both work on plain arrays; `spelunker.GuideStarModel` calls them
(`~spelunker.GuideStarModel.frame_groups`,
`~spelunker.GuideStarModel.periodogram_curves`).
"""

import bisect

import numpy as np

from spelunker.errors import ParameterError

__all__ = ["TIME_MATCH_DAYS", "group_rows", "locate_rows", "run_slice"]

#: Times given for frames match a frame within this many days (1 ms): the ``atol`` of
#: `locate_rows` for MJD times.
TIME_MATCH_DAYS = 1e-3 / 86400.0

#: `group_rows` looks at runs of rows with one key up to this many runs; more
#: (groups interleaved row by row) are grouped by a sort of every row.
_MAX_RUNS = 10_000


def group_rows(visit_index, guidestar_index):
    """Rows of a table grouped by visit and guide star, in order of first appearance.

    The one grouping of frames (and of the rows of per-frame, periodogram
    and peak tables) by visit and guide star: a periodogram, a figure panel
    or a session method never spans two visits or two guide stars.

    Parameters
    ----------
    visit_index, guidestar_index : array-like of int
        One value per row: the position in `spelunker.GuideStarModel.visits`
        and the row of the guide-star table.

    Returns
    -------
    list of (int, int, numpy.ndarray)
        ``(visit_index, guidestar_index, rows)``, ordered by each group's
        first row.

    Raises
    ------
    spelunker.errors.ParameterError
        Indices that are not two 1-D integer arrays of one length.

    Examples
    --------
    >>> from spelunker.datamodels.rows import group_rows
    >>> [(v, g, rows.tolist()) for v, g, rows in group_rows([0, 0, 1, 0], [0, 0, 1, 1])]
    [(0, 0, [0, 1]), (1, 1, [2]), (0, 1, [3])]
    """
    visits = _index_array(visit_index, "visit_index")
    stars = _index_array(guidestar_index, "guidestar_index")
    if len(visits) != len(stars):
        msg = (f"group_rows: visit_index ({len(visits)} values) and guidestar_index "
               f"({len(stars)}) must have one value per row each")
        raise ParameterError(msg)
    # Rows come in runs of one visit and guide star (a visit's frames follow
    # one another): the runs are found in one pass, and a group is the rows
    # of its runs.  No sort of every row (at 2 million frames: 0.1-0.2 s and
    # 100 MB).
    change = visits[1:] != visits[:-1]
    change |= stars[1:] != stars[:-1]
    starts = np.flatnonzero(change) + 1
    if len(starts) >= _MAX_RUNS:  # rows of many interleaved groups
        keys = visits * (int(stars.max(initial=0)) + 1) + stars
        _, first = np.unique(keys, return_index=True)
        return [(int(visits[start]), int(stars[start]), np.flatnonzero(keys == keys[start]))
                for start in np.sort(first)]
    bounds = [0, *starts.tolist(), len(visits)] if len(visits) else []
    runs = {}  # (visit, star): [(start, end), ...], in order of first appearance
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        runs.setdefault((int(visits[start]), int(stars[start])), []).append((start, end))
    return [(visit, star, np.concatenate([np.arange(first, end, dtype=np.intp)
                                          for first, end in spans]))
            for (visit, star), spans in runs.items()]


def run_slice(rows):
    """The rows of a group of `group_rows` as a slice when they are one run, else as given.

    A group is usually one run of consecutive rows (a visit's frames follow
    one another); a slice reads a table's column in place, in order, where
    an index array gathers it row by row.  The rows are increasing, as
    `group_rows` gives them.

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.datamodels.rows import run_slice
    >>> run_slice(np.arange(3, 7)), run_slice(np.array([0, 1, 5])).tolist()
    (slice(3, 7, None), [0, 1, 5])

    Raises
    ------
    spelunker.errors.ParameterError
        Rows that are not a 1-D array of integer indices.
    """
    rows = _index_array(rows, "rows", where="run_slice")
    if rows.size and int(rows[-1]) - int(rows[0]) + 1 == rows.size:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def locate_rows(current, values, *, atol=None):
    """Positions of the rows of ``values`` among the rows of ``current``, in order.

    How a notebook's arrays (a selection of a session's frames, times or
    flux) are found among a model's frames.  Rows are compared bit for bit
    (NaN matches NaN), or, with ``atol``, as numbers within ``atol`` of the
    nearest.  A run of consecutive rows (a slice) is looked for first;
    otherwise each row is matched to the next equal row.

    Parameters
    ----------
    current : array_like
        The rows to look in (e.g. frames ``(n, 8, 8)`` or times ``(n,)``).
    values : array_like
        One row (one dimension less than ``current``) or several.
    atol : float, optional
        Match 1-D numbers within this tolerance instead of bit for bit.

    Returns
    -------
    numpy.ndarray or None
        int64 positions in ``current``, one per row of ``values``; None when
        a row is not found (or ``values`` are not rows of ``current``).

    Raises
    ------
    spelunker.errors.ParameterError
        ``current`` is not an array of rows (at least one dimension).

    Examples
    --------
    >>> import numpy as np
    >>> from spelunker.datamodels.rows import locate_rows
    >>> frames = np.arange(12.0).reshape(6, 2)
    >>> locate_rows(frames, frames[2:4]).tolist(), locate_rows(frames, frames[[4, 1]])
    ([2, 3], None)
    >>> locate_rows(np.array([1.0, 2.0, 3.0]), [2.0000001, 3.0], atol=1e-3).tolist()
    [1, 2]
    """
    current = np.asarray(current)
    if current.ndim == 0 or current.dtype.kind not in "biuf" or current.dtype.itemsize > 8:
        msg = f"locate_rows: current={current!r:.60} must be an array of rows (numbers)"
        raise ParameterError(msg)
    try:
        values = np.asarray(values, dtype=current.dtype)
    except (TypeError, ValueError):
        return None
    if values.ndim == current.ndim - 1:
        values = values[np.newaxis]
    if values.shape[1:] != current.shape[1:] or not len(values) or len(values) > len(current):
        return None
    if atol is not None:
        order = np.argsort(current, kind="stable")
        where = np.clip(np.searchsorted(current[order], values), 0, len(current) - 1)
        before = np.clip(where - 1, 0, len(current) - 1)
        pick = np.where(np.abs(current[order][before] - values)
                        < np.abs(current[order][where] - values), before, where)
        index = order[pick]
        if not np.all(np.abs(current[index] - values) <= atol):
            return None
        return index
    ours, theirs = _row_bits(current), _row_bits(values)
    n = len(theirs)
    for first in np.flatnonzero(np.all(ours == theirs[0], axis=1)):
        if first + n <= len(ours) and np.array_equal(ours[first:first + n], theirs):
            return np.arange(first, first + n)
    positions = {}
    for row, key in enumerate(map(bytes, ours)):
        positions.setdefault(key, []).append(row)
    index, last = np.empty(n, dtype=np.int64), -1
    for j, key in enumerate(map(bytes, theirs)):
        rows = positions.get(key, [])
        k = bisect.bisect_right(rows, last)
        if k == len(rows):
            return None
        index[j] = last = rows[k]
    return index


def _index_array(values, name, *, where="group_rows"):
    """``values`` as a 1-D int64 array of row indices, or a ParameterError naming ``name``."""
    try:
        array = np.asarray(values)
        valid = array.ndim == 1 and (array.dtype.kind in "iu" or (
            array.dtype.kind == "f" and bool(np.all(array == np.round(array)))))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        msg = f"{where}: {name}={values!r:.60} must be a 1-D array of integer indices"
        raise ParameterError(msg)
    return array.astype(np.int64, copy=False)


def _row_bits(values):
    """The bits of each row of an array, as an (n, words) unsigned array (NaN-safe equality)."""
    values = np.ascontiguousarray(values)
    flat = values.reshape(len(values), -1)
    word = {8: np.uint64, 4: np.uint32, 2: np.uint16, 1: np.uint8}[values.dtype.itemsize]
    return flat.view(word)
