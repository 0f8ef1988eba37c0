"""Base classes of spelunker's stpipe steps and pipelines.

They subclass stpipe's `~stpipe.Step` and `~stpipe.Pipeline` directly
rather than jwst's ``JwstStep`` / ``JwstPipeline``: what the jwst classes
add is tied to the calibration pipeline and to CRDS (``CAL_VER`` set to the
jwst version, the CRDS context that ``JwstPipeline.finalize_result`` always
asks for, parameter look-ups by reading the input's metadata), and none of
it applies to spelunker, which has no reference files and no ``pars-*``
parameter files in CRDS.

What the classes here do instead:

- **No CRDS.**  ``get_config_from_reference`` returns an empty configuration
  without asking CRDS for a ``pars-<step>`` file, ``_get_crds_parameters``
  does not open the input, and ``finalize_result`` never asks for a CRDS
  context.  With no CRDS cache configured, crds would otherwise end the
  process (``sys.exit``) from inside ``Step.call``, ``strun`` or a pipeline.
- **Logging.**  ``get_stpipe_loggers`` adds ``"spelunker"``, so the module
  loggers of the whole package (``logging.getLogger(__name__)``) show under
  ``strun`` and ``Step.call``.  ``Step.log`` is deprecated and not used.
- **Inputs.**  ``_datamodels_open`` and `SpelunkerStep.open_input` open
  anything `spelunker.io.open_guidestar` accepts: guider products, globs,
  directories, associations, ``GuiderCalModel`` objects, a saved or open
  `~spelunker.GuideStarModel`.
- **Parameters.**  A parameter the ``spec`` refuses (``ncpus=0``,
  ``method='foo'``, an unknown name), given to ``Step(...)``, ``Step.call``,
  a pipeline or ``strun``, raises `~spelunker.errors.StepParameterError`
  (a `~spelunker.errors.ParameterError`, and stpipe's ``ValidationError``)
  naming the step, the parameter, the value and what is allowed.
- **File names.**  ``remove_suffix`` knows jwst's product suffixes
  (``_cal``) and those of the spelunker steps, so ``strun`` turns
  ``jw..._gs-fg_..._cal.fits`` into ``jw..._gs-fg_..._gsfit.fits``.
"""

import atexit
import functools
import gc
import logging
import os
import re

from configobj import validate
from jwst.lib.suffix import remove_suffix as jwst_remove_suffix
from stpipe import Pipeline, Step, config_parser
from stpipe.exceptions import ValidationError

from spelunker._version import __version__

from spelunker.datamodels import GuideStarModel
from spelunker.errors import StepParameterError
from spelunker.io import expand_glob, open_guidestar
from spelunker.names import FINE_GUIDE_GLOB, strip_segment

__all__ = ["SpelunkerStep", "SpelunkerPipeline"]

log = logging.getLogger(__name__)


#: The top-level step whose run has frozen the objects of the process (see `SpelunkerStep.run`).
_FROZEN_RUN = []


@functools.cache
def _freeze_at_exit():
    """Freeze every object when the interpreter exits (registered once, after a run).

    While the interpreter shuts down, the cyclic collector walks all the
    objects of the imported packages (numba's and LLVM's among them) again
    and again: about 1 s after a pipeline run, for memory the process is
    handing back anyway.  Frozen first, they are not walked.  Python does not
    promise ``__del__`` of objects alive at exit; products are written and
    closed by then, and the other exit handlers still run.
    """
    atexit.register(gc.freeze)

#: Loggers that stpipe configures for spelunker steps (``strun``, ``Step.call``).
STPIPE_LOGGERS = (
    "spelunker",
    "stpipe",
    "stdatamodels",
    "jwst",
    "stcal",
    "CRDS",
    "py.warnings",
)

# Keyword arguments stpipe passes to ``_datamodels_open`` for associations;
# open_guidestar reads every member, so they do not apply.
_STPIPE_OPEN_HINTS = ("asn_n_members", "asn_exptypes")


