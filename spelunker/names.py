"""JWST names and ids: the grammar of product names, visit ids and program numbers.

Guider products are named
``jw<ppppp><ooo><vvv>_gs-<mode>_<yyyydddhhmmss>[-segNNN]_<suffix>.fits``
(program, observation, visit, guider mode, the end of the data in UTC to the
second, the segment, the pipeline suffix ``cal`` / ``uncal`` / ...); the
identification products are ``..._gs-id_<attempt>_<image|stacked>_<suffix>.fits``.
Science exposures and the MAST folders (CAOM ``obs_id``) that guider products
download into are named
``jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>[-segNNN]_<detector>[_<suffix>.fits]``
(visit group, parallel sequence id, activity in base 36, exposure number).
A guider file name does not carry the visit group, sequence, activity,
exposure or detector: its MAST folder, e.g.
``jw01534005002_05101_00002_guider1``, does, so `parse_product_name`
accepts it alongside.  The guider header's OBS_ID keyword
(``'V' + VISIT_ID + 'P' + 13 digits``, e.g. ``V01029001001P0000000001102``)
ends in the visit group, parallel sequence and activity (not the exposure):
`parse_obs_id` splits it.  `spelunker.filetable.fg_table` puts these
fields in a table, one row per file of a model.

This module is the one place that knows this grammar, both ways: the
reader (`spelunker.io`), the pipeline steps and the archive clients ask it
(`PRODUCT_NAME`, `check_product_name`, `is_fine_guide_cal`,
`FINE_GUIDE_GLOB`, `strip_segment`, `MODE_EXP_TYPES`), and it makes and
reads visit ids (`visit_id`, `parse_visit_id`), program, observation and
visit numbers (`id_number`, `padded_id`, `program_stem`,
`parse_selection`), guider product names (`guider_product_name`) and the
name of a science exposure's jitter file (`jitter_file_name`).  It
imports nothing from the rest of spelunker but `spelunker.errors` and
`spelunker._validate`, so the lowest layers can use it.
"""

import logging
import os
import re

import numpy as np
from astropy.time import Time

from spelunker._validate import check_int_range
from spelunker.errors import DownloadError, ParameterError

__all__ = [
    "FINE_GUIDE_GLOB",
    "GUIDER_EXP_TYPES",
    "MODE_EXP_TYPES",
    "PRODUCT_NAME",
    "check_product_name",
    "ID_DIGITS",
    "JITTER_SUFFIX",
    "guider_name_fields",
    "guider_product_name",
    "id_number",
    "id_number_or_none",
    "is_fine_guide_cal",
    "jitter_file_name",
    "parse_obs_id",
    "parse_product_name",
    "parse_selection",
    "parse_visit_id",
    "padded_id",
    "program_stem",
    "selection_text",
    "strip_segment",
    "visit_id",
]

log = logging.getLogger(__name__)

#: EXP_TYPE of each guider mode in the file name (``gs-id`` depends on the product).
GUIDER_EXP_TYPES = {
    "fg": "FGS_FINEGUIDE",
    "track": "FGS_TRACK",
    "acq1": "FGS_ACQ1",
    "acq2": "FGS_ACQ2",
    "id-image": "FGS_ID-IMAGE",
    "id-stacked": "FGS_ID-STACK",
}

#: EXP_TYPE values of each guider mode as written in a file name (``gs-<mode>``).
MODE_EXP_TYPES = {
    "fg": ("FGS_FINEGUIDE",),
    "track": ("FGS_TRACK",),
    "acq1": ("FGS_ACQ1",),
    "acq2": ("FGS_ACQ2",),
    "id": (GUIDER_EXP_TYPES["id-image"], GUIDER_EXP_TYPES["id-stacked"]),
}

#: Guider product names as the archive serves them (match with ``fullmatch``):
#: ``jw<ppppp><ooo><vvv>_gs-<mode>_<stamp>[-segNNN]_<cal|uncal>.fits``.  Letters,
#: digits, ``_`` and ``-`` only before ``.fits``: no separator, no ``..``.
PRODUCT_NAME = re.compile(
    r"jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_gs-(?P<mode>fg|track|acq1|acq2|id)_[0-9A-Za-z_-]{1,60}_(?P<level>cal|uncal)\.fits")

