"""Open products saved before the schema gained columns: the columns added, "unknown" in them.

`with_added_columns` is used by `~spelunker.GuideStarModel` when stdatamodels
refuses a saved FITS product whose tables lack a column in `_ADDED_COLUMNS`.
"""

import numpy as np
from astropy.io import fits

__all__ = []

#: Columns the schema gained after products were first written: (HDU, column, FITS format,
#: value meaning "unknown").  A saved product without them still opens, with that value.
_ADDED_COLUMNS = (("FILES", "xstart", "J", 0), ("FILES", "ystart", "J", 0),
                  ("GUIDESTARS", "gs_v3_pa", "D", np.nan))


def with_added_columns(path):
    """The product's HDUs, with the `_ADDED_COLUMNS` it lacks ("unknown").

    None if none is missing.
    """
    # Read everything into memory and close the file: the model does not own this HDUList.
    with fits.open(path, memmap=False) as opened:
        hdul = fits.HDUList([hdu.copy() for hdu in opened])
    changed = False
    for extname in {extname for extname, *_ in _ADDED_COLUMNS}:
        if extname not in hdul:
            continue
        hdu = hdul[extname]
        names = {name.lower() for name in hdu.columns.names}
        missing = [fits.Column(name=column, format=form,
                               array=np.full(hdu.header["NAXIS2"], unknown))
                   for name, column, form, unknown in _ADDED_COLUMNS
                   if name == extname and column not in names]
        if missing:
            hdul[extname] = fits.BinTableHDU.from_columns(hdu.columns + fits.ColDefs(missing),
                                                          header=hdu.header, name=extname)
            changed = True
    return hdul if changed else None