class SpelunkerStep(Step):
    """Base class of spelunker's steps: stpipe without CRDS.

    Subclasses implement ``process`` and open their input with
    `open_input`, which never modifies the caller's model.  Set
    ``class_alias`` to a ``spelunker_`` name (aliases are global across
    installed packages) and give every ``spec`` entry a comment: it becomes
    the ``strun --help`` text.
    """

    spec = """
    output_ext = string(default='.fits')  # Output file type (.fits or .asdf)
    """

    def __init__(self, *args, **kwargs):
        try:
            super().__init__(*args, **kwargs)
        except ValidationError as exc:
            if isinstance(exc, StepParameterError):
                raise
            raise _parameter_error(type(self), exc, _parameters(args, kwargs)) from None

    @classmethod
    def from_config_section(cls, config, *args, **kwargs):
        """Create the step from a configuration section (stpipe's), with clear parameter errors.

        Parameters
        ----------
        config : configobj.Section
            The step's parameters.
        *args, **kwargs
            As for `stpipe.Step.from_config_section`.

        Returns
        -------
        SpelunkerStep

        Raises
        ------
        spelunker.errors.StepParameterError
            A parameter the spec refuses: the message names the step, the
            parameter, the value given and what is allowed.
        """
        given = config.dict() if hasattr(config, "dict") else dict(config)
        try:
            return super().from_config_section(config, *args, **kwargs)
        except ValidationError as exc:
            if isinstance(exc, StepParameterError):
                raise
            raise _parameter_error(cls, exc, given) from None

    @classmethod
    def get_config_from_reference(cls, dataset, disable=None, crds_observatory=None):
        """Return an empty configuration: spelunker has no CRDS parameter files.

        stpipe asks CRDS for a ``pars-<stepname>`` reference here (from
        ``Step.call``, ``Pipeline.call`` and ``strun``).  spelunker ships its
        parameter files with the package instead, so no look-up is made,
        whatever ``disable`` and ``STPIPE_DISABLE_CRDS_STEPPARS`` say.

        Parameters
        ----------
        dataset : object
            The step's input (unused).
        disable : bool or None, optional
            Unused: the look-up is always disabled.
        crds_observatory : str or None, optional
            Unused.

        Returns
        -------
        configobj.ConfigObj
            Empty (for a pipeline, with an empty ``steps`` section).
        """
        log.debug("%s: no CRDS parameter look-up for spelunker steps", cls.__name__)
        return cls._empty_config()

    @classmethod
    def _get_crds_parameters(cls, dataset):
        # stpipe opens the input here only to build a CRDS query; spelunker
        # makes none, so nothing is opened (a 1M-frame visit costs seconds).
        return {}, "jwst"

    @staticmethod
    def get_stpipe_loggers():
        """Return the names of the loggers stpipe configures.

        Returns
        -------
        tuple of str
            ``"spelunker"`` and the loggers of the JWST packages it uses.
        """
        return STPIPE_LOGGERS

    def run(self, *args, **kwargs):
        """Run the step; several positional inputs are read as one visit.

        ``strun spelunker_fit seg1.fits seg2.fits`` hands stpipe one
        positional argument per file; they are passed on as one list, so a
        visit's segments become one model.
        """
        if len(args) > 1:
            args = (list(args),)
            # strun has named the outputs after the first file alone.
            self.set_primary_input(args[0], exclusive=False)
        if self.parent is not None:
            if _FROZEN_RUN:
                # What the steps before loaded on first use (numba and LLVM: ~80k objects)
                # is frozen too, so this step's gc.collect() does not walk it again.
                gc.freeze()
            return super().run(*args, **kwargs)
        # stpipe starts every step with a full gc.collect(), which walks all
        # the objects of the imported packages (jwst, astropy, scipy, ...)
        # each time: about 0.3 s per step.  Frozen for the run, they are not
        # walked; only what the run makes is collected.
        gc.freeze()
        _FROZEN_RUN.append(self)
        try:
            return super().run(*args, **kwargs)
        finally:
            _FROZEN_RUN.pop()
            gc.unfreeze()
            _freeze_at_exit()

    @classmethod
    def _datamodels_open(cls, init, **kwargs):
        """Open ``init`` as a `~spelunker.GuideStarModel` (stpipe's ``open_model`` hook).

        Parameters
        ----------
        init : object
            Anything `spelunker.io.open_guidestar` accepts.
        **kwargs
            ``progress`` is passed on; stpipe's association hints
            (``asn_n_members``, ``asn_exptypes``) are ignored because every
            member of a guide-star association is read.

        Returns
        -------
        GuideStarModel
            A model the caller owns.
        """
        for hint in _STPIPE_OPEN_HINTS:
            kwargs.pop(hint, None)
        return open_guidestar(init, **kwargs)

    def open_input(self, input_data, *, progress=None):
        """Return the step's input as a `~spelunker.GuideStarModel` it may modify.

        A standalone step (``Step.call``, ``strun``) gets a copy of a model
        it is given, so the caller's model is never modified.  Inside a
        spelunker pipeline the model passed from step to step is the
        pipeline's own copy and is used as it is.

        Parameters
        ----------
        input_data : object
            Anything `spelunker.io.open_guidestar` accepts.
        progress : bool or None, optional
            Progress bar while reading guider products.

        Returns
        -------
        GuideStarModel
        """
        if (
            isinstance(input_data, GuideStarModel)
            and isinstance(self.parent, SpelunkerPipeline)
        ):
            return input_data
        return open_guidestar(self.make_input_path(input_data), progress=progress)

    def make_input_path(self, file_path):
        """The input path: as given when it names something, else in ``input_dir`` (stpipe's rule).

        stpipe prefixes ``input_dir`` to any path without a folder part,
        which would turn ``strun spelunker_pipeline visit`` (a folder in the
        current directory) into ``visit/visit``.
        """
        if isinstance(file_path, str) and os.path.exists(file_path):
            return file_path
        return super().make_input_path(file_path)

    def set_primary_input(self, obj, exclusive=True):
        """Name outputs after the first file of a list, glob or path-like input.

        stpipe names outputs after a single path string or a model's
        ``meta.filename``; spelunker steps also take lists of segment files,
        `pathlib.Path` objects, glob patterns (whose characters must not
        end up in an output file name) and folders (named after their first
        fine-guide file, else after the folder).
        """
        several = isinstance(obj, (list, tuple)) and len(obj) > 1
        if isinstance(obj, (list, tuple)) and obj:
            obj = obj[0]
        if isinstance(obj, os.PathLike):
            obj = os.fspath(obj)
        if isinstance(obj, str) and any(char in obj for char in "*?["):
            matches = expand_glob(obj)
            obj = matches[0] if matches else None
            several = len(matches) > 1
        if isinstance(obj, str) and os.path.isdir(obj):
            # Name the products after the first fine-guide file of the folder.
            matches = expand_glob(os.path.join(obj, "**", FINE_GUIDE_GLOB))
            obj = matches[0] if matches else os.path.normpath(obj) + ".fits"
            several = True
        if isinstance(obj, str) and several:
            # A product of several segments is not the first segment's.
            obj = strip_segment(obj)
        super().set_primary_input(obj, exclusive=exclusive)

    def finalize_result(self, result, reference_files_used):
        """Log the spelunker version; no CRDS context is asked for.

        Parameters
        ----------
        result : object
            The step's result.
        reference_files_used : list of tuple
            Always empty for spelunker steps.
        """
        if self.parent is None and isinstance(result, GuideStarModel):
            log.info("Results used spelunker version %s", __version__)

    def remove_suffix(self, name):
        """Remove a known product suffix (jwst's or a spelunker step's) from ``name``.

        Parameters
        ----------
        name : str
            File name without extension.

        Returns
        -------
        name : str
            ``name`` without its suffix.
        separator : str
            The separator that preceded the suffix (``"_"`` if none).
        """
        for suffix in spelunker_suffixes():
            for separator in ("_", "-"):
                ending = f"{separator}{suffix}"
                if name.endswith(ending) and len(name) > len(ending):
                    return name[: -len(ending)], separator
        return jwst_remove_suffix(name)


