"""The product every spelunker step reads and writes: `GuideStarModel` and its schema.

`spelunker.datamodels.guidestar` holds the model and its operations,
`spelunker.datamodels.rows` the grouping and finding of rows, and
``schemas/`` the schema.  Importing this module registers
`GuideStarModel` with ``stdatamodels.jwst.datamodels.open`` (and so ``jwst.datamodels.open``),
which otherwise only knows its own classes and would open a saved
GuideStarModel as a generic model, and has asdf parse its extension
manifests with libyaml (`spelunker.datamodels._manifests`: 0.3 s less at
the first model or ASDF file of a process).
"""

from stdatamodels.jwst import datamodels as _jwst_datamodels

from ._manifests import use_libyaml_for_manifests
from .guidestar import FIT_TABLES, FRAME_RESULT_TABLES, GuideStarModel, check_model

__all__ = ["GuideStarModel", "FIT_TABLES", "FRAME_RESULT_TABLES", "check_model"]

# stdatamodels chooses the class from the DATAMODL keyword through this table.
# It is private, which is why pyproject.toml pins the stdatamodels minor series.
_jwst_datamodels._defined_models.setdefault("GuideStarModel", GuideStarModel)

# asdf loads its extensions at the first model or ASDF file: their manifests by libyaml.
use_libyaml_for_manifests()
