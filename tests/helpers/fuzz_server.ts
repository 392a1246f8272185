/**
 * Starts main.ts for the fuzz test like tools/spawn_server.ts's spawnTestServer (service permissions, wasm, one
 * worker, a free port), but keeps reading the child's stdout after its `listening` line: the fuzz test sends
 * about a thousand requests, and a server whose access-log pipe nobody drains blocks in write(2) once the pipe
 * is full (~64 KiB) and stops accepting connections. Its stderr goes to `logFile` for failure reports.
 */
import { SERVICE_PERMISSIONS } from "../../tools/spawn_server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export interface FuzzServer {
  base: string;
  child: Deno.ChildProcess;
  /** The last `lines` lines the server wrote to stderr. */
  logTail(lines?: number): Promise<string>;
}

export async function spawnFuzzServer(env: Record<string, string>, logFile: string): Promise<FuzzServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...SERVICE_PERMISSIONS, MAIN],
    env: { PORT: "0", RETRACE_BACKEND: "wasm", RETRACE_WORKERS: "1", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log = await Deno.open(logFile, { create: true, write: true, truncate: true });
  child.stderr.pipeTo(log.writable).catch(() => {});
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
          while (!(await reader.read()).done) { /* drain the access log */ }
        } catch { /* the server exited */ }
      })();
      return {
        base: JSON.parse(line).listening,
        child,
        logTail: async (lines = 40) =>
          (await Deno.readTextFile(logFile).catch(() => "")).trimEnd().split("\n").slice(-lines).join("\n"),
      };
    }
  }
}
