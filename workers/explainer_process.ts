/**
 * One explainer in its own OS process: spawns `deno run workers/process_host.ts` for a module that exports `api`,
 * waits for it on a private Unix socket and wraps it with comlink. kill() is SIGKILL: unlike Worker.terminate(),
 * which under Deno 2.9 does not stop a thread busy in JavaScript, wasm or native code (measured: a terminated
 * worker's loop ran on), a killed process stops at once and the OS takes back all of its memory.
 */
import * as Comlink from "comlink";
import { fileURLToPath as fromFileUrl } from "node:url";
import { type ChannelEndpoint, streamEndpoint } from "./process_channel.ts";

/** What an explainer process may do: read models and packages, load the canvas and GPU libraries. */
const PERMISSIONS = ["--allow-read", "--allow-env", "--allow-ffi", "--allow-sys"];

export interface ExplainerProcess<Api> {
  api: Comlink.Remote<Api>;
  pid: number;
  /** Resolves with a description once the process has exited, for whatever reason. */
  exited: Promise<string>;
  /** SIGKILL; safe to call more than once. */
  kill(): void;
}

/** Starts `moduleUrl` (it must export `api`) in a fresh process; `socketDir` is a private (0700) folder. */
export function spawnExplainerProcess<Api>(
  moduleUrl: URL,
  socketDir: string,
  name: string,
): ExplainerProcess<Api> {
  const path = `${socketDir}/${name}.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--config=${fromFileUrl(new URL("../deno.json", import.meta.url))}`,
      ...PERMISSIONS,
      `--allow-write=${path}`, // connecting to a Unix socket is a write and a "net" access to that path
      `--allow-net=unix:${path}`,
      fromFileUrl(new URL("./process_host.ts", import.meta.url)),
      path,
      moduleUrl.href,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone (or killed before) */ }
  };
  const exited = child.status.then((
    s,
  ) => (s.signal ? `killed by ${s.signal}` : `exited with code ${s.code}`));
  // The endpoint exists before the process connects: comlink's first call waits in `pending` until it does.
  let endpoint: ChannelEndpoint | null = null;
  const pending: [unknown, Transferable[] | undefined][] = [];
  const listeners = new Set<EventListenerOrEventListenerObject>();
  const accepted = listener.accept().then((conn) => {
    endpoint = streamEndpoint(conn);
    for (const l of listeners) endpoint.addEventListener("message", l);
    for (const [m, t] of pending) endpoint.postMessage(m, t);
    pending.length = 0;
  }).finally(() => {
    listener.close();
    Deno.remove(path).catch(() => {});
  });
  accepted.catch(() => {});
  exited.finally(() => {
    try {
      listener.close();
    } catch { /* accepted already */ }
    (endpoint as ChannelEndpoint | null)?.close();
  });
  const proxyEndpoint: Comlink.Endpoint = {
    postMessage: (m: unknown, t?: Transferable[]) =>
      endpoint ? endpoint.postMessage(m, t) : pending.push([m, t]),
    addEventListener: (_type: string, l: EventListenerOrEventListenerObject) => {
      listeners.add(l);
      endpoint?.addEventListener("message", l);
    },
    removeEventListener: (_type: string, l: EventListenerOrEventListenerObject) => {
      listeners.delete(l);
      endpoint?.removeEventListener("message", l);
    },
  };
  return { api: Comlink.wrap<Api>(proxyEndpoint), pid: child.pid, exited, kill };
}
