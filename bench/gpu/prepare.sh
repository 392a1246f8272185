#!/usr/bin/env bash
# Prepares .gpu/ for a run on a Linux host with an NVIDIA GPU and no internet (run here, from the repo root):
# the network bench and the webgpu fidelity tests each bundled into one JS file, Deno's binary xz-compressed,
# and the Vulkan/GL loader packages from Debian in case the host lacks them. Everything fits in ~35 MB. Then, on the GPU host:
#   bash bench/gpu/run.sh            (reads .gpu/, writes results to ${OUT:-.gpu/out})
set -euo pipefail
cd "$(dirname "$0")/../.."
deno=node_modules/.bin/deno
[ -x "$deno" ] || npm install --no-audit --no-fund --loglevel=error
bin=$(find node_modules/.deno -path '*linux-x64-glibc*' -name deno -type f | head -n 1)
mkdir -p .gpu
"$deno" bundle --platform deno -o .gpu/nets_bench.js bench/nets_bench.ts
"$deno" bundle --platform deno -o .gpu/tests/fidelity_tests.js bench/gpu/fidelity_tests.ts
"$deno" bundle --platform deno -o .gpu/webgpu_filter_grad_ab.js bench/webgpu_filter_grad_ab.ts
"$deno" bundle --platform deno -o .gpu/gpu_throughput.js bench/gpu_throughput.ts
"$deno" bundle --platform deno -o .gpu/webgpu_kernel_profile.js bench/webgpu_kernel_profile.ts
cp bench/gpu/torch_cuda.py bench/gpu/torch_cuda_throughput.py .gpu/
[ -f .gpu/deno.xz ] || xz -T2 -6 -c "$bin" > .gpu/deno.xz
if [ ! -d .gpu/debs ]; then
  mkdir -p .gpu/debs /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gpu/debs && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gpu
