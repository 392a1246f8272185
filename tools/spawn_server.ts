/**
 * Starts main.ts in a child process on a free loopback port and waits for its `listening` line. Used by the
 * integration tests, bench/load.ts and tools/screenshot.ts. The caller kills the child (SIGTERM) when done; once
 * it has exited, what it may leave behind is removed before `child.status` resolves: the temporary folder of a
 * synthetic-world generation it was killed in (lib/synthetic/stale_temps.ts) and, for spawnTestServer, its jobs
 * folder.
 */
import { removeStaleTemps } from "../lib/synthetic/stale_temps.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

export interface SpawnedServer {
  base: string;
  child: Deno.ChildProcess;
}

/**
 * `permissions` default to -A; `env` adds to PORT=0, wasm, one worker. stderr is dropped unless `stderr`, written
 * to `stderrFile`, or to LOG_DIR/HOST-PID.log when RETRACE_TEST_SERVER_LOGS=LOG_DIR is set (to read a flaky
 * test's servers). `afterExit` runs once the child has exited, before `child.status` resolves (its failures are
 * ignored). stdout (the access log) is read to the end: a server whose log pipe is full blocks in write(2).
 */
export async function spawnServer(
  env: Record<string, string> = {},
  options: {
    permissions?: string[];
    stderr?: "piped" | "null";
    stderrFile?: string;
    afterExit?: () => Promise<void>;
  } = {},
): Promise<SpawnedServer> {
  const logDir = Deno.env.get("RETRACE_TEST_SERVER_LOGS");
  const logFile = options.stderrFile;
  const child = afterExit(
    new Deno.Command(Deno.execPath(), {
      args: ["run", ...(options.permissions ?? ["-A"]), MAIN],
      env: { PORT: "0", RETRACE_BACKEND: "wasm", RETRACE_WORKERS: "1", NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: logDir || logFile ? "piped" : options.stderr ?? "null",
    }).spawn(),
    async () => {
      await removeStaleTemps(`${env.RETRACE_DATA_DIR || "data"}/synthetic`);
      await options.afterExit?.();
    },
  );
  if (logDir || logFile) {
    const name = logFile ?? `${logDir}/${env.RETRACE_HOST_ID ?? "server"}-${child.pid}.log`;
    const file = await Deno.open(name, { create: true, write: true, truncate: true });
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
      (async () => {
        try {
          while (!(await reader.read()).done) { /* the access log, discarded */ }
        } catch { /* the server exited */ }
      })();
      return { base: JSON.parse(line).listening, child };
    }
  }
}

/** `child`, whose `status` resolves only after `cleanup` has run (its failures ignored) once the child exited. */
function afterExit(child: Deno.ChildProcess, cleanup: () => Promise<void>): Deno.ChildProcess {
  const status = child.status.then(async (s) => {
    await cleanup().catch(() => {});
    return s;
  });
  Object.defineProperty(child, "status", { value: status });
  return child;
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

/** A server with SERVICE_PERMISSIONS and a fresh jobs folder under /tmp (for tests; removed once it exited). */
export async function spawnTestServer(
  env: Record<string, string> = {},
): Promise<SpawnedServer & { jobsDir: string }> {
  const made = env.RETRACE_JOBS_DIR ? null : Deno.makeTempDirSync({ prefix: "retrace-jobs-" });
  const jobsDir = env.RETRACE_JOBS_DIR ?? made!;
  const server = await spawnServer({ RETRACE_JOBS_DIR: jobsDir, ...env }, {
    permissions: SERVICE_PERMISSIONS,
    afterExit: async () => {
      if (made) await Deno.remove(made, { recursive: true });
    },
  });
  return { ...server, jobsDir };
}
