#!/usr/bin/env bash
# The skip-connection comparison of Li et al. (2018, Fig. 5) on 2 cores: a ResNet-14 with and without its shortcuts,
# trained on seeded 16×16 gratings, then a filter-normalized surface and the top Hessian eigenvalue of each.
# Run from the repository root after the README's install (npm ci && npm run build). Results: out/resnet-skip/.
set -euo pipefail
here="$(dirname "$0")"
out=out/resnet-skip
for net in resnet plain; do
  for step in train surface hessian; do
    npx landscape run "$here/$step-$net.job.json" --out "$out/$step-$net"
  done
done
node -e '
const { readFileSync } = require("node:fs");
const read = (dir) => JSON.parse(readFileSync(`out/resnet-skip/${dir}/result.json`, "utf8"));
for (const net of ["resnet", "plain"]) {
  const surface = read(`surface-${net}`);
  const losses = surface.loss.flat().filter((v) => typeof v === "number");
  const centre = surface.loss[(surface.loss.length - 1) / 2][(surface.loss[0].length - 1) / 2];
  const top = read(`hessian-${net}`).eigenvalues.top[0];
  console.log(JSON.stringify({ net, finalTrainingLoss: read(`train-${net}`).finalLoss, centreLoss: centre, maxSurfaceLoss: Math.max(...losses), topHessianEigenvalue: top }));
}'