#: Glob pattern selecting fine-guide products (any level) in a folder.
FINE_GUIDE_GLOB = "*_gs-fg_*.fits"

_ROOT = r"jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
_SEGMENT = r"(?:-seg(?P<segment>\d{3}))?"
_SUFFIX = r"(?P<suffix>[a-z][a-z0-9_]*)"

_GUIDER = re.compile(
    rf"^{_ROOT}_gs-(?P<mode>fg|track|acq1|acq2)_(?P<stamp>\d{{13}}){_SEGMENT}_{_SUFFIX}\.fits$")
_GUIDER_ID = re.compile(
    rf"^{_ROOT}_gs-id_(?P<attempt>\d+)_(?P<id_kind>image|stacked){_SEGMENT}_{_SUFFIX}\.fits$")
_EXPOSURE = re.compile(
    rf"^{_ROOT}_(?P<visit_group>\d{{2}})(?P<parallel_sequence>\d)(?P<activity>[0-9a-z]{{2}})"
    rf"_(?P<exposure>\d{{5}}){_SEGMENT}"
    r"(?:_(?P<detector>[a-z]+[0-9a-z]*)(?:_(?P<suffix>[a-z][a-z0-9_]*))?)?"
    r"(?P<fits>\.fits)?$")

# Header OBS_ID: 'V' + VISIT_ID (program, observation, visit) + 'P' + 13 digits whose last
# five are the visit group (2), parallel sequence (1) and activity (2, base 36).
_HEADER_OBS_ID = re.compile(
    r"^V(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"P(?P<prefix>\d{8})(?P<visit_group>\d{2})(?P<parallel_sequence>\d)"
    r"(?P<activity>[0-9A-Za-z]{2})$")

_KEYS = ("kind", "name", "program", "observation", "visit", "mode", "exp_type", "timestamp",
         "attempt", "segment", "suffix", "visit_group", "parallel_sequence", "activity",
         "exposure", "detector", "obs_id")


#: Digits of each part of a visit id (``jw<ppppp><ooo><vvv>``).
ID_DIGITS = {"program": 5, "observation": 3, "visit": 3}

_VISIT_ID = re.compile(r"^(?:jw|V)?(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})$")


def id_number(value, kind, *, name=None, where=None):
    """A program, observation or visit number from an int or a string of digits.

    The one parser of these numbers: the MAST query, the download cache,
    the survey and the notebook session all call it.

    Parameters
    ----------
    value : int or str
        ``1534``, ``'1534'``, ``'01534'`` or ``' 1 '``.
    kind : {'program', 'observation', 'visit'}
        Which number: programs have 5 digits, observations and visits 3.
    name : str, optional
        The parameter's name in the message (default ``kind``).
    where : str, optional
        The function or step named at the start of the message.

    Returns
    -------
    int
        In 1..99999 (program) or 1..999 (observation, visit).

    Raises
    ------
    spelunker.errors.ParameterError
        Not a whole number (booleans, None, floats, other text) or out of
        range, or another ``kind``.

    Examples
    --------
    >>> from spelunker.names import id_number
    >>> id_number("01534", "program"), id_number(2, "visit")
    (1534, 2)
    """
    digits = ID_DIGITS[_check_kind(kind)]
    name = kind if name is None else name
    number = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 0 < number < 10**digits:
        text = f"{name}={value!r} must be a whole number in 1..{10**digits - 1}"
        msg = f"{where}: {text}" if where else text
        raise ParameterError(msg)
    return number


def id_number_or_none(value, kind):
    """A program, observation or visit number read from a header or table cell, or None.

    `id_number` of ``value`` when it is one; None when it holds no such
    number (missing, masked, empty, other text, out of range), so that it
    matches no wanted id.

    Raises
    ------
    spelunker.errors.ParameterError
        Another ``kind``.

    Examples
    --------
    >>> from spelunker.names import id_number_or_none
    >>> id_number_or_none(" 01534", "program"), id_number_or_none("", "visit")
    (1534, None)
    """
    _check_kind(kind)
    try:
        return id_number(value, kind)
    except ParameterError:  # no number in range: the caller's "unknown"
        return None


