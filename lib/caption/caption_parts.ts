/**
 * Reads a caption of the synthetic grammar (lib/synthetic/caption.ts: noun phrases "a SIZE COLOUR CLASS" in
 * decreasing area, a relation between the first two) back into its parts, and tallies over many (hypothesis,
 * reference) pairs how often each part is right — what exact match alone cannot say: a captioner at 3% exact may
 * be failing on one attribute only.
 */
import { RELATIONS, SIZE_WORDS } from "../synthetic/caption_words.ts";

export interface NounPhrase {
  size: string;
  colour: string;
  cls: string;
}

export interface CaptionParts {
  objects: NounPhrase[];
  /** The relation phrase after the first noun phrase, or null. */
  relation: string | null;
}

const SIZES: ReadonlySet<string> = new Set(SIZE_WORDS);

/** The noun phrases and relation of a caption's words; words outside the grammar are skipped. */
export function captionParts(words: readonly string[]): CaptionParts {
  const objects: NounPhrase[] = [];
  let relation: string | null = null;
  for (let i = 0; i < words.length; i++) {
    if (words[i] === "a" && SIZES.has(words[i + 1]) && i + 3 < words.length) {
      objects.push({ size: words[i + 1], colour: words[i + 2], cls: words[i + 3] });
      i += 3;
    } else if (objects.length === 1 && relation === null) {
      const rel = RELATIONS.find((r) => r === words.slice(i, i + r.split(" ").length).join(" "));
      if (rel) {
        relation = rel;
        i += rel.split(" ").length - 1;
      }
    }
  }
  return { objects, relation };
}

export interface PartRate {
  part: string;
  right: number;
  of: number;
}

/** Parts in report order: the count, each attribute of the first (largest) object and of the others, etc. */
export const PART_NAMES = [
  "object count",
  "size, first object",
  "colour, first object",
  "class, first object",
  "size, other objects",
  "colour, other objects",
  "class, other objects",
  "relation",
  "exact, 1-object captions",
  "exact, 2+-object captions",
] as const;

/**
 * Per-part accuracy. Attributes are compared position by position against the reference's noun phrases (a
 * reference object the hypothesis does not reach counts as wrong); the relation only where the reference has one.
 */
export class CaptionPartsTally {
  private readonly counts = new Map<string, [number, number]>(PART_NAMES.map((p) => [p, [0, 0]]));

  add(hypothesis: readonly string[], reference: readonly string[]): void {
    const h = captionParts(hypothesis), r = captionParts(reference);
    this.count("object count", h.objects.length === r.objects.length);
    r.objects.forEach((o, k) => {
      const p = h.objects[k];
      const which = k === 0 ? "first object" : "other objects";
      this.count(`size, ${which}`, p?.size === o.size);
      this.count(`colour, ${which}`, p?.colour === o.colour);
      this.count(`class, ${which}`, p?.cls === o.cls);
    });
    if (r.relation !== null) this.count("relation", h.relation === r.relation);
    const exact = hypothesis.join(" ") === reference.join(" ");
    this.count(r.objects.length === 1 ? "exact, 1-object captions" : "exact, 2+-object captions", exact);
  }

  rates(): PartRate[] {
    return PART_NAMES.map((part) => {
      const [right, of] = this.counts.get(part)!;
      return { part, right, of };
    });
  }

  private count(part: string, right: boolean): void {
    const c = this.counts.get(part)!;
    c[0] += right ? 1 : 0;
    c[1]++;
  }
}
