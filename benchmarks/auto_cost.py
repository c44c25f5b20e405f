"""What ``--method auto`` costs to choose, with the ``joint`` candidates sharing one prior or not.

``auto`` scores four candidates (``joint`` at its own prior weight, at 0.1
and at 10, and TV) on two sample slices, each reconstructed once without the
wedge-edge tilts. The three ``joint`` candidates differ only in the prior
weight, a setting of ``joint``'s last step, so they can share one network
prior (TV of the measured data and the networks:
:class:`tomoinpaint.score.auto.SharedPriorJoint`). This times
:func:`tomoinpaint.score.auto.choose_method` both ways on the same data, and
checks that both give the same scores and the same choice.

Cases (two slices each, as ``auto`` samples them): ``make demo``'s phantom
(128 px, noise-free, +-60° at 2°), held-out shapes at 256 and 512 px with a
45° wedge at 1.5° steps, noise-free (the prior runs at the input's size) and
at moderate dose (it runs on the network's 128-px grid), and the real
``tooth.h5`` scan as ``make demo`` uses it (400 px, 45 projections dropped
around 90°). Each time is the fastest of ``--repeat`` runs after a warm-up
run (projection matrices and networks built once per process, as in a
volume run).

Run::

    python benchmarks/auto_cost.py [--repeat 1]   # ~20 min on 2 cores
    python benchmarks/auto_cost.py --cases "demo phantom, 128 px, noise-free" --repeat 3 \
        --name auto_cost_demo   # the phantom since joint's prior takes its 2° steps

Results: ``results/auto_cost.md`` / ``.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse

from _common import (
    demo_phantom_case,
    eval_stack,
    fastest_of,
    header,
    tooth_block_case,
    wedge_angles,
    write_results,
)

from tomoinpaint.score.auto import AUTO_CANDIDATES, choose_method


def _demo():
    sino, _, angles = demo_phantom_case(0, ny=2)
    return sino, angles


def _shapes(n: int, dose: str):
    angles = wedge_angles(45.0, 1.5)
    return eval_stack("shapes", 2, n, dose, angles)[0], angles


def _tooth():
    sino, _, angles = tooth_block_case(90.0)
    return sino, angles


CASES = {
    "demo phantom, 128 px, noise-free": _demo,
    "shapes, 256 px, noise-free": lambda: _shapes(256, "noise-free"),
    "shapes, 256 px, moderate dose": lambda: _shapes(256, "moderate"),
    "shapes, 512 px, noise-free": lambda: _shapes(512, "noise-free"),
    "shapes, 512 px, moderate dose": lambda: _shapes(512, "moderate"),
    "tooth.h5, 400 px, block of 45 at 90°": _tooth,
}


def _timed(sino, angles, share: bool, repeat: int):
    return fastest_of(
        repeat, choose_method, sino, angles, AUTO_CANDIDATES, device="cpu", share_prior=share
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--name", default="auto_cost", help="results file name")
    args = ap.parse_args()
    rows = []
    for name in args.cases:
        sino, angles = CASES[name]()
        choose_method(sino, angles, AUTO_CANDIDATES, device="cpu")  # warm-up
        before, old = _timed(sino, angles, False, args.repeat)
        after, new = _timed(sino, angles, True, args.repeat)
        same = [a["wedge_edge"] for a in old.scores] == [b["wedge_edge"] for b in new.scores]
        rows.append(
            {
                "case": name,
                "seconds_own_priors": before,
                "seconds_shared_prior": after,
                "speedup": before / after,
                "same_scores": bool(same),
                "choice": f"{new.method} {new.options or ''}".strip(),
                "same_choice": (old.method, old.options) == (new.method, new.options),
            }
        )
        print(rows[-1], flush=True)
    lines = [
        "Seconds to choose (`choose_method`, 4 candidates, 2 slices), the fastest of "
        f"{args.repeat} runs after a warm-up; 'same scores': every candidate's wedge-edge "
        "residual identical both ways.",
        "",
        "| case | own priors (s) | shared prior (s) | speed-up | same scores | choice |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['seconds_own_priors']:.1f} | {r['seconds_shared_prior']:.1f} "
            f"| **{r['speedup']:.2f}×** | {'yes' if r['same_scores'] else '**no**'} "
            f"| {r['choice']} |"
        )
    meta = header() | {"threads": "default (2 cores)"}
    write_results(args.name, meta, "\n".join(lines) + "\n", rows)


if __name__ == "__main__":
    main()
