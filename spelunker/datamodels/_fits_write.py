"""Write a `~spelunker.GuideStarModel` to FITS in one pass: labelled tables, no column copies.

`write_fits` is ``stdatamodels.DataModel.to_fits`` with one difference
that matters for million-row tables (issue 23): the table HDUs get their
units and time labels (`spelunker.datamodels._units.label_fits_hdus`)
before the file is written, instead of the saved file being reopened and
rewritten.  (Dropping the column definitions of the written tables, so that
astropy's ``FITS_rec.__del__`` would not copy their columns, saved about
1 s per million rows but also stripped tables the model still used: the
events of a saved model were lost.)
"""

import warnings

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

