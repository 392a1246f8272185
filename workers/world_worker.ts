/**
 * A module worker that generates the synthetic world's test split when it is missing (lib/synthetic/ensure.ts),
 * off the server's event loop, then posts {done: "present" | "generated"} or {error}.
 */
import { ensureSyntheticWorld } from "../lib/synthetic/ensure.ts";

self.onmessage = async (e: MessageEvent<{ dir: string; images: number }>) => {
  try {
    self.postMessage({ done: await ensureSyntheticWorld(e.data.dir, e.data.images) });
  } catch (err) {
    self.postMessage({ error: (err as Error).message });
  }
};
