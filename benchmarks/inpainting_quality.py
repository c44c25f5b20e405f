"""Which prior carries the missing wedge best: error of the estimated missing projections.

For each validation sample (45° wedge at 1.5° steps, 128², three doses, three
families) the projections at the model grid's missing angles are estimated
five ways and compared with the true, noise-free projections at the networks'
resolution (both resampled to the model's detector width and back, as
:func:`tomoinpaint.recon.joint.data_consistency` compares them):

``linear interpolation``
    along the angles, between the measured rows on both sides of the wedge
    (the model grid is a half turn, so the wedge has measured rows on both
    sides);
``inpainter``
    the stage-1 network (the ``paper`` prior's rows);
``TV reprojection``
    TV of the measured rows on the model grid, reprojected;
``TV + de-artifact``
    the de-artifact network applied to that TV image, reprojected (the ``tv``
    prior's rows);
``paper image``
    the paper pipeline's slice (inpaint -> WBP -> de-artifact), reprojected.

The score is the relative L2 error over all missing rows; lower is better.
Validation seeds only (never the held-out test set).

Run::

    python benchmarks/inpainting_quality.py [--model DIR] [--count 4]

``--model`` defaults to the installed weights (``tomoinpaint/weights``);
``results/inpainting_quality.md`` was made with ``runs/joint_tv/weights``, a
removed run: ``runs/README.md`` names the commit to restore it from.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import (
    DOSES,
    add_validation_options,
    eval_set,
    header,
    map_validation_samples,
    wedge_angles,
    write_results,
)

from tomoinpaint.nn.inpainter import interpolate_missing_rows
from tomoinpaint.project import forward_project
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import (
    load_joint_model,
    network_prior,
    resample_detector,
    to_model_grid,
)

FAMILIES = ("shapes", "natural", "ct")
ESTIMATES = (
    "linear interpolation",
    "inpainter",
    "TV reprojection",
    "TV + de-artifact",
    "paper image",
)


def _blur(rows: np.ndarray, n: int) -> np.ndarray:
    """Rows seen at ``n`` detector pixels: resampled down and back up."""
    return resample_detector(resample_detector(rows, n), rows.shape[-1])


def _reproject(image: np.ndarray, angles: np.ndarray) -> np.ndarray:
    return forward_project(np.maximum(image, 0.0), angles, kernel="linear", device="cpu")


def one_sample(task):
    family, index, n, model_dir = task
    m = load_joint_model(model_dir, device="cpu")
    angles = wedge_angles(45.0)
    s = next(eval_set(family, 1, n=n, purpose="validation", angles=angles, start=index))
    grid_sino, covered, factor = to_model_grid(s["sino"]["noise-free"], angles, m.angles_deg, m.n)
    miss_angles = m.angles_deg[~covered]
    truth = next(
        eval_set(family, 1, n=n, purpose="validation", angles=miss_angles, doses=("noise-free",),
                 start=index)
    )["sino"]["noise-free"]  # fmt: skip
    truth = _blur(truth, m.n)
    rows = []
    for dose in DOSES:
        b = s["sino"][dose]
        grid_sino, covered, factor = to_model_grid(b, angles, m.angles_deg, m.n)
        est = {}
        lin = interpolate_missing_rows(
            torch.from_numpy(grid_sino)[None, None], torch.from_numpy(covered)[None]
        )[0, 0].numpy()
        est["linear interpolation"] = resample_detector(lin[~covered], n) * factor
        paper = network_prior(b, angles, model=m, source="paper", device="cpu")
        est["inpainter"] = paper.rows[0]
        est["paper image"] = _reproject(paper.image[0], miss_angles)
        rec = tv(grid_sino[covered], m.angles_deg[covered], iterations=m.tv_iterations)
        est["TV reprojection"] = resample_detector(_reproject(rec, miss_angles), n) * factor
        tv_prior = network_prior(b, angles, model=m, source="tv", device="cpu")
        est["TV + de-artifact"] = tv_prior.rows[0]
        for name in ESTIMATES:
            err = np.linalg.norm(_blur(est[name], m.n) - truth) / np.linalg.norm(truth)
            rows.append({"family": family, "index": index, "dose": dose, "estimate": name,
                         "relative_error": float(err)})  # fmt: skip
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_options(ap)
    args = ap.parse_args(argv)
    rows = map_validation_samples(one_sample, args, FAMILIES)

    cols = [(f, d) for f in FAMILIES for d in DOSES]
    lines = [
        "Relative L2 error of the projections at the missing angles (45° wedge), against the",
        "noise-free truth, both at the networks' detector resolution; mean over samples.",
        "",
        "| estimate | " + " | ".join(f"{f} {d}" for f, d in cols) + " | mean |",
        "|---|" + "---|" * (len(cols) + 1),
    ]
    summary = {}
    for name in ESTIMATES:
        cells = [
            float(np.mean([r["relative_error"] for r in rows
                           if (r["estimate"], r["family"], r["dose"]) == (name, f, d)]))
            for f, d in cols
        ]  # fmt: skip
        summary[name] = float(np.mean(cells))
        lines.append(
            f"| {name} | " + " | ".join(f"{c:.4f}" for c in cells) + f" | {summary[name]:.4f} |"
        )
    meta = header() | {"weights": str(args.model.resolve()), "samples": f"{args.count} per family"}
    write_results("inpainting_quality", meta, "\n".join(lines), {"rows": rows, "mean": summary})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