class SpelunkerPipeline(Pipeline, SpelunkerStep):
    """Base class of spelunker's pipelines: stpipe without CRDS.

    Like jwst's ``JwstPipeline``, it is a `~stpipe.Pipeline` and a
    `SpelunkerStep`, but ``finalize_result`` asks CRDS for nothing (jwst's
    always asks for the CRDS context, which ends the process when no CRDS
    cache is configured).  ``process`` should open its input once with
    `SpelunkerStep.open_input`, which copies a caller's model; the steps then
    work on that copy in place.
    """


_CONFIG_PARAMETER = re.compile(r"Config parameter '([^']*)': (.*)")
_EXTRA_VALUE = re.compile(r"Extra value '([^']*)' in (.*)")


def _parameters(args, kwargs):
    """The parameters given to ``Step.__init__`` (stpipe's positional order)."""
    skip = ("name", "parent", "config_file", "_validate_kwds")
    return {key: value for key, value in kwargs.items() if key not in skip}


def _lookup(section, keys):
    for key in keys:
        if not hasattr(section, "get"):
            return None
        section = section.get(key)
    return section


def _allowed(check):
    """What a configobj ``check`` (``integer(min=1, default=1)``) allows, in words."""
    if not isinstance(check, str):
        return None
    try:
        function, args, kwargs, _default = validate.Validator()._parse_with_caching(check)
    except Exception:  # an unparsable check is shown as written
        return check
    if function == "option":
        return "one of " + ", ".join(repr(option) for option in args)
    limits = dict(zip(("min", "max"), args, strict=False))
    limits.update({key: value for key, value in kwargs.items() if key in ("min", "max")})
    kind = {"integer": "an integer", "float": "a number", "boolean": "True or False",
            "string": "a string", "list": "a list", "int_list": "a list of integers",
            "float_list": "a list of numbers", "string_list": "a list of strings"}.get(
                function, function)
    low, high = limits.get("min"), limits.get("max")
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if low is not None:
        return f"{kind} >= {low}"
    if high is not None:
        return f"{kind} <= {high}"
    return kind


