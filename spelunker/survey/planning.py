"""Survey planning: the visits of programs, observations, visits or a folder, one task each.

`plan_survey` turns what a survey was asked for into `VisitTask` objects,
one per visit, from a folder of products on disk or from MAST queries made
on the calling side; `selections` checks and parses what was asked for
(through `spelunker.names`) without touching the disk or the network.

Examples
--------
>>> from spelunker.survey.planning import selections
>>> selections([1534], ["1541:2"], [(1541, 3, 1)])
[(1534, None, None), (1541, 2, None), (1541, 3, 1)]
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.time import Time

from spelunker.archive import find_guidestar_products
from spelunker.errors import ArchiveError, ArchiveQueryError, ParameterError, SurveyError
from spelunker.names import (
    FINE_GUIDE_GLOB,
    id_number,
    is_fine_guide_cal,
    parse_product_name,
    parse_selection,
    strip_segment,
    visit_id,
)
from spelunker.survey.summary import empty_row, error_text

__all__ = ["VisitTask", "plan_survey", "selections"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VisitTask:
    """One visit of a survey: what a task needs to download and run it.

    Parameters
    ----------
    program, observation, visit : int
        The visit.
    files : tuple of str
        Product names (``source='mast'``) or paths (``source='disk'``) of
        its fine-guide ``_cal`` products, in time order.
    sizes : tuple of int or None
        Archive sizes of ``files`` (``'mast'``), or None.
    source : {'mast', 'disk'}
        Where the files are.

    Examples
    --------
    >>> from spelunker.survey import VisitTask
    >>> task = VisitTask(1534, 1, 1, ("jw01534001001_gs-fg_2022338013544-seg001_cal.fits",))
    >>> task.visit_id, task.product_name
    ('jw01534001001', 'jw01534001001_gs-fg_2022338013544_gspipe.fits')
    """

    program: int
    observation: int
    visit: int
    files: tuple
    sizes: tuple | None = None
    source: str = "mast"

    @property
    def visit_id(self):
        """``jw<ppppp><ooo><vvv>``."""
        return visit_id(self.program, self.observation, self.visit)

    @property
    def product_name(self):
        """The product: the first file's name without ``-segNNN``, ``_cal`` -> ``_gspipe``."""
        first = strip_segment(Path(self.files[0]).name)
        return first[: -len("_cal.fits")] + "_gspipe.fits"


def selections(programs=(), observations=(), visits=()):
    """The (program, observation, visit) selections asked for (None = all), without repeats.

    Parameters
    ----------
    programs : int, str or sequence of them
        Program numbers.
    observations : str or sequence of (int, int) or str
        ``(program, observation)`` or ``"1534:2"``.
    visits : str or sequence of (int, int, int) or str
        ``(program, observation, visit)`` or ``"1534:2:1"``.

    Returns
    -------
    list of tuple
        ``(program, observation or None, visit or None)``, in the order given.

    Raises
    ------
    spelunker.errors.ParameterError
        A malformed selection (naming the parameter and the value).
    """
    programs = _as_list(programs, "programs", "a program number", (str, int, np.integer))
    observations = _as_list(observations, "observations", "'PROGRAM:OBSERVATION'", (str,))
    visits = _as_list(visits, "visits", "'PROGRAM:OBSERVATION:VISIT'", (str,))
    wanted = [(id_number(p, "program", name="programs"), None, None) for p in programs]
    wanted += [(*parse_selection(o, 2, name="observations"), None) for o in observations]
    wanted += [parse_selection(v, 3, name="visits") for v in visits]
    return list(dict.fromkeys(wanted))


def _as_list(value, name, what, single):
    """``value`` as a list: None is none, one ``single`` value is a list of one."""
    if value is None:
        return []
    if isinstance(value, single):
        return [value]
    if isinstance(value, (dict, set)) or not hasattr(value, "__iter__"):
        msg = f"{name}={value!r} must be {what} or a list of them"
        raise ParameterError(msg)
    return list(value)


def _selected(key, wanted):
    if not wanted:
        return True
    return any(all(want is None or want == have for want, have in zip(sel, key, strict=True))
               for sel in wanted)


def _describe(selection):
    program, observation, visit = selection
    text = f"program {program}"
    if observation is not None:
        text += f" observation {observation}"
    if visit is not None:
        text += f" visit {visit}"
    return text


