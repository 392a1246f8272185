/**
 * The models a service instance offers: every sub-folder of the models root that holds a valid manifest.json
 * (classifiers and captioners). Read once at start; a folder with a broken manifest is reported, not fatal.
 */
import { type ModelManifest, parseManifest } from "./manifest.ts";
import { networkOf } from "./load.ts";

export interface ModelEntry {
  name: string;
  dir: string;
  kind: "classifier" | "captioner";
  manifest: ModelManifest;
}

export async function scanModels(
  root: string,
  onProblem: (dir: string, message: string) => void = () => {},
): Promise<Map<string, ModelEntry>> {
  const out = new Map<string, ModelEntry>();
  const dirs: string[] = [];
  for await (const e of Deno.readDir(root)) {
    if (
      e.isDirectory || (e.isSymlink && (await Deno.stat(`${root}/${e.name}`).catch(() => null))?.isDirectory)
    ) {
      dirs.push(e.name);
    }
  }
  for (const name of dirs.sort()) {
    const dir = `${root}/${name}`;
    let text: string;
    try {
      text = await Deno.readTextFile(`${dir}/manifest.json`);
    } catch {
      continue; // not a model folder
    }
    try {
      const manifest = parseManifest(text, `${dir}/manifest.json`, dir);
      if (manifest.arch === "onnx") networkOf(manifest); // an unreadable or unsupported graph is reported here
      const kind = (manifest as { kind?: string }).kind === "captioner" ? "captioner" : "classifier";
      out.set(name, { name, dir, kind, manifest });
    } catch (e) {
      onProblem(dir, (e as Error).message);
    }
  }
  return out;
}
