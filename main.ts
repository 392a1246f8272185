/**
 * retrace service entry point: configuration from the environment -> tfjs backend -> Hono app -> Deno.serve.
 * Environment: HOST (default 127.0.0.1), PORT (default 8000; 0 = any free port), RETRACE_BACKEND
 * (auto|webgpu|wasm|cpu, default auto). Prints one JSON line `{"listening": "http://host:port", ...}`.
 */
import { initBackend } from "./lib/runtime/backend.ts";
import { serverConfig } from "./lib/server_config.ts";
import { VERSION } from "./lib/version.ts";
import { createApp } from "./routes/app.ts";

async function main(): Promise<void> {
  const config = serverConfig();
  const backend = await initBackend(config.backend);
  const app = createApp(backend);
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      console.log(
        JSON.stringify({
          listening: `http://${host}:${port}`,
          version: VERSION,
          backend: backend.backend,
          reason: backend.reason,
        }),
      );
    },
  }, app.fetch);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => server.shutdown().then(() => Deno.exit(0)));
  }
  await server.finished;
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(
      JSON.stringify({ level: "fatal", error: (e as Error).name, message: (e as Error).message }),
    );
    Deno.exit(1);
  }
}
