/**
 * The fixed words of the synthetic caption grammar (lib/synthetic/caption.ts) that give a caption its structure:
 * size words and relation phrases. A module of its own so that readers of captions (lib/caption/caption_parts.ts)
 * need not import the scene renderer.
 */

export const SIZE_WORDS = ["small", "medium", "large"] as const;
export const RELATIONS = ["left of", "right of", "above", "below"] as const;
export type Relation = typeof RELATIONS[number];