def _check_kind(kind):
    """``kind`` if it is 'program', 'observation' or 'visit'; else a ParameterError."""
    if not isinstance(kind, str) or kind not in ID_DIGITS:
        msg = f"kind={kind!r} must be one of {', '.join(ID_DIGITS)}"
        raise ParameterError(msg)
    return kind


def padded_id(value, kind):
    """A program, observation or visit number zero-padded as in names and headers.

    Examples
    --------
    >>> from spelunker.names import padded_id
    >>> padded_id(1534, "program"), padded_id("2", "visit")
    ('01534', '002')
    """
    return f"{id_number(value, kind):0{ID_DIGITS[kind]}d}"


def program_stem(program):
    """``jw<program>``: the stem of what names a whole program (5 digits).

    Examples
    --------
    >>> from spelunker.names import program_stem
    >>> program_stem(1534)
    'jw01534'
    """
    return f"jw{padded_id(program, 'program')}"


def guider_product_name(program, observation, visit, *, stamp, mode="fg", segment=None,
                        suffix="cal"):
    """The archive's name of a guider product (the inverse of `parse_product_name`).

    Parameters
    ----------
    program, observation, visit : int or str
    stamp : str
        The end of the data in UTC, ``yyyydddhhmmss`` (13 digits).
    mode : str, optional
        ``fg``, ``track``, ``acq1`` or ``acq2``.
    segment : int, optional
        The segment number (``-segNNN``, 1..999); None for a product of one
        segment.
    suffix : str, optional
        The pipeline suffix (``cal``, ``uncal``, ...).

    Examples
    --------
    >>> from spelunker.names import guider_product_name
    >>> guider_product_name(1534, 1, 1, stamp="2022338120000", segment=1)
    'jw01534001001_gs-fg_2022338120000-seg001_cal.fits'
    """
    segment_part = ""
    if segment is not None:
        number = check_int_range(segment, "segment", 1, 999, where="guider_product_name")
        segment_part = f"-seg{number:03d}"
    name = (f"{visit_id(program, observation, visit)}_gs-{mode}_{stamp}{segment_part}"
            f"_{suffix}.fits")
    if _GUIDER.match(name) is None:
        msg = (f"no guider product name from mode={mode!r}, stamp={stamp!r}, "
               f"segment={segment!r}, suffix={suffix!r}")
        raise ParameterError(msg)
    return name


def visit_id(program, observation, visit):
    """The visit id ``jw<ppppp><ooo><vvv>`` of a program, observation and visit.

    Examples
    --------
    >>> from spelunker.names import visit_id
    >>> visit_id(1534, 1, 2)
    'jw01534001002'
    """
    numbers = [id_number(value, kind) for value, kind in
               zip((program, observation, visit), ID_DIGITS, strict=True)]
    return "jw{:05d}{:03d}{:03d}".format(*numbers)


def selection_text(program, observation=None, visit=None):
    """A program, observation or visit in words, for messages and logs.

    Parameters
    ----------
    program : int
        Program number.
    observation, visit : int, optional
        None for all observations (visits); a visit of a given observation
        also gets its visit id.

    Examples
    --------
    >>> from spelunker.names import selection_text
    >>> selection_text(1534, 1)
    'program 1534, observation 1'
    >>> selection_text(1534, 1, 2)
    'program 1534, observation 1, visit 2 (jw01534001002)'
    """
    parts = [f"program {program}"]
    if observation is not None:
        parts.append(f"observation {observation}")
    if visit is not None:
        parts.append(f"visit {visit}")
    text = ", ".join(parts)
    if observation is not None and visit is not None:
        text += f" ({visit_id(program, observation, visit)})"
    return text


def parse_visit_id(text):
    """(program, observation, visit) of a visit id: ``jw01534001002``, ``01534001002``.

    The header's ``VISIT_ID`` (11 digits) and the ``V`` form of ``OBS_ID``'s
    start are accepted too.

    Raises
    ------
    spelunker.errors.ParameterError
        ``text`` is not a visit id.

    Examples
    --------
    >>> from spelunker.names import parse_visit_id
    >>> parse_visit_id("jw01534001002")
    (1534, 1, 2)
    """
    match = _VISIT_ID.match(str(text).strip()) if isinstance(text, str) else None
    if match is None:
        msg = f"{text!r} is not a visit id 'jw' + program (5 digits) + observation (3) + visit (3)"
        raise ParameterError(msg)
    return tuple(int(match[kind]) for kind in ID_DIGITS)


