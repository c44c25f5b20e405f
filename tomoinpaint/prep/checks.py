"""What a tilt series must be before any method runs on it: one call for every command."""

from __future__ import annotations

from .contrast import check_attenuation_like
from .intensities import check_intensities
from .views import check_views

__all__ = ["check_series_data"]


def check_series_data(series, prep, methods, options=None) -> None:
    """Refuse, in one line, a series the methods would reconstruct wrongly without a word.

    Every view must be a measurement of the object (:func:`~.views.check_views`),
    and the projections attenuation-like for the methods that need it
    (:func:`~.contrast.check_attenuation_like`), unless ``prep`` makes them so.

    Parameters
    ----------
    series : tomoinpaint.io.TiltSeries
    prep : tomoinpaint.prep.Prep or None
        The preprocessing it gets (:func:`~.pipeline.check_prep`). Raw counts
        with flat fields become attenuation-like by its minus-log, and so do
        intensities given as such (``Prep(intensities=...)``), which are
        checked to be positive (:func:`~.intensities.check_intensities`); a
        series without flat fields otherwise holds its line integrals as they
        are, and is checked.
    methods : iterable of str
        The methods that will run (``"auto"`` too).
    options : dict, optional
        Method name -> that method's options.

    Raises
    ------
    ValueError
    """
    check_views(
        series.data,
        series.angles_deg,
        name=str(series.path),
        numbers=None if series.views is None else series.view_numbers(),
    )
    if prep is not None and series.flats is not None:
        return
    if prep is not None and prep.intensities is not None:  # made line integrals by -log(I / I0)
        check_intensities(series.data, name=str(series.path))
        return
    check_attenuation_like(series.data, name=str(series.path), methods=methods, options=options)
