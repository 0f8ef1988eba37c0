"""Facts about the Fine Guidance Sensor that the whole package uses.

One owner for the instrument's numbers: the synthetic generator
(`spelunker.datasets`), the survey columns in milliarcseconds and the
figures read them from here, never from each other.

Examples
--------
>>> from spelunker.instrument import PIXEL_SCALE, MAS_PER_PIXEL
>>> PIXEL_SCALE, MAS_PER_PIXEL
(0.069, 69.0)
"""

__all__ = ["FRAME_SHAPE", "MAS_PER_PIXEL", "PIXEL_SCALE"]

#: FGS pixel scale (arcsec per pixel).
PIXEL_SCALE = 0.069

#: FGS pixel scale (milliarcseconds per pixel).
MAS_PER_PIXEL = PIXEL_SCALE * 1000.0

#: Shape (rows, columns) of one fine-guide frame.
FRAME_SHAPE = (8, 8)