def plan_survey(*, programs=(), observations=(), visits=(), input_dir=None, token=None,
                server=None):
    """The visits of a survey, one `VisitTask` each, and the queries that failed.

    With ``input_dir``, the fine-guide ``_cal`` products in that folder are
    grouped by visit (their names, `spelunker.names.parse_product_name`)
    and ``programs`` / ``observations`` / ``visits``, when given, select
    among them.  Otherwise each selection is queried at MAST
    (`spelunker.archive.find_guidestar_products`, on the calling side) and
    its products are grouped by visit.

    Parameters
    ----------
    programs : sequence of int or str
        Program numbers.
    observations : sequence of (int, int) or str
        ``(program, observation)`` or ``"1534:2"``.
    visits : sequence of (int, int, int) or str
        ``(program, observation, visit)`` or ``"1534:2:1"``.
    input_dir : str or os.PathLike, optional
        A folder of products already on disk (not searched recursively).
    token : str, optional
        MAST API token (default ``$MAST_API_TOKEN``).
    server : str, optional
        MAST base URL (default astroquery's).

    Returns
    -------
    tasks : list of VisitTask
        Sorted by program, observation, visit.
    failures : list of dict
        One survey row (``status='error'``) per MAST query that failed,
        naming the selection and the reason.

    Raises
    ------
    ParameterError
        Nothing to survey, or a malformed number.
    SurveyError
        ``input_dir`` is not a folder or holds no selected product.

    Examples
    --------
    >>> import tempfile
    >>> from spelunker import datasets
    >>> from spelunker.survey import plan_survey
    >>> folder = tempfile.mkdtemp()
    >>> _ = datasets.make_guidestar_files(folder, visits=[datasets.VisitSpec(
    ...     n_frames=40, n_segments=2)], seed=1)
    >>> tasks, failures = plan_survey(input_dir=folder)
    >>> [(t.visit_id, len(t.files), t.source) for t in tasks], failures
    ([('jw01534001001', 2, 'disk')], [])
    """
    wanted = selections(programs, observations, visits)
    if input_dir is not None:
        return _plan_disk(input_dir, wanted), []
    if not wanted:
        msg = "nothing to survey: give programs, observations, visits or input_dir"
        raise ParameterError(msg)
    groups = {}
    failures = []
    for selection in wanted:
        program, observation, visit = selection
        try:
            products = find_guidestar_products(program, observation=observation, visit=visit,
                                               token=token, server=server)
            keys = _product_visits(products, selection)
        except ArchiveError as exc:
            log.error("MAST query for %s failed: %s", _describe(selection), exc)
            row = empty_row(program, observation, visit)
            row.update(status="error", error=error_text(exc, token), finished=Time.now().isot)
            failures.append(row)
            continue
        for name, size, key in zip(products["fileName"], products["fileSize"], keys,
                                   strict=True):
            size = None if size is np.ma.masked else int(size)
            groups.setdefault(key, {})[str(name)] = size
    tasks = []
    for key in sorted(groups):
        names = sorted(groups[key])
        tasks.append(VisitTask(*key, files=tuple(names),
                               sizes=tuple(groups[key][n] for n in names), source="mast"))
    log.info("Survey plan: %d visits from MAST (%d failed queries)", len(tasks), len(failures))
    return tasks, failures


def _product_visits(products, selection):
    """The (program, observation, visit) of each product of a MAST reply (`names.id_number`).

    A number the reply does not give or gives unreadable fails the
    selection's query (`~spelunker.errors.ArchiveQueryError`), not the survey.
    """
    keys = []
    for prog, obs, vis in zip(products["program"], products["observtn"], products["visit"],
                              strict=True):
        try:
            keys.append((id_number(prog, "program"), id_number(obs, "observation", name="observtn"),
                         id_number(vis, "visit")))
        except ParameterError as exc:
            msg = f"the MAST reply for {_describe(selection)} lists a product with {exc}"
            raise ArchiveQueryError(msg, reason="bad_reply") from exc
    return keys


def _plan_disk(folder, wanted):
    if not isinstance(folder, (str, os.PathLike)) or not os.fspath(folder):
        msg = f"input_dir={folder!r} must be a folder path"
        raise ParameterError(msg)
    folder = Path(folder)
    if not folder.is_dir():
        msg = f"input_dir={str(folder)!r} is not a folder"
        raise SurveyError(msg)
    groups = {}
    for path in sorted(folder.glob(FINE_GUIDE_GLOB)):
        if not is_fine_guide_cal(path.name):
            continue
        try:
            info = parse_product_name(path.name)
        except ValueError as exc:  # a name parse_product_name refuses
            log.warning("Skipping %s: %s", path, exc)
            continue
        key = (info["program"], info["observation"], info["visit"])
        if _selected(key, wanted):
            groups.setdefault(key, []).append(str(path))
    if not groups:
        what = "" if not wanted else " of " + "; ".join(_describe(s) for s in wanted)
        msg = f"input_dir={str(folder)!r} holds no fine-guide _cal product{what}"
        raise SurveyError(msg)
    log.info("Survey plan: %d visits in %s", len(groups), folder)
    return [VisitTask(*key, files=tuple(sorted(groups[key], key=lambda p: Path(p).name)),
                      source="disk") for key in sorted(groups)]
