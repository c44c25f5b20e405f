#!/usr/bin/env bash
# The command-line workflow on simulated data: tilt series -> reconstructions.
# Run from any directory with the project's virtualenv active (or use .venv/bin/tomoinpaint).
set -euo pipefail
out=${1:-cli-example}
mkdir -p "$out"
tomoinpaint simulate "$out/phantom.mrc" --n 96 --ny 4 --tilt-min -60 --tilt-max 60 --step 2 \
    --dose low --voxel-size 3.2 --overwrite
for method in wbp sart tv; do
    tomoinpaint reconstruct "$out/phantom.mrc" -o "$out/rec_$method.mrc" --method "$method" --overwrite
done
ls -l "$out"
