/**
 * The entry point of an explainer process: `deno run workers/process_host.ts <socket> <module URL>` connects to
 * the pool's Unix socket and exposes the module's `api` export through comlink on it (workers/process_channel.ts).
 * stdout is never written (every console method goes to stderr); the process exits when the pool closes the
 * socket, and the pool kills it outright on a timeout or cancellation (workers/pool.ts).
 */
import * as Comlink from "comlink";
import { streamEndpoint } from "./process_channel.ts";

const [socket, moduleUrl] = Deno.args;
for (const name of ["log", "info", "debug"] as const) console[name] = console.error;
const { api } = await import(moduleUrl);
const conn = await Deno.connect({ transport: "unix", path: socket });
const endpoint = streamEndpoint(conn);
Comlink.expose(api, endpoint);
await endpoint.closed;
Deno.exit(0);