def parse_selection(value, length, *, name, where=None):
    """(program, observation[, visit]) from a tuple or ``'P:O[:V]'`` text.

    Parameters
    ----------
    value : str or sequence
        ``'1534:1'``, ``'1534:1:2'``, ``(1534, 1)`` or ``(1534, 1, 2)``.
    length : {2, 3}
        2 for an observation, 3 for a visit.
    name : str
        The parameter's name in the message.

    Raises
    ------
    spelunker.errors.ParameterError
        The wrong number of parts, or a part that is not a number in range.

    Examples
    --------
    >>> from spelunker.names import parse_selection
    >>> parse_selection("1534:1:2", 3, name="visits")
    (1534, 1, 2)
    """
    length = check_int_range(length, "length", 2, 3, where="parse_selection")
    if isinstance(value, str):
        parts = value.split(":")
    elif isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        parts = None
    if parts is None or len(parts) != length:
        form = "PROGRAM:OBSERVATION" if length == 2 else "PROGRAM:OBSERVATION:VISIT"
        text = f"{name}={value!r} must be {form} (or a tuple of {length} numbers)"
        msg = f"{where}: {text}" if where else text
        raise ParameterError(msg)
    return tuple(id_number(part, kind, name=name, where=where)
                 for part, kind in zip(parts, ID_DIGITS, strict=False))


def strip_segment(name):
    """``name`` without its ``-segNNN`` part (the name of a visit of several segments).

    Parameters
    ----------
    name : str or os.PathLike
        A product name or path.

    Returns
    -------
    str
        The same text without the segment part.

    Examples
    --------
    >>> from spelunker.names import strip_segment
    >>> strip_segment("jw01534001001_gs-fg_2022338013723-seg001_cal.fits")
    'jw01534001001_gs-fg_2022338013723_cal.fits'
    """
    return re.sub(r"-seg\d{3}(?=_)", "", _text(name, "name"))


#: Suffix of the jitter file written beside a science exposure (`jitter_file_name`).
JITTER_SUFFIX = "gsjit"


def jitter_file_name(science):
    """The name of a science exposure's jitter file: ``<science rootname>_gsjit.fits``.

    The rootname is the science file's name without its folder and its last
    ``_<suffix>.fits`` (``_rateints.fits``, ``_calints.fits``,
    ``_x1dints.fits`` ...), as JWST names its products.  Written by
    `spelunker.pointing.exposure.write_jitter_file`; it lives here, the one
    owner of product names, so the ``spelunker-jitter`` command can check
    its outputs before loading anything heavy.

    Parameters
    ----------
    science : str, os.PathLike or stdatamodels model
        The science product's path or name, or an open model (its
        ``meta.filename``).

    Returns
    -------
    str

    Raises
    ------
    spelunker.errors.ParameterError
        For anything without a file name (a table, a model never saved, an
        empty name).

    Examples
    --------
    >>> from spelunker.names import jitter_file_name
    >>> jitter_file_name("data/jw01366003001_04101_00001-seg001_nrs1_rateints.fits")
    'jw01366003001_04101_00001-seg001_nrs1_gsjit.fits'
    >>> jitter_file_name("exposure.fits")
    'exposure_gsjit.fits'
    """
    if isinstance(science, (str, os.PathLike)):
        name = _basename(science, "science")
    else:
        name = getattr(getattr(science, "meta", None), "filename", None)
        if not isinstance(name, str):
            msg = (f"science={type(science).__name__}: no file name to name its jitter file "
                   "after (a science product's path, or a model with meta.filename, is needed)")
            raise ParameterError(msg)
        name = _basename(name, "science")
    stem = name[:-len(".fits")] if name.lower().endswith(".fits") else name
    root, underscore, _ = stem.rpartition("_")
    root = root if underscore and root else stem
    if not root:
        msg = f"science={science!r}: an empty file name"
        raise ParameterError(msg)
    return f"{root}_{JITTER_SUFFIX}.fits"


