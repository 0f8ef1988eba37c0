"""The per-file table (``fg_table``): one row per guider product of a model, with its fields.

The original tool's ``fg_table``: for each file of a `~spelunker.GuideStarModel`
(its ``model.table('files')``), the program, observation, visit, segment,
guide star, detector, times and frame count the reader recorded, with the
fields only a name carries (`spelunker.names.parse_product_name`).  A
guider file name does not carry the visit group, parallel sequence,
activity or exposure: its MAST folder (``obs_ids``) does, and the header's
OBS_ID (`spelunker.names.parse_obs_id`) gives all but the exposure.  The
grammar of these names is `spelunker.names`'; this module only builds the
table from it.
"""

import logging

import numpy as np
from astropy.table import MaskedColumn, QTable, Table
from astropy.time import Time

from spelunker.errors import ParameterError
from spelunker.names import _basename, parse_obs_id, parse_product_name

__all__ = ["fg_table"]

log = logging.getLogger(__name__)


def _header_obs_id_fields(value, file_name, row):
    """Visit group, sequence and activity from a file's header OBS_ID, or None.

    ``row`` holds the file's program, observation and visit (None when
    unknown); an OBS_ID of another visit is ignored with a warning.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip()
    if not text:
        return None
    try:
        parsed = parse_obs_id(text)
    except ParameterError as exc:
        log.warning("fg_table: %s: %s; its visit group, parallel sequence and activity are "
                    "left masked", file_name, exc)
        return None
    for key in ("program", "observation", "visit"):
        if row.get(key) is not None and parsed[key] != row[key]:
            log.warning("fg_table: %s: header OBS_ID %r is of %s %d, the file of %s %d; its "
                        "visit group, parallel sequence and activity are left masked",
                        file_name, text, key, parsed[key], key, row[key])
            return None
    return parsed


def _files_table(source):
    if hasattr(source, "files") and callable(getattr(source, "table", None)):
        return source.table("files")
    if isinstance(source, Table):
        return source
    msg = (f"fg_table needs a GuideStarModel or its files table (model.table('files')), "
           f"got {type(source).__name__}")
    raise ParameterError(msg)


def _obs_id_for(obs_ids, index, file_name, n_files):
    if obs_ids is None:
        return None
    if isinstance(obs_ids, dict):
        value = obs_ids.get(file_name)
        if value is None:
            # Keys may be paths: match on the base name.
            for key, candidate in obs_ids.items():
                if _basename(key, "obs_ids key") == file_name:
                    return candidate
        return value
    if len(obs_ids) != n_files:
        msg = (f"fg_table: obs_ids has {len(obs_ids)} entries for {n_files} files; pass one "
               "per file (None where unknown) or a {file_name: obs_id} mapping")
        raise ParameterError(msg)
    return obs_ids[index]


def fg_table(model, *, obs_ids=None):
    """One row per guider product of a model, with the fields of its name (``fg_table``).

    Parameters
    ----------
    model : GuideStarModel or astropy.table.Table
        A model or its ``model.table('files')``.
    obs_ids : dict or sequence, optional
        The MAST folder (CAOM obs_id) of each file, e.g.
        ``{'jw01534005002_gs-fg_2023202104507_cal.fits':
        'jw01534005002_05101_00002_guider1'}`` or a list in file order
        (None where unknown).  Folders supply the visit group, parallel
        sequence, activity and exposure, which guider names lack.  Without
        a folder, the visit group, parallel sequence and activity come from
        the header's OBS_ID (the files table's ``obs_id`` column, see
        `parse_obs_id`); a folder given wins and must agree with it.

    Returns
    -------
    astropy.table.QTable
        ``file_name``, ``obs_id`` ('' when unknown), ``program``,
        ``observation``, ``visit``, ``visit_group``, ``parallel_sequence``,
        ``activity`` (from the folder, else the header OBS_ID; masked when
        neither), ``exposure`` (from the folder; masked when unknown), ``segment`` (from
        the ``-segNNN`` of the name, else the header's EXSEGNUM; masked when
        neither), ``detector``, ``gs_id``, ``exp_type``, ``data_start``,
        ``data_end`` (`~astropy.time.Time`, UTC) and ``n_frames``.

    Raises
    ------
    spelunker.errors.ParameterError
        ``model`` is neither a model nor a files table; an obs_id does not
        match its file or its header OBS_ID; obs_ids that are neither a
        mapping nor a list, or a wrong number of them.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from spelunker.filetable import fg_table
    >>> files = QTable({
    ...     "file_name": ["jw01534005002_gs-fg_2023202104507_cal.fits"], "program": [1534],
    ...     "observation": [5], "visit": [2], "segment": [1], "detector": ["GUIDER1"],
    ...     "gs_id": ["S1HP081234"], "exp_type": ["FGS_FINEGUIDE"],
    ...     "data_start_mjd": [60146.4405], "data_end_mjd": [60146.4480], "n_frames": [12000]})
    >>> table = fg_table(files, obs_ids=["jw01534005002_05101_00002_guider1"])
    >>> print(table["visit_group"][0], table["activity"][0], table["exposure"][0],
    ...       table["segment"][0], table["data_end"][0].isot)
    5 1 2 1 2023-07-21T10:45:07.200
    >>> files["obs_id"] = ["V01534005002P0000000005101"]  # the header's OBS_ID
    >>> table = fg_table(files)
    >>> print(table["visit_group"][0], table["parallel_sequence"][0], table["activity"][0],
    ...       table["exposure"][0])
    5 1 1 --
    """
    files = _files_table(model)
    if not (obs_ids is None or isinstance(obs_ids, (dict, list, tuple, np.ndarray))):
        msg = (f"fg_table: obs_ids={obs_ids!r:.60} must be a {{file_name: obs_id}} mapping or "
               "a list of one obs_id per file (None where unknown)")
        raise ParameterError(msg)
    n = len(files)
    names = [str(v).strip() for v in np.asarray(files["file_name"])]
    ints = {key: np.zeros(n, dtype=np.int32) for key in
            ("program", "observation", "visit", "visit_group", "parallel_sequence",
             "activity", "exposure", "segment")}
    masks = {key: np.ones(n, dtype=bool) for key in ints}
    obs_column = []
    detectors = []
    header_detectors = (np.asarray(files["detector"]) if "detector" in files.colnames
                        else np.array([""] * n))
    header_obs_ids = (np.asarray(files["obs_id"]) if "obs_id" in files.colnames
                      else np.array([""] * n))
    for index, file_name in enumerate(names):
        obs_id = _obs_id_for(obs_ids, index, file_name, n)
        try:
            parsed = parse_product_name(file_name)
        except ParameterError:
            parsed = None
            log.debug("fg_table: %r is not a JWST product name; using header values only",
                      file_name)
        folder = None
        if obs_id is not None:
            if parsed is not None:
                parsed = parse_product_name(file_name, obs_id=obs_id)
                folder = parsed
            else:
                folder = parse_product_name(obs_id)
                if folder["kind"] != "obs_id":
                    msg = f"fg_table: obs_id {obs_id!r} of {file_name!r} is not a folder name"
                    raise ParameterError(msg)
        info = parsed or folder or {}
        for key in ("program", "observation", "visit"):
            header_value = (int(np.asarray(files[key])[index]) if key in files.colnames
                            else -1)
            value = header_value if header_value >= 0 else info.get(key)
            if value is not None and value >= 0:
                ints[key][index], masks[key][index] = value, False
        named = folder or info  # the folder's fields, or an exposure name's own
        header = _header_obs_id_fields(
            header_obs_ids[index], file_name,
            {key: None if masks[key][index] else int(ints[key][index])
             for key in ("program", "observation", "visit")})
        for key in ("visit_group", "parallel_sequence", "activity", "exposure"):
            value = named.get(key)
            from_header = None if header is None else header.get(key)
            if value is not None and from_header is not None and value != from_header:
                given = f"obs_id {obs_id!r}" if folder is not None else repr(file_name)
                msg = (f"fg_table: {given} gives {key} {value}, but the header OBS_ID "
                       f"{header['obs_id']!r} of {file_name!r} gives {from_header}")
                raise ParameterError(msg)
            if value is None:
                value = from_header
            if value is not None:
                ints[key][index], masks[key][index] = value, False
        segment = info.get("segment")
        if segment is None and "segment" in files.colnames:
            header_segment = int(np.asarray(files["segment"])[index])
            segment = header_segment if header_segment > 0 else None
        if segment is not None:
            ints["segment"][index], masks["segment"][index] = segment, False
        header_detector = str(header_detectors[index]).strip().upper()
        folder_detector = (folder or {}).get("detector")
        if header_detector and folder_detector and header_detector != folder_detector:
            msg = (f"fg_table: obs_id {obs_id!r} names detector {folder_detector}, but "
                   f"{file_name!r} was taken with {header_detector}")
            raise ParameterError(msg)
        detectors.append(header_detector or folder_detector or "")
        obs_column.append("" if obs_id is None else _basename(obs_id, "obs_id"))

    table = QTable()
    table["file_name"] = np.array(names, dtype=str)
    table["obs_id"] = np.array(obs_column, dtype=str)
    for key, values in ints.items():
        table[key] = MaskedColumn(values, mask=masks[key])
    table["detector"] = np.array(detectors, dtype=str)
    table["gs_id"] = np.array([str(v).strip() for v in np.asarray(files["gs_id"])], dtype=str)
    if "exp_type" in files.colnames:
        table["exp_type"] = np.array([str(v).strip() for v in np.asarray(files["exp_type"])],
                                     dtype=str)
    start = Time(np.asarray(files["data_start_mjd"], dtype=float), format="mjd", scale="utc")
    end = Time(np.asarray(files["data_end_mjd"], dtype=float), format="mjd", scale="utc")
    start.format = end.format = "isot"
    table["data_start"] = start
    table["data_end"] = end
    table["n_frames"] = np.asarray(files["n_frames"], dtype=np.int64)
    table["activity"].description = "Activity number (base 36 in names)"
    table["data_start"].info.description = "DATASTRT (UTC)"
    table["data_end"].info.description = "DATAEND (UTC)"
    return table
