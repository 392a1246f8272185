/**
 * A small seeded generator of uniforms in [0, 1) (mulberry32: 32-bit state, passes the usual quick statistical
 * batteries), for random draws that must be the same on every backend and cost no device read: RISE's masks and
 * the noise tunnel's samples are drawn on the host from it, then uploaded.
 */
export function seededUniforms(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
