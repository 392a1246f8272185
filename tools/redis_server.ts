/**
 * A throw-away redis-server for tests and bench/redis_scaleout.ts (Debian's package; .ci/run installs it) on a free loopback port, with append-only
 * persistence in its own folder, so a test can stop it (an outage) and start it again with the same data.
 */
export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM: it flushes its append-only file first). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
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

export async function startRedis(): Promise<TestRedis> {
  const dir = await Deno.makeTempDir({ prefix: "retrace-redis-" });
  const port = freePort();
  let child: Deno.ChildProcess | null = null;
  const launch = async () => {
    try {
      child = new Deno.Command("redis-server", {
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
      throw new Error(`cannot start redis-server (apt-get install redis-server): ${(e as Error).message}`);
    }
    for (let i = 0; i < 100; i++) {
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (!child) return;
      child.kill("SIGTERM");
      await child.status;
      child = null;
    },
    restart: launch,
  };
}
