/**
 * Hostile images against the real server (a bench, not a timed test): starts main.ts on loopback (wasm, 2
 * explainer workers), then for each N sends N requests of one kind at once: 20000x20000 PNG decompression bombs
 * (a valid 8-bit greyscale PNG of zeros, ~389 KB), header-only 65535x65535 PNGs, and PNGs / JPEGs cut in half.
 * Prints each request's status, error code and time to the answer, and the server's resident memory before the
 * batch and its peak during it (VmRSS / VmHWM of /proc/<pid>/status; the peak is reset before each batch). Last,
 * valid 5000x5000 JPEGs (exactly RETRACE_MAX_PIXELS = 25 000 000), one then two at once (one per worker),
 * measure the worst case an admitted request costs; what stays after is the workers' grown wasm heaps. Loopback only; bounded (each request has a 120 s client timeout).
 *
 *   deno run -A bench/hostile_images_bench.ts [--n 2,8] [--model vgg16_synthetic]
 */
import { parseArgs } from "node:util";
import { deflateSync } from "node:zlib";
import { createCanvas } from "@napi-rs/canvas";
import { spawnServer } from "../tools/spawn_server.ts";
import { headerOnlyPng, pngChunk } from "../tests/helpers/test_png.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "2,8" },
    model: { type: "string", default: "vgg16_synthetic" },
  },
});

/** A real decompression bomb: width x height 8-bit grey zeros (each row: filter 0 + zeros), deflated. */
function bomb(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr[8] = 8;
  const idat = new Uint8Array(deflateSync(new Uint8Array(height * (width + 1)), { level: 9 }));
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", idat),
    pngChunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

function painted(size: number, format: "png" | "jpeg"): Uint8Array {
  const canvas = createCanvas(size, size);
  const ctx = canvas.getContext("2d");
  const g = ctx.createLinearGradient(0, 0, size, size);
  g.addColorStop(0, "#204060");
  g.addColorStop(1, "#e0c020");
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = "#c03030";
  ctx.beginPath();
  ctx.arc(size * 0.6, size * 0.4, size / 5, 0, 2 * Math.PI);
  ctx.fill();
  const b = canvas.encodeSync(format as "png");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();
}

const t0 = performance.now();
const png512 = painted(512, "png");
const jpeg512 = painted(512, "jpeg");
const kinds: [string, string, Uint8Array][] = [
  ["20000x20000 PNG bomb", "image/png", bomb(20000, 20000)],
  ["65535x65535 header-only PNG", "image/png", headerOnlyPng(65535, 65535)],
  ["512x512 PNG cut in half", "image/png", png512.subarray(0, png512.length >> 1)],
  ["512x512 JPEG cut in half", "image/jpeg", jpeg512.subarray(0, jpeg512.length >> 1)],
];
const atLimit = painted(5000, "jpeg");
console.log(
  `# payloads built in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${
    kinds.map(([k, , b]) => `${k} ${b.length} B`).join("; ")
  }; 5000x5000 JPEG ${atLimit.length} B`,
);

const server = await spawnServer({ RETRACE_WORKERS: "2", RETRACE_JOBS_DIR: Deno.makeTempDirSync() });
const pid = server.child.pid;
/** The server and every process below it (explainers may run as child processes). */
function tree(root: number): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const task of Deno.readDirSync(`/proc/${out[i]}/task`)) {
        const kids = Deno.readTextFileSync(`/proc/${out[i]}/task/${task.name}/children`).trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch { /* the process ended */ }
  }
  return out;
}
/** A /proc status field in kB, summed over the server's process tree. */
const kb = (field: string) =>
  tree(pid).reduce((sum, p) => {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(Deno.readTextFileSync(`/proc/${p}/status`));
      return sum + (m ? Number(m[1]) : 0);
    } catch {
      return sum;
    }
  }, 0);
const mb = (k: number) => `${(k / 1024).toFixed(0)} MB`;
const resetPeak = () => {
  for (const p of tree(pid)) {
    try {
      Deno.writeTextFileSync(`/proc/${p}/clear_refs`, "5");
    } catch { /* the process ended */ }
  }
};

async function post(type: string, bytes: Uint8Array) {
  const start = performance.now();
  const res = await fetch(`${server.base}/v1/saliency?model=${values.model}&method=gradient&layers=input`, {
    method: "POST",
    headers: { "content-type": type },
    body: bytes.slice(), // a fresh ArrayBuffer-backed copy per request
    signal: AbortSignal.timeout(120_000),
  });
  const body = await res.json();
  return { status: res.status, code: body?.error?.code ?? "ok", ms: performance.now() - start };
}

try {
  console.log(
    `# server pid ${pid}, ${navigator.hardwareConcurrency} cores, RETRACE_WORKERS=2, wasm; memory summed over ` +
      `the server's process tree (peak = sum of each process's VmHWM, reset before each batch)`,
  );
  const warm = await post("image/jpeg", jpeg512); // loads the model in one worker
  console.log(`warm-up (valid 512x512 JPEG): ${warm.status} ${warm.code} in ${warm.ms.toFixed(0)} ms`);
  console.log(`server RSS after warm-up: ${mb(kb("VmRSS"))} in ${tree(pid).length} process(es)`);
  console.log(
    "\nkind | N | statuses | codes | time to answer per request (ms) | RSS before | peak RSS | growth",
  );
  for (const n of values.n.split(",").map(Number)) {
    for (const [kind, type, bytes] of kinds) {
      const before = kb("VmRSS");
      resetPeak();
      const answers = await Promise.all(Array.from({ length: n }, () => post(type, bytes)));
      const peak = kb("VmHWM");
      console.log(
        `${kind} | ${n} | ${[...new Set(answers.map((a) => a.status))].join(",")} | ${
          [...new Set(answers.map((a) => a.code))].join(",")
        } | ${answers.map((a) => a.ms.toFixed(0)).join(" ")} | ${mb(before)} | ${mb(peak)} | +${
          mb(peak - before)
        }`,
      );
    }
  }
  for (const n of [1, 2]) {
    const before = kb("VmRSS");
    resetPeak();
    const valid = await Promise.all(Array.from({ length: n }, () => post("image/jpeg", atLimit)));
    const peak = kb("VmHWM");
    console.log(
      `${n === 1 ? "\n" : ""}valid 5000x5000 JPEG (25 000 000 px, the default limit) x${n} at once: ${
        valid.map((v) => `${v.status} ${v.code} in ${v.ms.toFixed(0)} ms`).join(", ")
      }; RSS before ${mb(before)}, peak ${mb(peak)} (+${mb(peak - before)}), after ${mb(kb("VmRSS"))}`,
    );
  }
} finally {
  server.child.kill("SIGTERM");
  await server.child.status;
}
