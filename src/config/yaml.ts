/**
 * YAML text → plain JS value, typed the way mihomo's go-yaml v3 types it (config.md §1.1, §1.2 point 7).
 *
 * The `yaml` package only parses (failsafe schema: every scalar is text); resolving plain scalars,
 * anchors, merge keys and duplicate keys is done here so that the result matches what mihomo sees,
 * and so every value's path can be mapped back to its line and column.
 */
import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  type Scalar,
  visit,
  type YAMLMap,
} from "yaml";
import { formatGoFloatE, parseGoFloat, parseGoInt, parseGoUint } from "./gonum.ts";
import { type ConfigIssue, indexPath, keyPath } from "./issues.ts";

/** 1-based position of a value node. `source` is the text of a plain (unquoted) scalar. */
export interface Position {
  line: number;
  column: number;
  source?: string;
}

export interface ParsedYaml {
  value: unknown;
  /** Value path (`proxies[3].cipher`) → position of the node it came from (the anchor for aliased values). */
  positions: Map<string, Position>;
  issues: ConfigIssue[];
}

/** A plain scalar as go-yaml resolves it. Ints carry their exact decimal text (JS numbers lose digits past 2^53). */
export type PlainScalar =
  | { kind: "null"; value: null }
  | { kind: "bool"; value: boolean }
  | { kind: "int"; value: number; text: string }
  | { kind: "float"; value: number; text: string }
  | { kind: "string"; value: string };

