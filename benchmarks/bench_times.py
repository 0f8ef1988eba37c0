"""Benchmark BJD_TDB of many UTC times against astropy's own computation.

`spelunker.barycentric.barycentric_times` of ``--n`` frame times (16.7 Hz, so a
million span 16.7 hours) seen from the geocentre and from a JWST
`~spelunker.barycentric.Ephemeris`, and `spelunker.barycentric.bjd_from_int_times`
(interpolating a science product's INT_TIMES).  The baseline, in the same
run: astropy's ``t.tdb + t.light_travel_time(target, location=geocentre)``
on the same times, which is also the reference the geocentre result is
compared with; it takes about 110 s for a million times, so it runs
``--baseline-repeat`` times (default once).  The machine has 2 noisy cores:
medians of ``--repeat`` runs, with the ratio to the baseline.

    python benchmarks/bench_times.py [--n 1000000] [--repeat 3] [--baseline-repeat 1]
"""

import argparse
import statistics
import time

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord, get_body_barycentric_posvel
from astropy.table import Table
from astropy.time import Time

from spelunker.barycentric import Ephemeris, barycentric_times, bjd_from_int_times

TARGET = SkyCoord(286.0 * u.deg, -41.3 * u.deg)
START = Time("2022-12-04T01:36:00", scale="utc")
GEOCENTER = EarthLocation.from_geocentric(0, 0, 0, unit=u.m)


def fresh_times(n):
    """``n`` UTC times at 16.7 Hz, as a new Time (no cached scale conversions)."""
    seconds = np.arange(n) * 0.06
    return Time(START.jd1, START.jd2 + seconds / 86400.0, format="jd", scale="utc")


def l2_ephemeris(epoch):
    """JWST 1.5e6 km beyond the Earth on the Sun-Earth line, moving with the Earth."""
    earth, earth_velocity = get_body_barycentric_posvel("earth", epoch.tdb)
    sun = get_body_barycentric_posvel("sun", epoch.tdb)[0]
    away = (earth - sun).xyz.to_value(u.km)
    position = earth.xyz.to_value(u.km) + 1.5e6 * away / np.linalg.norm(away)
    velocity = earth_velocity.xyz.to_value(u.km / u.s)
    return Ephemeris(epoch, position * u.km, velocity * u.km / u.s, "benchmark orbit")


def int_times_table(times, ephemeris, n_integrations=200):
    """An INT_TIMES-like table spanning ``times`` (BJD_TDB from the ephemeris)."""
    edges = Time(np.linspace(times[0].mjd, times[-1].mjd, n_integrations + 1), format="mjd",
                 scale="utc")
    bjd = barycentric_times(edges, TARGET, observer=ephemeris).mjd
    table = Table()
    table["integration_number"] = np.arange(1, n_integrations + 1)
    for name, utc, tdb in (("start", edges.mjd[:-1], bjd[:-1]), ("end", edges.mjd[1:], bjd[1:]),
                           ("mid", 0.5 * (edges.mjd[:-1] + edges.mjd[1:]),
                            0.5 * (bjd[:-1] + bjd[1:]))):
        table[f"int_{name}_MJD_UTC"] = utc
        table[f"int_{name}_BJD_TDB"] = tdb
    return table


def timed(function, n, repeat):
    durations = []
    for _ in range(repeat):
        times = fresh_times(n)
        start = time.perf_counter()
        result = function(times)
        durations.append(time.perf_counter() - start)
    return statistics.median(durations), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-repeat", type=int, default=1)
    args = parser.parse_args(argv)

    ephemeris = l2_ephemeris(START + args.n * 0.03 * u.s)
    ephemeris.acceleration  # noqa: B018 - computed once per ephemeris, not per call
    table = int_times_table(fresh_times(args.n), ephemeris)
    astropy_s, reference = timed(
        lambda t: t.tdb + t.light_travel_time(TARGET, kind="barycentric", location=GEOCENTER),
        args.n, args.baseline_repeat)
    geocenter_s, geocenter = timed(
        lambda t: barycentric_times(t, TARGET, observer="geocenter"), args.n, args.repeat)
    ephemeris_s, _ = timed(
        lambda t: barycentric_times(t, TARGET, observer=ephemeris), args.n, args.repeat)
    int_times_s, _ = timed(lambda t: bjd_from_int_times(t, table), args.n, args.repeat)
    worst = float(np.max(np.abs((geocenter - reference).to_value(u.s))))
    print(f"BJD_TDB of {args.n} UTC times at 16.7 Hz, median of {args.repeat}:")
    print(f"  baseline astropy tdb + light_travel_time (geocentre, median of "
          f"{args.baseline_repeat}): {astropy_s:.3f} s")
    print(f"  spelunker barycentric_times, geocentre: {geocenter_s:.3f} s "
          f"(ratio {geocenter_s / astropy_s:.3f}); max |difference| {worst * 1e9:.2f} ns")
    print(f"  spelunker barycentric_times, JWST Ephemeris: {ephemeris_s:.3f} s "
          f"(ratio {ephemeris_s / astropy_s:.3f})")
    print(f"  spelunker bjd_from_int_times: {int_times_s:.3f} s "
          f"(ratio {int_times_s / astropy_s:.3f})")
    return astropy_s, geocenter_s, ephemeris_s, int_times_s


if __name__ == "__main__":
    main()
