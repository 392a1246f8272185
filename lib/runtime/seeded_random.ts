/**
 * A small seeded generator of uniforms in [0, 1) (mulberry32: 32-bit state, passes the usual quick statistical
 * batteries), for random draws that must be the same on every backend and cost no device read: RISE's masks and
 * the noise tunnel's and ROAD's Gaussian samples (Box-Muller) are drawn on the host from it, then uploaded.
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

/** Standard normal draws from a seeded generator (host-side, Box-Muller). */
export function normals(seed: number, count: number): Float32Array {
  const next = seededUniforms(seed);
  const uniform = () => 1 - next(); // in (0, 1]: log() stays finite
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}