const SPECIAL: Record<string, PlainScalar> = {};
for (const s of ["", "~", "null", "Null", "NULL"]) SPECIAL[s] = { kind: "null", value: null };
for (const s of ["true", "True", "TRUE"]) SPECIAL[s] = { kind: "bool", value: true };
for (const s of ["false", "False", "FALSE"]) SPECIAL[s] = { kind: "bool", value: false };
for (const s of [".nan", ".NaN", ".NAN"]) SPECIAL[s] = { kind: "float", value: Number.NaN, text: "NaN" };
for (const s of [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"]) {
  SPECIAL[s] = { kind: "float", value: Number.POSITIVE_INFINITY, text: "+Inf" };
}
for (const s of ["-.inf", "-.Inf", "-.INF"]) SPECIAL[s] = { kind: "float", value: Number.NEGATIVE_INFINITY, text: "-Inf" };

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

function int(value: bigint): PlainScalar {
  // `+ 0` turns -0 into 0: Go ints have no negative zero.
  return { kind: "int", value: Number(value) + 0, text: value.toString() };
}

function float(value: number): PlainScalar {
  return { kind: "float", value, text: formatGoFloatE(value) };
}

/** go-yaml v3 `resolve()` for an untagged plain scalar. */
export function resolvePlain(text: string): PlainScalar {
  const special = Object.hasOwn(SPECIAL, text) ? SPECIAL[text] : undefined;
  if (special) return special;
  const first = text[0] ?? "";
  if (first === ".") {
    const f = parseGoFloat(text);
    if (f !== undefined) return float(f);
  } else if ((first >= "0" && first <= "9") || first === "+" || first === "-") {
    const plain = text.replaceAll("_", "");
    const i = parseGoInt(plain) ?? parseGoUint(plain);
    if (i !== undefined) return int(i);
    if (YAML_STYLE_FLOAT.test(plain)) {
      const f = Number(plain);
      if (Number.isFinite(f)) return float(f);
    }
  }
  return { kind: "string", value: text };
}

const STR_TAG = "tag:yaml.org,2002:str";
const MERGE_TAG = "tag:yaml.org,2002:merge";

/** go-yaml's guard against alias bombs (`allowedAliasRatio` in decode.go). */
function allowedAliasRatio(decodeCount: number): number {
  const low = 400_000;
  const high = 4_000_000;
  if (decodeCount <= low) return 0.99;
  if (decodeCount >= high) return 0.1;
  return 0.99 - (0.89 * (decodeCount - low)) / (high - low);
}

class Abort extends Error {}

interface Entry {
  key: string;
  value: Node | null;
}

class Converter {
  readonly positions = new Map<string, Position>();
  readonly issues: ConfigIssue[] = [];
  private readonly aliasTargets = new Map<Alias, Node>();
  /** Collections being converted right now: an alias to one of them would recurse forever. */
  private readonly stack = new Set<Node>();
  private decodeCount = 0;
  private aliasCount = 0;
  private aliasDepth = 0;

  constructor(
    private readonly lines: LineCounter,
    doc: Document,
  ) {
    // An alias refers to the last anchor of that name before it in document order.
    const anchors = new Map<string, Node>();
    visit(doc, {
      Node: (_key, node) => {
        if (isAlias(node)) {
          const target = anchors.get(node.source);
          if (target) this.aliasTargets.set(node, target);
        } else if (node.anchor) {
          anchors.set(node.anchor, node);
        }
      },
    });
  }

  private where(node: Node | null | undefined): { line?: number; column?: number } {
    const offset = node?.range?.[0];
    if (offset === undefined) return {};
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  error(code: string, path: string, node: Node | null | undefined, message: string): void {
    this.issues.push({ severity: "error", code, path, ...this.where(node), message });
  }

  /** The node an alias stands for, or undefined after reporting why there is none. */
  private deref(alias: Alias, path: string): Node | undefined {
    const target = this.aliasTargets.get(alias);
    if (!target) {
      this.error("yaml.syntax", path, alias, `unknown anchor '${alias.source}' referenced`);
      return undefined;
    }
    if (this.stack.has(target)) {
      this.error("yaml.syntax", path, alias, `anchor '${alias.source}' value contains itself`);
      return undefined;
    }
    return target;
  }

  private count(): void {
    this.decodeCount++;
    if (this.aliasDepth > 0) this.aliasCount++;
    if (
      this.aliasCount > 100 &&
      this.decodeCount > 1000 &&
      this.aliasCount / this.decodeCount > allowedAliasRatio(this.decodeCount)
    ) {
      this.error("yaml.syntax", "", null, "document contains excessive aliasing");
      throw new Abort();
    }
  }

  convert(node: Node | null, path: string): unknown {
    this.count();
    if (node === null) return null;
    if (isAlias(node)) {
      const target = this.deref(node, path);
      if (!target) return null;
      this.aliasDepth++;
      try {
        return this.convert(target, path);
      } finally {
        this.aliasDepth--;
      }
    }
    if (isScalar(node)) {
      const text = String(node.value ?? "");
      const plain = node.type === "PLAIN";
      this.record(path, node, plain ? text : undefined);
      return plain && node.tag !== STR_TAG ? resolvePlain(text).value : text;
    }
    this.record(path, node);
    this.stack.add(node);
    try {
      if (isSeq(node)) return node.items.map((item, i) => this.convert(item as Node | null, indexPath(path, i)));
      if (isMap(node)) {
        const out: Record<string, unknown> = {};
        for (const { key, value } of this.entries(node, path)) {
          const v = this.convert(value, keyPath(path, key));
          // A literal "__proto__" key must become an own property, not the object's prototype.
          if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
          else out[key] = v;
        }
        return out;
      }
      return null;
    } finally {
      this.stack.delete(node);
    }
  }

  private record(path: string, node: Node, source?: string): void {
    const { line, column } = this.where(node);
    if (line === undefined || column === undefined) return;
    this.positions.set(path, source === undefined ? { line, column } : { line, column, source });
  }

  private isMergeKey(key: unknown): boolean {
    return (
      isScalar(key) && key.type === "PLAIN" && key.value === "<<" && (!key.tag || key.tag === "!" || key.tag === MERGE_TAG)
    );
  }

  /** Map keys become strings the way go-yaml decodes a key into a Go string: the scalar's text. */
  private keyText(key: unknown, path: string): string | undefined {
    if (key === null || key === undefined) return "";
    let node = key as Node;
    if (isAlias(node)) {
      const target = this.deref(node, path);
      if (!target) return undefined;
      node = target;
    }
    if (isScalar(node)) return String((node as Scalar).value ?? "");
    this.error("yaml.syntax", path, node, "a mapping key must be a scalar");
    return undefined;
  }

  /**
   * A mapping's entries in file order with merge keys applied: keys written in the mapping win,
   * then the merge sources in order (an earlier source wins over a later one); merged keys take
   * the place of the `<<` key. A key written twice is an error (go-yaml compares the key text).
   */
  private entries(node: YAMLMap, path: string): Entry[] {
    const items: Array<Entry & { merge: boolean }> = [];
    const firstLine = new Map<string, number | undefined>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const merge = this.isMergeKey(keyNode);
      const key = merge ? "<<" : this.keyText(keyNode, path);
      if (key === undefined) continue;
      if (firstLine.has(key)) {
        const line = firstLine.get(key);
        const at = line === undefined ? "" : ` at line ${line}`;
        this.error("yaml.duplicate-key", keyPath(path, key), keyNode, `mapping key "${key}" already defined${at}`);
        continue;
      }
      firstLine.set(key, this.where(keyNode).line);
      items.push({ key, value: pair.value as Node | null, merge });
    }

    const taken = new Set(items.filter((i) => !i.merge).map((i) => i.key));
    const out: Entry[] = [];
    for (const item of items) {
      if (!item.merge) {
        out.push(item);
        continue;
      }
      for (const source of this.mergeSources(item.value, path)) {
        this.stack.add(source);
        try {
          for (const entry of this.entries(source, path)) {
            if (taken.has(entry.key)) continue;
            taken.add(entry.key);
            out.push(entry);
          }
        } finally {
          this.stack.delete(source);
        }
      }
    }
    return out;
  }

  private mergeSources(value: Node | null, path: string): YAMLMap[] {
    const asMap = (n: Node | null): YAMLMap | undefined => {
      const target = n && isAlias(n) ? this.deref(n, path) : n;
      if (target && isMap(target)) return target;
      if (n && (!isAlias(n) || target)) {
        this.error("yaml.syntax", path, n, "map merge requires map or sequence of maps as the value");
      }
      return undefined;
    };
    if (value && isSeq(value)) {
      return value.items.flatMap((item) => asMap(item as Node | null) ?? []);
    }
    const one = asMap(value);
    return one ? [one] : [];
  }
}

/** Parse a config file. Errors are issues; `value` is still the best-effort result. */
export function parseYaml(text: string): ParsedYaml {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    schema: "failsafe",
    merge: false,
    uniqueKeys: false,
    prettyErrors: false,
  });
  const doc = docs[0];
  const contents = doc?.contents;
  if (!doc || !contents || (isScalar(contents) && contents.type === "PLAIN" && contents.value === "" && !doc.errors.length)) {
    return {
      value: null,
      positions: new Map(),
      issues: [{ severity: "error", code: "yaml.empty", path: "", message: "configuration file is empty" }],
    };
  }

  const converter = new Converter(lines, doc);
  const issues: ConfigIssue[] = [];
  // One mistake often yields several parser errors on the same line; the first one is the useful one.
  const errorLines = new Set<number>();
  for (const e of doc.errors) {
    const { line, col } = lines.linePos(e.pos[0]);
    if (errorLines.has(line)) continue;
    errorLines.add(line);
    issues.push({ severity: "error", code: "yaml.syntax", path: "", line, column: col, message: e.message });
  }
  if (docs.length > 1) {
    const { line, col } = lines.linePos(docs[1]?.range[0] ?? 0);
    issues.push({
      severity: "warning",
      code: "yaml.multi-document",
      path: "",
      line,
      column: col,
      message: "the file holds several YAML documents; only the first one is read",
    });
  }

  let value: unknown = null;
  try {
    value = converter.convert(contents as Node, "");
  } catch (e) {
    if (!(e instanceof Abort)) throw e;
  }
  // A node reached through several aliases is converted several times; report each problem once.
  const seen = new Set<string>();
  for (const i of converter.issues) {
    const id = `${i.code} ${i.line}:${i.column} ${i.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    issues.push(i);
  }
  return { value, positions: converter.positions, issues };
}
