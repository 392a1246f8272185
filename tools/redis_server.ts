/**
 * A throw-away redis-server for tests and bench/redis_scaleout.ts (Debian's package; .ci/run installs it) on a
 * free loopback port, with append-only persistence in its own temporary folder, so a test can stop it (an outage)
 * and start it again with the same data; `close` stops it for good and removes the folder. Call startRedis first
 * in a test: without redis-server it fails at once, saying how to install it.
 */
export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM: it flushes its append-only file first). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops it and removes its data folder. */
  close(): Promise<void>;
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function ping(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(16);
    const n = await conn.read(buf);
    conn.close();
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).startsWith("+PONG");
  } catch {
    return false;
  }
}

/** How long a starting redis-server may take to answer (a safety limit: it answers in well under a second). */
const START_LIMIT_MS = 60_000;

/** The error when redis-server cannot be run (not installed). */
function redisServerMissing(e: unknown): Error {
  return new Error(
    `cannot start redis-server (install it: apt-get install redis-server): ${(e as Error).message}`,
  );
}

export async function startRedis(): Promise<TestRedis> {
  const dir = await Deno.makeTempDir({ prefix: "retrace-redis-" });
  const port = freePort();
  let child: Deno.ChildProcess | null = null;
  const launch = async () => {
    let started: Deno.ChildProcess;
    try {
      started = new Deno.Command("redis-server", {
        args: [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--appendonly",
          "yes",
          "--save",
          "",
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
    } catch (e) {
      throw redisServerMissing(e);
    }
    child = started;
    const exit: { status: Deno.CommandStatus | null } = { status: null };
    started.status.then((s) => (exit.status = s));
    const end = Date.now() + START_LIMIT_MS;
    while (!(await ping(port))) {
      if (exit.status) {
        child = null;
        throw new Error(`redis-server exited (code ${exit.status.code}) before answering on port ${port}`);
      }
      if (Date.now() > end) {
        throw new Error(`redis-server did not answer on port ${port} within ${START_LIMIT_MS / 1000} s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await launch();
  } catch (e) {
    (child as Deno.ChildProcess | null)?.kill("SIGKILL");
    await (child as Deno.ChildProcess | null)?.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  const stop = async () => {
    if (!child) return;
    child.kill("SIGTERM");
    await child.status;
    child = null;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    restart: launch,
    async close() {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
