/**
 * The pointing game's "difficult" subset (METHODS.md §8 items 7–8): TorchRay's EBP flag files (one line per
 * image: key, then one 0/1 flag per class, tab- or space-separated) and the EBP rule computed from annotations
 * (class region < 25% of the image and another class present). An image not listed in a flag file is not
 * skipped in the difficult evaluation, as TorchRay does.
 */

export const DIFFICULT_AREA_FRACTION = 0.25;

export class DifficultFlagsError extends Error {
  override name = "DifficultFlagsError";
}

/** key -> per-class flags, parsed from a flag file's text; every line must hold exactly `numClasses` flags. */
export function parseDifficultFlags(
  text: string,
  numClasses: number,
  source = "flags file",
): Map<string, boolean[]> {
  const out = new Map<string, boolean[]>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const [key, ...flags] = line.split(/\s+/);
    if (flags.length !== numClasses || flags.some((f) => f !== "0" && f !== "1")) {
      throw new DifficultFlagsError(
        `${source} line ${i + 1}: expected a key and ${numClasses} flags 0/1, got ${JSON.stringify(line)}`,
      );
    }
    out.set(key, flags.map((f) => f === "1"));
  });
  return out;
}

/** The EBP rule for one image/class pair: region area < 25% of the image and at least one other class present. */
export function isDifficultPair(regionArea: number, imageArea: number, classesPresent: number): boolean {
  return classesPresent >= 2 && regionArea < DIFFICULT_AREA_FRACTION * imageArea;
}

/** Number of set pixels of a 0/1 mask. */
export function maskArea(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}