def is_fine_guide_cal(name):
    """Whether a file name looks like a calibrated fine-guide product (``_gs-fg_..._cal.fits``).

    Only the name is looked at; the reader checks the headers.

    Parameters
    ----------
    name : str or os.PathLike
        A file name or path.

    Returns
    -------
    bool

    Examples
    --------
    >>> from spelunker.names import is_fine_guide_cal
    >>> is_fine_guide_cal("jw01534001001_gs-fg_2022338013723-seg001_cal.fits")
    True
    >>> is_fine_guide_cal("jw01534001001_gs-track_2022338013723_cal.fits")
    False
    """
    text = os.path.basename(_text(name, "name"))
    return "_gs-fg_" in text and text.endswith("_cal.fits")


def check_product_name(name):
    """Return ``name`` if it is a plain guider product file name, else raise.

    Names come from the archive's reply and become local paths, so only a
    bare ``jw..._gs-..._<cal|uncal>.fits`` name (`PRODUCT_NAME`) is
    accepted: no directory part, no ``..``, no absolute path.

    Parameters
    ----------
    name : str
        A file name from the archive.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    spelunker.errors.DownloadError
        The name could escape the download directory or is not a guider
        product name.

    Examples
    --------
    >>> from spelunker.names import check_product_name
    >>> check_product_name("jw01534001001_gs-fg_2022338013723-seg001_cal.fits")
    'jw01534001001_gs-fg_2022338013723-seg001_cal.fits'
    >>> check_product_name("../evil_cal.fits")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.DownloadError: refusing archive file name '../evil_cal.fits': ...
    """
    text = str(name) if name is not None else ""
    if (not text or "/" in text or "\\" in text or ".." in text or "\x00" in text
            or os.path.isabs(text) or os.path.basename(text) != text):
        msg = (f"refusing archive file name {text!r}: it is not a bare file name "
               "(path separators, '..' or an absolute path)")
        raise DownloadError(msg, failures={text: "unsafe file name"})
    if not PRODUCT_NAME.fullmatch(text):
        msg = (f"refusing archive file name {text!r}: not a JWST guider product name "
               "(jw<ppppp><ooo><vvv>_gs-<mode>_<stamp>_<cal|uncal>.fits)")
        raise DownloadError(msg, failures={text: "not a guider product name"})
    return text


def guider_name_fields(name):
    """Program, observation, visit, mode and level of a `check_product_name` name.

    Parameters
    ----------
    name : str
        A name accepted by `check_product_name`.

    Returns
    -------
    dict
        ``program``, ``observation``, ``visit`` (int), ``mode`` (``'fg'``,
        ``'track'``, ``'acq1'``, ``'acq2'``, ``'id'``, a key of
        `MODE_EXP_TYPES`) and ``level`` (``'cal'`` or ``'uncal'``).

    Raises
    ------
    spelunker.errors.DownloadError
        As `check_product_name`.

    Examples
    --------
    >>> from spelunker.names import guider_name_fields
    >>> fields = guider_name_fields("jw01534001002_gs-fg_2022338013723-seg001_uncal.fits")
    >>> fields["program"], fields["visit"], fields["mode"], fields["level"]
    (1534, 2, 'fg', 'uncal')
    """
    parts = PRODUCT_NAME.fullmatch(check_product_name(name)).groupdict()
    return {"program": int(parts["program"]), "observation": int(parts["observation"]),
            "visit": int(parts["visit"]), "mode": parts["mode"], "level": parts["level"]}


def _stamp_to_time(stamp, name):
    """yyyydddhhmmss -> Time (UTC)."""
    year, day, hour, minute, second = (int(stamp[0:4]), int(stamp[4:7]), int(stamp[7:9]),
                                       int(stamp[9:11]), int(stamp[11:13]))
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not (1 <= day <= (366 if leap else 365) and hour < 24 and minute < 60 and second < 61):
        msg = (f"{name!r}: time stamp {stamp!r} is not a valid yyyydddhhmmss "
               "(year, day of year, hour, minute, second)")
        raise ParameterError(msg)
    return Time(f"{year:04d}:{day:03d}:{hour:02d}:{minute:02d}:{second:02d}", format="yday",
                scale="utc")


