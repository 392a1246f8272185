/**
 * A tiny dependency-free XML reader for fixed, attribute-free schemas such as PASCAL VOC annotations: elements,
 * text and the five predefined entities. It skips the XML declaration and comments, ignores attributes, and
 * throws on mismatched tags. Not a general XML parser.
 */

export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** Concatenated text directly inside this element, trimmed. */
  text: string;
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decode(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ENTITIES[e]);
}

/** Parses a document and returns its root element. */
export function parseXml(source: string): XmlElement {
  const root: XmlElement = { name: "#document", children: [], text: "" };
  const stack: XmlElement[] = [root];
  const texts: string[][] = [[]];
  const tag = /<(\?[^>]*\?|!--[\s\S]*?--|\/?)([A-Za-z_][\w.-]*)?([^>]*?)(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(source); m !== null; m = tag.exec(source)) {
    texts[texts.length - 1].push(source.slice(last, m.index));
    last = tag.lastIndex;
    const [, kind, name, , selfClosing] = m;
    if (kind.startsWith("?") || kind.startsWith("!--")) continue;
    if (name === undefined) throw new SyntaxError(`bad tag at ${m.index}`);
    if (kind === "/") {
      const el = stack.pop()!;
      if (el.name !== name) throw new SyntaxError(`</${name}> closes <${el.name}>`);
      el.text = decode(texts.pop()!.join("")).trim();
      continue;
    }
    const el: XmlElement = { name, children: [], text: "" };
    stack[stack.length - 1].children.push(el);
    if (selfClosing !== "/") {
      stack.push(el);
      texts.push([]);
    }
  }
  if (stack.length !== 1) throw new SyntaxError(`unclosed <${stack[stack.length - 1].name}>`);
  if (source.slice(last).trim() !== "" || texts[0].join("").trim() !== "") {
    throw new SyntaxError("text outside the root element");
  }
  if (root.children.length !== 1) throw new SyntaxError("a document must have exactly one root element");
  return root.children[0];
}

/** The children of `el` named `name`. */
export function all(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The only child of `el` named `name`; throws if there is none or more than one. */
export function one(el: XmlElement, name: string): XmlElement {
  const found = all(el, name);
  if (found.length !== 1) throw new Error(`<${el.name}> has ${found.length} <${name}> children, expected 1`);
  return found[0];
}
