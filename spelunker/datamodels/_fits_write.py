"""Write a `~spelunker.GuideStarModel` to FITS in one pass: tables streamed from their columns.

`write_fits` is ``stdatamodels.DataModel.to_fits`` with the tables (every
schema property with a column list: frames, fits, light curve, periodogram,
on-board tables ...) written by spelunker instead of by stdatamodels and
astropy (issue 23).  stdatamodels validates the tree by reading every column
of every table (decoding each string of the million-row CENTROID table),
astropy wraps each table in new record arrays whose deletion copies every
column, and byte-swaps it through index arrays: about 2 s for a
1,000,000-frame product.  Here stdatamodels writes the rest (primary header
and its keywords, image arrays, the ASDF tree) and each table is written as
FITS binary-table HDU straight from its columns, a block of rows at a time,
into one reused big-endian buffer: one pass over the bytes, no copy of a
whole table.  The table HDUs carry their units and time labels
(`spelunker.datamodels._units.label_table_header`); their headers are
astropy's for the same columns.  The images (``SCI``, ``ERR``, ``DQ``,
``APERTURE``) come first, then the tables in the schema's order, then the
ASDF tree, which names the tables only through the schema (stdatamodels
reads each table from the HDU the schema names, as for any product).
"""

import contextlib
import os
import warnings

import numpy as np
from astropy.io import fits
from stdatamodels import fits_support

from spelunker.datamodels._units import label_table_header, table_hdus
from spelunker.errors import ParameterError

__all__ = []

#: Rows converted and written at a time (a 2-3 MB buffer for the widest tables).
_BLOCK_ROWS = 16384

_BLOCK = 2880  # FITS block size in bytes


def write_fits(model, init, *args, **kwargs):
    """Write ``model`` (a GuideStarModel) to the FITS file ``init`` (a path or binary file).

    ``args`` and ``kwargs`` go to `astropy.io.fits.HDUList.writeto` for
    the HDUs stdatamodels builds (``overwrite``, ``output_verify``).  With
    ``checksum=True`` every HDU is written by astropy (the table HDUs built
    from the same columns), so that each carries its CHECKSUM and DATASUM.
    """
    hdus = table_hdus(model)
    tables = {name: model._instance[name] for name in hdus
              if isinstance(model._instance.get(name), np.ndarray)}
    tree = {key: value for key, value in model._instance.items() if key not in tables}
    # Header cards a reopened product carried on its table HDUs (extra_fits)
    # go to those tables' headers, not to HDUs of their own.
    extra = dict(tree.get("extra_fits") or {})
    carried = {hdus[name]: extra.pop(hdus[name], {}).get("header", []) for name in tables}
    if "extra_fits" in tree:
        tree["extra_fits"] = extra
    hdulist = fits_support.to_fits(tree, model._schema)
    if getattr(model, "_no_asdf_extension", False) and "ASDF" in hdulist:
        del hdulist["ASDF"]  # as stdatamodels does for such models
    asdf_hdu = hdulist.pop(hdulist.index_of("ASDF")) if "ASDF" in hdulist else None
    headers = {name: _table_header(name, hdus[name], table, carried[hdus[name]])
               for name, table in tables.items()}
    if kwargs.get("checksum"):
        # astropy computes the checksums: it writes every HDU, tables included.
        for name, table in tables.items():
            hdulist.append(fits.BinTableHDU(_storage_copy(table), header=headers[name]))
        if asdf_hdu is not None:
            hdulist.append(asdf_hdu)
        with _long_cards():
            hdulist.writeto(init, *args, **kwargs)
        return
    overwrite = kwargs.pop("overwrite", False)
    if isinstance(init, (str, os.PathLike)) and not overwrite and os.path.exists(init):
        msg = f"{os.fspath(init)}: the file exists; give overwrite=True to replace it"
        raise ParameterError(msg)
    opened = open(init, "wb") if isinstance(init, (str, os.PathLike)) \
        else contextlib.nullcontext(init)
    with opened as handle:
        with _long_cards():
            hdulist.writeto(handle, *args, **kwargs)
        for name, table in tables.items():
            _write_table(handle, headers[name], table)
        if asdf_hdu is not None:
            _write_table(handle, asdf_hdu.header, asdf_hdu.data)


@contextlib.contextmanager
def _long_cards():
    """Without astropy's "Card is too long" warning: long values go to CONTINUE cards."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Card is too long")
        yield


def _storage_dtype(dtype):
    """The big-endian (FITS) dtype of a table's columns; one-byte and string columns as they are."""
    return np.dtype([(name, dtype[name].newbyteorder(">")) for name in dtype.names])


def _table_header(name, extname, table, cards):
    """astropy's binary-table header for ``table``'s columns, labelled with units and times.

    ``cards`` (keyword, value, comment) are appended first, as stdatamodels
    appends a reopened product's other cards, FITS structure keywords left out.
    """
    empty = np.zeros(0, dtype=_storage_dtype(table.dtype))
    with _long_cards():
        header = fits.BinTableHDU(empty, name=extname).header
        header["NAXIS2"] = len(table)
        header["EXTVER"] = (1, "extension value")  # as stdatamodels numbers its HDUs
        for key, value, comment in cards:
            if not fits_support.is_builtin_fits_keyword(key):
                header.append((key, value, comment), end=True)
    label_table_header(header, name, table.dtype.names)
    return header


def _column(table, name):
    """The values of one column as the model holds them, without decoding its strings.

    A FITS record array keeps its values in its raw storage, except for
    columns astropy has converted (strings read as ``str``, scaled
    integers): those are taken from astropy, strings encoded back to ASCII.
    """
    if not isinstance(table, fits.FITS_rec):
        return table[name]
    column = table.columns[name]
    if name in getattr(table, "_converted", {}) or column.bzero not in (None, 0) or \
            column.bscale not in (None, 1):
        values = table.field(name)
        return np.char.encode(values, "ascii") if values.dtype.kind == "U" else values
    return table.view(np.ndarray)[name]


def _storage_copy(table):
    """A big-endian copy of a whole table (the checksum path only)."""
    out = np.empty(len(table), dtype=_storage_dtype(table.dtype))
    for name in table.dtype.names:
        out[name] = _column(table, name)
    return out


def _write_table(handle, header, table):
    """Write one binary-table HDU: header, rows in big-endian blocks, zero padding."""
    handle.write(header.tostring().encode("ascii"))
    n_rows = len(table)
    dtype = _storage_dtype(table.dtype)
    columns = [(name, _column(table, name)) for name in dtype.names]
    block = np.empty(min(n_rows, _BLOCK_ROWS), dtype=dtype)
    for start in range(0, n_rows, _BLOCK_ROWS):
        stop = min(n_rows, start + _BLOCK_ROWS)
        rows = block[:stop - start]
        for name, values in columns:
            rows[name] = values[start:stop]
        handle.write(memoryview(rows.view(np.uint8)))
    size = n_rows * dtype.itemsize
    handle.write(b"\0" * (-size % _BLOCK))

