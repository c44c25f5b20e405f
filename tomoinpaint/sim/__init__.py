"""Simulation: phantoms, images, augmentation, noise, tilt series, libraries.

* :mod:`.phantoms` — random nanocrystal-like shapes, disk, Shepp–Logan, volumes.
* :mod:`.cells` — 3D cryo-ET-like cell volumes (a test family).
* :mod:`.cellular` — 2D cellular sections (a training family).
* :mod:`.images` — natural images and CT slices with a fixed train/test split.
* :mod:`.augment` — pad/resize, rotation, flip, affine, noise.
* :mod:`.noise` — Beer–Lambert Poisson dose and Gaussian noise.
* :mod:`.tiltseries` — inverse-crime-free sinograms and tilt series.
* :mod:`.library` — the HDF5 training library, built in parallel with Dask.
"""

from .augment import (
    AUGMENTATIONS,
    FAMILY_OPS,
    augment,
    pad_resize,
    random_affine,
    random_flip,
    random_noise,
    random_rotation,
)
from .cellular import cellular_image
from .files import MAX_TILTS, SimulationResult, simulate, simulation_angles
from .images import CT_SPLITS, NATURAL_SPLITS, ct_slice, image_sources, natural_image
from .library import LibraryConfig, LibraryExistsError, build_library, sample_rng
from .noise import DOSE_LEVELS, dose_mu, gaussian_noise, poisson_dose, resolve_dose
from .phantoms import (
    circle_mask,
    disk_phantom,
    phantom_volume,
    random_shapes_phantom,
    render_ellipse,
    render_polygon,
    shepp_logan,
)
from .tiltseries import (
    FAMILIES,
    LIBRARY_FAMILIES,
    apply_wedge,
    make_sample,
    simulate_sinogram,
    simulate_tilt_series,
)

__all__ = [
    "MAX_TILTS",
    "SimulationResult",
    "simulate",
    "simulation_angles",
    "AUGMENTATIONS",
    "CT_SPLITS",
    "DOSE_LEVELS",
    "FAMILIES",
    "LIBRARY_FAMILIES",
    "FAMILY_OPS",
    "NATURAL_SPLITS",
    "LibraryConfig",
    "LibraryExistsError",
    "apply_wedge",
    "cellular_image",
    "augment",
    "build_library",
    "circle_mask",
    "ct_slice",
    "disk_phantom",
    "dose_mu",
    "gaussian_noise",
    "image_sources",
    "make_sample",
    "natural_image",
    "pad_resize",
    "phantom_volume",
    "poisson_dose",
    "random_affine",
    "random_flip",
    "random_noise",
    "random_rotation",
    "random_shapes_phantom",
    "render_ellipse",
    "render_polygon",
    "resolve_dose",
    "sample_rng",
    "shepp_logan",
    "simulate_sinogram",
    "simulate_tilt_series",
]
