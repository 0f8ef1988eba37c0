"""Seeded synthetic guide-star data with known truth.

Tests, docs, benchmarks and the demo all use these generators, so every
number spelunker reports can be checked against the truth that made it.

`simulate_frames` makes noisy 8x8 fine-guide frames in memory;
`make_guidestar_files` writes whole visits as MAST-like calibrated
(``_cal.fits``, `~stdatamodels.jwst.datamodels.GuiderCalModel`) or
uncalibrated (``_uncal.fits``, `~stdatamodels.jwst.datamodels.GuiderRawModel`)
products, one file per segment, and returns a `SyntheticVisit` whose
``truth`` table holds the true parameters of every frame.  Signals
(`Transit`, `FluxModulation`, `CentroidWobble`, `PsfWidthStep`, `LowPixels`,
`NanFrames`, `CosmicRays`, `EdgeStar`, `HgaMove`) and the astrophysical
flux signals with their truth (`Flare`, `PhysicalTransit`, `BoxOccultation`,
`EclipsingBinary`, `Pulsation`, `RedNoise`) are injected on one time
axis: seconds since the start of the first visit's data.  `sample_visit` is
the fixed, cached demo visit.

`make_science_product` writes a synthetic science exposure (a NIRSpec
``_rateints.fits`` / ``_calints.fits`` `~stdatamodels.jwst.datamodels.CubeModel`)
whose integrations cover a synthetic guide-star visit, with an ``INT_TIMES``
table in UTC and in barycentric TDB and a white-light curve that shares a
known systematic with the guide star; `sample_science` is the one matching
`sample_visit`.

Without frames, `light_curve_noise` predicts the simulator's white noise per
frame of the optimal-aperture light curve, `inject` applies flux signals to a
light curve and `synthetic_light_curve` makes a seeded one at the guider
cadence, for fast injection-recovery.

Timing follows the archive: in a file of ``n`` frames, frame ``i`` is centred
at ``DATASTRT + (i + 0.5) * (DATAEND - DATASTRT) / n`` (MJD, UTC) and
``DATAEND - DATASTRT = n * frame_time``; segments of one visit are contiguous.

The package's modules, each importing only from those before it:

- ``simulator``: the frames of one star (`simulate_frames`);
- ``astro_signals``: the astrophysical flux signals and their truth;
- ``signals``: the other signal classes and the check of them all;
- ``plan``: `VisitSpec` and the plan of every file (times, names, seeds);
- ``writers``: one guider product on disk (tables and header);
- ``light_curves``: noise, injections and synthetic series without frames;
- ``guidestar_files``: `make_guidestar_files` and `SyntheticVisit`;
- ``orbit``: the L2-like orbit behind the science product's barycentric times;
- ``science_product``: `make_science_product` and `SyntheticScience`;
- ``sample``: the cached `sample_visit` and `sample_science`.

The FGS pixel scale is an instrument fact: `spelunker.instrument.PIXEL_SCALE`.
"""

# The generators' constants (COUNTRATE_MAG12, ..., SCIENCE_COUNTRATE) are documented
# where they are defined and stay reachable here, as ``datasets.SCIENCE_COUNTRATE``.
from spelunker.datasets.astro_signals import (BoxOccultation, EclipsingBinary, Flare,
                                              PhysicalTransit, Pulsation, RedNoise)
from spelunker.datasets.guidestar_files import SyntheticVisit, make_guidestar_files
from spelunker.datasets.light_curves import inject, light_curve_noise, synthetic_light_curve
from spelunker.datasets.orbit import L2_DISTANCE_KM, VELOCITY_STEP  # noqa: F401
from spelunker.datasets.plan import DEFAULT_START, VISIT_GAP, VisitSpec  # noqa: F401
from spelunker.datasets.sample import sample_science, sample_visit
from spelunker.datasets.science_product import (SCIENCE_COUNTRATE, SCIENCE_SHAPE,  # noqa: F401
                                                SyntheticScience, make_science_product)
from spelunker.datasets.signals import (CentroidWobble, CosmicRays, EdgeStar, FluxModulation,
                                        HgaMove, LowPixels, NanFrames, PsfWidthStep, Transit)
from spelunker.datasets.simulator import (COUNTRATE_MAG12, GAIN, READ_NOISE_DN,  # noqa: F401
                                          countrate_from_magnitude, simulate_frames)
from spelunker.datasets.writers import (  # noqa: F401 (constants reachable here, as said above)
                                        FINEGUIDE_NGROUPS, PACKET_CADENCE, PACKET_LATENCY,
                                        PACKET_MARGIN, POINTING_CADENCE, RAW_BIAS_DN)

__all__ = [
    "countrate_from_magnitude",
    "simulate_frames",
    "Transit",
    "FluxModulation",
    "CentroidWobble",
    "PsfWidthStep",
    "LowPixels",
    "NanFrames",
    "CosmicRays",
    "EdgeStar",
    "HgaMove",
    "Flare",
    "PhysicalTransit",
    "BoxOccultation",
    "EclipsingBinary",
    "Pulsation",
    "RedNoise",
    "inject",
    "light_curve_noise",
    "synthetic_light_curve",
    "VisitSpec",
    "SyntheticVisit",
    "make_guidestar_files",
    "sample_visit",
    "SyntheticScience",
    "make_science_product",
    "sample_science",
]
