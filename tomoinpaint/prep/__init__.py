"""Preprocessing of raw projections: flat/dark normalisation, minus-log, ring
removal, rotation-centre estimation and re-centring.

One interface, two backends:

* ``"tomopy"`` when :mod:`tomopy` is importable (conda-only),
* ``"algotom"`` otherwise (a hard dependency of tomoinpaint).

Only ring removal and centre finding differ between backends; normalisation,
minus-log and re-centring are plain numpy/scipy and identical for both.

Conventions
-----------
* Projections ``proj`` have shape ``(n_proj, ny, nx)`` (tomopy's convention,
  the same as a tomoinpaint tilt series ``(n_tilts, ny, nx)``); the sinogram of
  detector row ``y`` is ``proj[:, y, :]`` with shape ``(n_proj, nx)``.
* Flat and dark fields have shape ``(n_flat, ny, nx)`` / ``(n_dark, ny, nx)``
  (a single ``(ny, nx)`` frame is accepted too).
* Angles are in degrees.
* The rotation centre is a **column index** on the detector (pixel ``i`` is
  centred at ``i``); the detector middle is ``(nx - 1) / 2``, which is where
  tomoinpaint's ASTRA geometry puts the rotation axis. :func:`shift_to_center`
  moves the measured axis there.

Typical use::

    sino, center = preprocess(proj, flats, darks, theta_deg)   # ready for recon

Chunked use (the volume pipeline): :class:`Prep` holds the options,
:func:`plan_prep` resolves the backend and the rotation centre once
(:class:`PrepPlan`), and each chunk of rows then runs :func:`line_integrals`
and :func:`shift_to_center` with the plan, which gives the same result as
:func:`preprocess` on all rows at once.

Modules: :mod:`.backends` (tomopy/algotom), :mod:`.steps` (each step),
:mod:`.pipeline` (the sequence, whole or chunked); what a series must be
before any method runs: :mod:`.views` (no blank or blocked views),
:mod:`.contrast` (projections given without flat fields attenuation-like, as
the non-negative methods need), both checked by :mod:`.checks`; intensities
without flat fields (bright field, transmission) become line integrals by
``-log(I / I0)`` with each view's beam level (:mod:`.intensities`).
"""

from .backends import BACKENDS, RING_METHODS, available_backends, backend
from .checks import check_series_data
from .contrast import check_attenuation_like, mass_balance
from .intensities import beam_levels, intensities_to_line_integrals
from .pipeline import (
    Prep,
    PrepPlan,
    check_prep,
    line_integrals,
    plan_prep,
    preprocess,
    resolve_rings,
    series_beam_levels,
)
from .steps import (
    check_ring_window,
    find_center,
    minus_log,
    normalize,
    remove_rings,
    ring_window,
    shift_to_center,
)

__all__ = [
    "BACKENDS",
    "RING_METHODS",
    "available_backends",
    "backend",
    "normalize",
    "minus_log",
    "remove_rings",
    "ring_window",
    "check_ring_window",
    "find_center",
    "shift_to_center",
    "preprocess",
    "line_integrals",
    "Prep",
    "PrepPlan",
    "check_prep",
    "plan_prep",
    "resolve_rings",
    "check_attenuation_like",
    "check_series_data",
    "mass_balance",
    "beam_levels",
    "intensities_to_line_integrals",
    "series_beam_levels",
]