def _parameter_error(cls, exc, given):
    """stpipe's spec ``ValidationError`` as a `StepParameterError` naming what is allowed."""
    try:
        spec = cls.load_spec_file()
    except Exception:  # never hide the real error behind a spec problem
        spec = None
    names = sorted(key for key in (spec or {}) if not hasattr(spec[key], "keys"))
    lines = []
    for line in str(exc).splitlines():
        parameter, extra = _CONFIG_PARAMETER.match(line), _EXTRA_VALUE.match(line)
        if parameter is not None:
            path, problem = parameter.groups()
            keys = path.split("/")
            name = ".".join(keys)
            value = _lookup(given, keys)
            allowed = _allowed(_lookup(spec, keys))
            text = f"parameter {name}={value!r} is refused ({problem.rstrip('.')})"
            if allowed:
                text += f"; allowed: {allowed}"
            lines.append(text)
        elif extra is not None:
            lines.append(f"unknown parameter {extra.group(1)!r} (in {extra.group(2)}); the "
                         f"parameters are {', '.join(names)}")
        elif line.strip():
            lines.append(line.strip())
    msg = f"{cls.__name__}: " + "; ".join(lines)
    return StepParameterError(msg)


def spelunker_suffixes():
    """Default output suffixes of the spelunker steps imported so far.

    Returns
    -------
    list of str
        Read from each `SpelunkerStep` subclass's ``suffix`` default in its
        spec (e.g. ``"gsfit"``), longest first.
    """
    validator = validate.Validator()
    suffixes = set()
    pending = [SpelunkerStep]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        check = (config_parser.load_spec_file(cls) or {}).get("suffix")
        if not check:
            continue
        try:
            value = validator.get_default_value(check)
        except (KeyError, validate.ValidateError):
            continue
        if value:
            suffixes.add(value)
    return sorted(suffixes, key=len, reverse=True)
