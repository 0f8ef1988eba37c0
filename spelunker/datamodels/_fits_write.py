"""Write a `~spelunker.GuideStarModel` to FITS in one pass: labelled tables, no column copies.

`write_fits` is ``stdatamodels.DataModel.to_fits`` with two differences
that matter for million-row tables (issue 23):

- the table HDUs get their units and time labels
  (`spelunker.datamodels._units.label_fits_hdus`) before the file is
  written, instead of the saved file being reopened and rewritten;
- after the write, the temporary record arrays of the tables go without
  copying their columns (astropy's ``FITS_rec.__del__`` copies every column
  still defined on a dying table so that its ``Column`` objects stay
  usable; nothing uses them after a write, and the copies cost about 1 s
  and the tables' size in memory per million rows).
"""

import warnings

from astropy.io import fits
from stdatamodels import fits_support

from spelunker.datamodels._units import label_fits_hdus

__all__ = []


def write_fits(model, init, *args, **kwargs):
    """Write ``model`` (a GuideStarModel) to the FITS file ``init``.

    ``args`` and ``kwargs`` go to `astropy.io.fits.HDUList.writeto`.
    """
    hdulist = fits_support.to_fits(model._instance, model._schema)
    if getattr(model, "_no_asdf_extension", False) and "ASDF" in hdulist:
        del hdulist["ASDF"]  # as stdatamodels does for such models
    label_fits_hdus(hdulist, model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Card is too long")
        hdulist.writeto(init, *args, **kwargs)
    _release_tables(hdulist, model)


def _release_tables(hdulist, model):
    """Drop the column definitions of the written tables the model does not hold itself."""
    own = {id(getattr(model, name)) for name in model.schema["properties"]
           if model.hasattr(name)}
    for hdu in hdulist:
        data = hdu.__dict__.get("data") if isinstance(hdu, fits.BinTableHDU) else None
        if isinstance(data, fits.FITS_rec) and id(data) not in own:
            # Without its column definitions, FITS_rec.__del__ has nothing to copy.
            del data._coldefs