def _parse_exposure_form(text, *, original):
    match = _EXPOSURE.match(text)
    if match is None:
        return None
    parts = match.groupdict()
    if parts["fits"] and not parts["suffix"]:
        return None  # a file needs both a detector and a suffix
    if not parts["fits"] and parts["suffix"]:
        return None  # a folder has no suffix
    result = dict.fromkeys(_KEYS)
    result.update(
        kind="exposure" if parts["fits"] else "obs_id",
        name=original,
        program=int(parts["program"]),
        observation=int(parts["observation"]),
        visit=int(parts["visit"]),
        visit_group=int(parts["visit_group"]),
        parallel_sequence=int(parts["parallel_sequence"]),
        activity=int(parts["activity"], 36),
        exposure=int(parts["exposure"]),
        segment=int(parts["segment"]) if parts["segment"] else None,
        detector=parts["detector"].upper() if parts["detector"] else None,
        suffix=parts["suffix"],
    )
    if not parts["fits"]:
        result["obs_id"] = text
    return result


def _parse_guider_form(text, *, original):
    match = _GUIDER.match(text)
    id_match = None if match else _GUIDER_ID.match(text)
    if match is None and id_match is None:
        return None
    parts = (match or id_match).groupdict()
    result = dict.fromkeys(_KEYS)
    result.update(
        kind="guider",
        name=original,
        program=int(parts["program"]),
        observation=int(parts["observation"]),
        visit=int(parts["visit"]),
        segment=int(parts["segment"]) if parts["segment"] else None,
        suffix=parts["suffix"],
    )
    if match is not None:
        result["mode"] = parts["mode"]
        result["timestamp"] = _stamp_to_time(parts["stamp"], original)
    else:
        result["mode"] = f"id-{parts['id_kind']}"
        result["attempt"] = int(parts["attempt"])
    result["exp_type"] = GUIDER_EXP_TYPES[result["mode"]]
    return result


def _text(value, what):
    """``value`` (a str or os.PathLike) as a str; anything else is a ParameterError."""
    if not isinstance(value, (str, os.PathLike)):
        msg = f"{what} must be a string or path, got {type(value).__name__}"
        raise ParameterError(msg)
    return os.fspath(value)


def _basename(value, what):
    text = _text(value, what).strip().rstrip("/\\")
    return re.split(r"[/\\]", text)[-1]


def parse_product_name(name, obs_id=None):
    """Split a JWST guider or exposure product name (or MAST folder) into its fields.

    Parameters
    ----------
    name : str or os.PathLike
        A file name or path: a guider product
        (``jw01534005002_gs-fg_2023202104507_cal.fits``,
        ``jw01534003001_gs-fg_2023125180012-seg002_uncal.fits``,
        ``jw01029001001_gs-id_1_image_cal.fits``), a science exposure
        (``jw01534005002_04101_00001-seg001_nis_calints.fits``) or a MAST
        folder / CAOM obs_id (``jw01534005002_05101_00002_guider1``).
    obs_id : str or os.PathLike, optional
        The MAST folder the file was downloaded into; it supplies the visit
        group, parallel sequence, activity, exposure and detector a guider
        name lacks.  Its program, observation and visit must match the
        name's.

    Returns
    -------
    dict
        ``kind`` (``'guider'``, ``'exposure'`` or ``'obs_id'``), ``name``,
        ``program``, ``observation``, ``visit``, ``mode`` (``'fg'``,
        ``'track'``, ``'acq1'``, ``'acq2'``, ``'id-image'``,
        ``'id-stacked'``), ``exp_type``, ``timestamp`` (the end of the data,
        `~astropy.time.Time`, UTC, to the second), ``attempt`` (ID
        products), ``segment``, ``suffix``, ``visit_group``,
        ``parallel_sequence``, ``activity``, ``exposure``, ``detector``
        (upper case), ``obs_id``.  Fields a name does not carry are None.

    Raises
    ------
    spelunker.errors.ParameterError
        The name (or ``obs_id``) does not follow the JWST naming, has an
        invalid time stamp, or ``obs_id`` belongs to another visit.

    Examples
    --------
    >>> from spelunker.names import parse_product_name
    >>> info = parse_product_name("jw01534003001_gs-fg_2023125180012-seg002_cal.fits")
    >>> info["program"], info["observation"], info["visit"], info["segment"], info["suffix"]
    (1534, 3, 1, 2, 'cal')
    >>> info["timestamp"].isot, info["timestamp"].scale
    ('2023-05-05T18:00:12.000', 'utc')
    >>> info = parse_product_name("jw01534005002_gs-fg_2023202104507_cal.fits",
    ...                           obs_id="jw01534005002_05101_00002_guider1")
    >>> print(info["visit_group"], info["parallel_sequence"], info["activity"],
    ...       info["exposure"], info["detector"], info["segment"])
    5 1 1 2 GUIDER1 None
    >>> parse_product_name("jw1534_gs-fg_cal.fits")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spelunker.errors.ParameterError: 'jw1534_gs-fg_cal.fits' is not a JWST product name ...
    """
    text = _basename(name, "name")
    result = _parse_guider_form(text, original=text) or _parse_exposure_form(text,
                                                                             original=text)
    if result is None:
        msg = (f"{text!r} is not a JWST product name (expected "
               "jw<ppppp><ooo><vvv>_gs-<mode>_<yyyydddhhmmss>[-segNNN]_<suffix>.fits, "
               "jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>[-segNNN]_<detector>_<suffix>.fits "
               "or the folder jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>_<detector>)")
        raise ParameterError(msg)
    if obs_id is None:
        return result
    folder_text = _basename(obs_id, "obs_id")
    folder = _parse_exposure_form(folder_text, original=folder_text)
    if folder is None or folder["kind"] != "obs_id":
        msg = (f"obs_id {folder_text!r} is not a JWST exposure folder name "
               "(jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>[-segNNN]_<detector>)")
        raise ParameterError(msg)
    for key in ("program", "observation", "visit"):
        if folder[key] != result[key]:
            msg = (f"obs_id {folder_text!r} ({key} {folder[key]}) does not belong to "
                   f"{text!r} ({key} {result[key]})")
            raise ParameterError(msg)
    for key in ("visit_group", "parallel_sequence", "activity", "exposure", "detector"):
        if result[key] is None:
            result[key] = folder[key]
        elif folder[key] is not None and folder[key] != result[key]:
            msg = (f"obs_id {folder_text!r} ({key} {folder[key]}) does not match "
                   f"{text!r} ({key} {result[key]})")
            raise ParameterError(msg)
    if result["segment"] is None:
        result["segment"] = folder["segment"]
    result["obs_id"] = folder_text
    return result


