"""Train the deep model by a recipe, then reconstruct a tilt series with it.

The ``tiny`` recipe trains in well under a minute on a laptop: enough to see
the workflow (train -> weights with model cards -> any geometry), not a model
to use. ``--config joint_tv150_wide2x`` is the CPU recipe of the shipped weights (hours),
``--config paper`` the published network sizes (a GPU).

Run:  python examples/deep_model.py [--config tiny] [--out runs/example]
"""

import argparse
from pathlib import Path

from tomoinpaint.geometry import tilt_range
from tomoinpaint.metrics import compare
from tomoinpaint.nn import read_card
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import joint, paper
from tomoinpaint.sim import make_sample, poisson_dose, simulate_sinogram
from tomoinpaint.train.recipe import execute

ap = argparse.ArgumentParser()
ap.add_argument("--config", default="tiny")
ap.add_argument("--out", default="runs/example")
args = ap.parse_args()

# 1. Train both stages (resumes if OUT already holds a run of the same recipe).
execute(args.config, args.out, progress=False)
weights = Path(args.out) / "weights"
card = read_card(weights / "inpainter.safetensors")
grid = card["metadata"]["grid"]
print(f"model grid: {grid['n']} px, {len(grid['angles_deg'])} angles, tilts {grid['tilt_range']}")

# 2. A tilt series on another grid: 96 px, 2° steps, tilts -60...60, low dose.
angles = tilt_range(-60.0, 60.0, 2.0)
clean, truth = simulate_sinogram(make_sample("shapes", 96, rng=3, split="test"), angles)
noisy = poisson_dose(clean, 2000, rng=3)

# 3. Reconstruct: regridded onto the model's grid, returned in the input's units.
for name, rec in (
    ("TV", tv(noisy, angles)),
    ("paper", paper(noisy, angles, model=weights)),
    ("joint", joint(noisy, angles, model=weights)),
):
    m = compare(truth, rec)
    print(f"{name:6s} PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}")
