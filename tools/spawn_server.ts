/**
 * Starts main.ts in a child process on a free loopback port and waits for its `listening` line. Used by the
 * integration tests, bench/load.ts and tools/screenshot.ts. The caller kills the child (SIGTERM) when done.
 */
const MAIN = new URL("../main.ts", import.meta.url).pathname;

export interface SpawnedServer {
  base: string;
  child: Deno.ChildProcess;
}

/**
 * `permissions` default to -A; `env` adds to PORT=0, wasm, one worker. stderr is dropped unless `stderr`, or
 * written to LOG_DIR/HOST-PID.log when RETRACE_TEST_SERVER_LOGS=LOG_DIR is set (to read a flaky test's servers).
 */
export async function spawnServer(
  env: Record<string, string> = {},
  options: { permissions?: string[]; stderr?: "piped" | "null" } = {},
): Promise<SpawnedServer> {
  const logDir = Deno.env.get("RETRACE_TEST_SERVER_LOGS");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ["-A"]), MAIN],
    env: { PORT: "0", RETRACE_BACKEND: "wasm", RETRACE_WORKERS: "1", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: logDir ? "piped" : options.stderr ?? "null",
  }).spawn();
  if (logDir) {
    const name = `${logDir}/${env.RETRACE_HOST_ID ?? "server"}-${child.pid}.log`;
    const file = await Deno.open(name, { create: true, write: true });
    child.stderr.pipeTo(file.writable).catch(() => {});
  }
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${text}`);
    text += value;
    const line = text.split("\n").find((l) => l.startsWith("{") && l.includes('"listening"'));
    if (line) {
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      return { base: JSON.parse(line).listening, child };
    }
  }
}

/** What the service needs and no more: network, env, read, canvas (ffi, sys), run, writes only under /tmp. */
export const SERVICE_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write=/tmp",
  "--allow-ffi",
  "--allow-sys",
  "--allow-run", // the explainers run in their own processes (workers/explainer_process.ts)
];

/** A server with SERVICE_PERMISSIONS and a fresh jobs folder under /tmp (for tests). */
export function spawnTestServer(env: Record<string, string> = {}): Promise<SpawnedServer> {
  return spawnServer({ RETRACE_JOBS_DIR: Deno.makeTempDirSync({ prefix: "retrace-jobs-" }), ...env }, {
    permissions: SERVICE_PERMISSIONS,
  });
}