def parse_obs_id(obs_id):
    """Split a guider header's OBS_ID keyword into its fields.

    JWST headers carry ``OBS_ID = 'V' + VISIT_ID + 'P' + 13 digits``, where
    VISIT_ID is program (5 digits), observation (3) and visit (3), and the
    last five digits are the visit group (2), the parallel sequence id (1)
    and the activity (2, base 36 as in file names).  For
    ``V01029001001P0000000001102``: program 1029, observation 1, visit 1,
    visit group 1, parallel sequence 1, activity 2, matching science
    exposures named ``jw01029001001_01102_<exposure>_...``.  The exposure
    number is not in OBS_ID.

    Parameters
    ----------
    obs_id : str
        The OBS_ID value.

    Returns
    -------
    dict
        ``obs_id``, ``visit_id`` (11 digits), ``program``, ``observation``,
        ``visit``, ``visit_group``, ``parallel_sequence``, ``activity``
        (integers).

    Raises
    ------
    spelunker.errors.ParameterError
        The value does not have this form.

    Examples
    --------
    >>> from spelunker.names import parse_obs_id
    >>> info = parse_obs_id("V01029001001P0000000001102")
    >>> info["visit_id"], info["visit_group"], info["parallel_sequence"], info["activity"]
    ('01029001001', 1, 1, 2)
    """
    text = str(obs_id).strip() if obs_id is not None else ""
    match = _HEADER_OBS_ID.match(text)
    if match is None:
        msg = (f"OBS_ID {text!r} is not 'V' + VISIT_ID (11 digits) + 'P' + 13 digits "
               "(e.g. 'V01029001001P0000000001102')")
        raise ParameterError(msg)
    parts = match.groupdict()
    return {
        "obs_id": text,
        "visit_id": text[1:12],
        "program": int(parts["program"]),
        "observation": int(parts["observation"]),
        "visit": int(parts["visit"]),
        "visit_group": int(parts["visit_group"]),
        "parallel_sequence": int(parts["parallel_sequence"]),
        "activity": int(parts["activity"].lower(), 36),
    }
