#!/usr/bin/env bash
# Runs the webgpu fidelity tests and the network bench on the webgpu backend of a GPU host, from what
# bench/gpu/prepare.sh put in .gpu/, and PyTorch's CUDA figures for the same workloads when torch with CUDA is
# installed there.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-.gpu/out}
mkdir -p "$out" /tmp/retrace-gpu
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; break; fi
done
export XDG_RUNTIME_DIR=/tmp/retrace-gpu
deno=/tmp/retrace-gpu/deno
[ -x "$deno" ] || { xz -dc .gpu/deno.xz > "$deno" 2>/dev/null || python3 -c "import lzma,sys;sys.stdout.buffer.write(lzma.open('.gpu/deno.xz').read())" > "$deno"; chmod +x "$deno"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
# The fidelity tests look for tests/fixtures/ beside their bundle; the filter leaves out the wasm-only tests
# (the bundle carries no wasm binaries) and the caption tests that read synchronously.
# GPU_KIT_TESTS=0 skips the tests, e.g. to rerun only the bench.
mkdir -p .gpu/tests && cp -r tests/fixtures .gpu/tests/
cd .gpu
if [ "${GPU_KIT_TESTS:-1}" != 0 ]; then
  RETRACE_TEST_BACKEND=webgpu "$deno" test -A --no-check --no-config --filter '/^(webgpu|saliency|captioner \(|onnx)/' \
    tests/fidelity_tests.js 2>&1 | tee "$out/webgpu_tests.txt"
fi
# maps/s at batch 1, 8, 32 beside PyTorch eager's (issue 19's GPU table), then per-kernel times and tfjs's flags
RETRACE_BACKEND=webgpu "$deno" run -A --no-check --no-config gpu_throughput.js 2>&1 | tee "$out/webgpu_throughput.txt"
if python3 -c "import torch, torchvision, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 torch_cuda_throughput.py 2>&1 | tee "$out/torch_cuda_throughput.txt"
fi
RETRACE_BACKEND=webgpu "$deno" run -A --no-check --no-config webgpu_kernel_profile.js 2>&1 | tee "$out/webgpu_kernel_profile.txt"
RETRACE_BACKEND=webgpu BENCH_RUNS=${BENCH_RUNS:-10} "$deno" bench -A --no-check --no-config nets_bench.js 2>&1 | tee "$out/webgpu_bench.txt"
"$deno" run -A --no-check --no-config webgpu_filter_grad_ab.js 2>&1 | tee "$out/filter_grad_ab.txt"
if python3 -c "import torch, torchvision, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  python3 torch_cuda.py 2>&1 | tee "$out/torch_cuda.txt"
else
  echo "torch with CUDA not available here: no PyTorch figures" | tee "$out/torch_cuda.txt"
fi
