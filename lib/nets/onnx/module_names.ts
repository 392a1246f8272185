/**
 * PyTorch module paths from torch.onnx.export's node names. A node "/layer4/layer4.1/relu_1/Relu" lies in the
 * scopes layer4 > layer4.1 > relu_1 (the op type is the last part): each scope segment is either a full path
 * that extends the enclosing one ("layer4.1" inside "layer4") or an attribute name to append ("conv1" inside
 * "layer1.0" is "layer1.0.conv1"). A module called more than once in one scope keeps torch's call suffix
 * ("relu_1" = relu's second call). A node whose name has no scope (hand-made graphs) lies in no module.
 */

/** Module paths enclosing a node, outermost first ([] when its name has no "/" scopes). */
export function moduleScopes(nodeName: string): string[] {
  if (!nodeName.startsWith("/")) return [];
  const segments = nodeName.split("/").slice(1, -1).filter(Boolean);
  const paths: string[] = [];
  for (const s of segments) {
    const outer = paths.at(-1);
    paths.push(!outer || s.startsWith(`${outer}.`) ? s : `${outer}.${s}`);
  }
  return paths;
}
