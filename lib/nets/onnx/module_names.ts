/**
 * PyTorch module paths from torch.onnx.export's node names. A node "/layer1/layer1.0/downsample/downsample.0/Conv"
 * lies in the scopes layer1 > layer1.0 > layer1.0.downsample > layer1.0.downsample.0 (the op type is the last
 * part). A segment names the module by its attribute in the enclosing module, prefixed by the enclosing scope's
 * own segment when that one is a container ("layer1.0" = child "0" of "layer1", "downsample.0" = child "0" of
 * "downsample"). A module called more than once in one scope keeps torch's call suffix ("relu_1" = the second
 * call of relu). A node whose name has no scope (hand-made graphs) lies in no module.
 */

/** Module paths enclosing a node, outermost first ([] when its name has no "/" scopes). */
export function moduleScopes(nodeName: string): string[] {
  if (!nodeName.startsWith("/")) return [];
  const segments = nodeName.split("/").slice(1, -1).filter(Boolean);
  const paths: string[] = [];
  segments.forEach((s, i) => {
    const outer = paths.at(-1);
    const parent = segments[i - 1];
    const child = parent !== undefined && s.startsWith(`${parent}.`) ? s.slice(parent.length + 1) : s;
    paths.push(outer ? `${outer}.${child}` : s);
  });
  return paths;
}
