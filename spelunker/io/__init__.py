"""Read guider products and stitch them into one `GuideStarModel`.

This is where a frame's time is decided (`frame_mid_times`) and where every
input check lives: a file that cannot be used raises a `SpelunkerError`
subclass naming the file and the problem, before anything is returned.
The package's modules, one job each (every public name is imported here):

- `spelunker.io.products`: the guider products of an input (paths, globs,
  folders, associations, open models), each found and checked (headers,
  arrays, integrity): `expand_glob`, `open_complete_fits`;
- `spelunker.io.frame_times`: a frame's time: `frame_mid_times`,
  `iso_to_mjd`;
- `spelunker.io.reader`: stitch the checked products into a model, or one
  model per visit: `read_guidestar`, `read_visits`, `open_visits`,
  `VisitInput`, `open_guidestar`.
"""

from spelunker.io.frame_times import frame_mid_times, iso_to_mjd
from spelunker.io.products import FINE_GUIDE_EXP_TYPE, expand_glob, open_complete_fits
from spelunker.io.reader import (
    VisitInput,
    open_guidestar,
    open_visits,
    read_guidestar,
    read_visits,
)

__all__ = ["read_guidestar", "read_visits", "open_visits", "VisitInput", "open_guidestar",
           "frame_mid_times", "iso_to_mjd", "expand_glob",
           "open_complete_fits", "FINE_GUIDE_EXP_TYPE"]
