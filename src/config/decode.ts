/**
 * Schema-driven decoding of parsed YAML into typed options, in mihomo's two flavours (config.md §1, §22):
 *
 * - strict: go-yaml decoding into typed structs (general keys, dns, tun, sniffer, profile, …).
 *   Exact key names; no string → number conversion; booleans also accept yes/no/on/off/y/n;
 *   a string field takes any scalar's text as written.
 * - weak: mihomo's `common/structure` decoder (proxies, groups, providers, listeners). Keys match
 *   exactly, then case-insensitively (optionally `_` = `-`); strings convert to numbers, numbers to
 *   strings (Go formatting), ints to booleans; strings never to booleans.
 *
 * Schemas are TypeBox: a property not wrapped in `Type.Optional` and without a `default` is required.
 * `Type.Union` of literals is an enum; `{ caseInsensitive: true }` on it accepts any case and
 * returns the literal as declared.
 */
import { Kind, type Static, type TSchema } from "@sinclair/typebox";
import { formatGoFloatE, parseGoFloat, parseGoInt } from "./gonum.ts";
import { type ConfigIssue, hasErrors, indexPath, keyPath } from "./issues.ts";
import { suggest } from "./suggest.ts";
import { type Position, resolvePlain } from "./yaml.ts";

export interface DecodeOptions {
  mode: "strict" | "weak";
  /** Weak mode only: `skip_cert_verify` matches `skip-cert-verify` (mihomo does this for proxies and listeners). */
  underscoreAsDash?: boolean;
  /** Path of `value` in the file, e.g. `proxies[3]`; issue paths extend it. */
  path: string;
  positions: Map<string, Position>;
  /** Issues are appended here. */
  issues: ConfigIssue[];
}

type Result = { ok: true; value: unknown } | { ok: false };
const FAIL: Result = { ok: false };
const ok = (value: unknown): Result => ({ ok: true, value });

type Literal = string | number | boolean;

/** go-yaml v3 accepts these (YAML 1.1 spellings) when the target is a typed bool. */
const YAML11_BOOLS: Record<string, boolean> = {};
for (const s of ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON"]) YAML11_BOOLS[s] = true;
for (const s of ["n", "N", "no", "No", "NO", "off", "Off", "OFF"]) YAML11_BOOLS[s] = false;

const patterns = new Map<string, RegExp>();
function compiled(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (!re) {
    re = new RegExp(pattern, "u");
    patterns.set(pattern, re);
  }
  return re;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** "a string", "a list", … — what a value is, for messages about containers. */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  return `a ${typeof value === "bigint" ? "number" : typeof value}`;
}

/** What a schema accepts, for messages. */
function describe(schema: TSchema): string {
  switch (schema[Kind]) {
    case "Integer":
      return "an integer";
    case "Number":
      return "a number";
    case "String":
      return "a string";
    case "Boolean":
      return "a boolean";
    case "Array":
      return "a list";
    case "Object":
    case "Record":
      return "a map";
    case "Literal":
      return String(schema.const);
    case "Union":
      return (schema.anyOf as TSchema[]).map(describe).join(" or ");
    default:
      return "a value";
  }
}

class Decoder {
  constructor(
    private readonly mode: "strict" | "weak",
    private readonly underscoreAsDash: boolean,
    private readonly positions: Map<string, Position>,
    private readonly issues: ConfigIssue[],
  ) {}

  private withIssues(issues: ConfigIssue[]): Decoder {
    return new Decoder(this.mode, this.underscoreAsDash, this.positions, issues);
  }

  private report(severity: ConfigIssue["severity"], code: string, path: string, message: string, hint?: string, at = path): void {
    const pos = this.positions.get(at);
    this.issues.push({
      severity,
      code,
      path,
      ...(pos ? { line: pos.line, column: pos.column } : {}),
      message,
      ...(hint ? { hint } : {}),
    });
  }

  private fail(path: string, message: string, hint?: string, code = "decode.type"): Result {
    this.report("error", code, path, message, hint);
    return FAIL;
  }

  /** The value as the user wrote it, for messages. */
  private got(value: unknown, path: string): string {
    if (typeof value === "string") return JSON.stringify(value);
    if (typeof value === "number") return this.positions.get(path)?.source ?? String(value);
    if (typeof value === "boolean") return String(value);
    return kindOf(value);
  }

  /**
   * How Go sees a YAML number: an int or a float, and the text strconv prints for it. The position's
   * source text decides (JS cannot tell 8 from 8.0, and ints past 2^53 lose digits in a number).
   */
  private goNumber(value: number, path: string): { kind: "int" | "float"; text: string; source?: string } {
    const source = this.positions.get(path)?.source;
    if (source !== undefined) {
      const r = resolvePlain(source);
      if ((r.kind === "int" || r.kind === "float") && (r.value === value || (Number.isNaN(r.value) && Number.isNaN(value)))) {
        return { kind: r.kind, text: r.text, source };
      }
    }
    return Number.isInteger(value)
      ? { kind: "int", text: BigInt(value).toString() }
      : { kind: "float", text: formatGoFloatE(value) };
  }

  value(schema: TSchema, value: unknown, path: string): Result {
    switch (schema[Kind]) {
      case "Any":
      case "Unknown":
        return ok(value);
      case "Integer":
        return this.integer(schema, value, path);
      case "Number":
        return this.number(schema, value, path);
      case "String":
        return this.string(schema, value, path);
      case "Boolean":
        return this.boolean(value, path);
      case "Literal":
        return this.literal([schema.const as Literal], schema, value, path);
      case "Union": {
        const members = schema.anyOf as TSchema[];
        if (members.every((m) => m[Kind] === "Literal")) {
          return this.literal(
            members.map((m) => m.const as Literal),
            schema,
            value,
            path,
          );
        }
        return this.union(members, value, path);
      }
      case "Array":
        return this.array(schema, value, path);
      case "Record":
        return this.record(schema, value, path);
      case "Object":
        return this.object(schema, value, path);
      default:
        throw new Error(`decode: unsupported schema kind ${String(schema[Kind])} at ${path || "(root)"}`);
    }
  }

  private integer(schema: TSchema, value: unknown, path: string): Result {
    let n: number;
    if (typeof value === "number") {
      const go = this.goNumber(value, path);
      // go-yaml and mihomo's decoder both truncate a float stored into an int.
      n = go.kind === "float" ? Math.trunc(value) : value;
      if (!Number.isFinite(n)) return this.fail(path, `expected an integer, got ${this.got(value, path)}`);
      if (!Number.isSafeInteger(n)) return this.fail(path, `integer ${go.text} is out of range`, undefined, "decode.range");
    } else if (typeof value === "string" && this.mode === "weak") {
      const big = parseGoInt(value);
      if (big === undefined) return this.fail(path, `expected an integer, got ${this.got(value, path)}`);
      n = Number(big);
      if (!Number.isSafeInteger(n)) return this.fail(path, `integer ${value} is out of range`, undefined, "decode.range");
    } else if (typeof value === "string" && parseGoInt(value) !== undefined) {
      return this.fail(path, `expected an integer, got string ${JSON.stringify(value)}`, "remove the quotes");
    } else {
      return this.fail(path, `expected an integer, got ${this.got(value, path)}`);
    }
    return this.bounds(schema, n, "an integer", path);
  }

  private number(schema: TSchema, value: unknown, path: string): Result {
    let n: number | undefined;
    if (typeof value === "number") n = value;
    else if (typeof value === "string" && this.mode === "weak") n = parseGoFloat(value);
    if (n === undefined) {
      const quoted = typeof value === "string" && parseGoFloat(value) !== undefined;
      return quoted
        ? this.fail(path, `expected a number, got string ${JSON.stringify(value)}`, "remove the quotes")
        : this.fail(path, `expected a number, got ${this.got(value, path)}`);
    }
    return this.bounds(schema, n, "a number", path);
  }

  private bounds(schema: TSchema, n: number, what: string, path: string): Result {
    const min = schema.minimum as number | undefined;
    const max = schema.maximum as number | undefined;
    if ((min === undefined || n >= min) && (max === undefined || n <= max)) return ok(n);
    const range =
      min !== undefined && max !== undefined ? `between ${min} and ${max}` : min !== undefined ? `>= ${min}` : `<= ${max}`;
    return this.fail(path, `expected ${what} ${range}, got ${n}`, undefined, "decode.range");
  }

  /** A scalar as the text a Go string field receives, or undefined if this mode refuses it. */
  private text(value: unknown, path: string): string | undefined {
    if (typeof value === "string") return value;
    const source = this.positions.get(path)?.source;
    if (this.mode === "strict") {
      // go-yaml hands a string field the scalar's text exactly as written (`secret: 0123` stays "0123").
      if (typeof value === "number" || typeof value === "boolean") return source ?? String(value);
      return undefined;
    }
    if (typeof value !== "number") return undefined;
    const go = this.goNumber(value, path);
    if (go.source !== undefined && go.source !== go.text) {
      this.report(
        "warning",
        "decode.number-as-string",
        path,
        `unquoted ${go.source} is read as a number and becomes "${go.text}"`,
        `write "${go.source}" in quotes to keep it as written`,
      );
    }
    return go.text;
  }

  private string(schema: TSchema, value: unknown, path: string): Result {
    const s = this.text(value, path);
    if (s === undefined) return this.fail(path, `expected a string, got ${this.got(value, path)}`);
    const pattern = schema.pattern as string | undefined;
    if (pattern !== undefined && !compiled(pattern).test(s)) {
      return this.fail(path, `${JSON.stringify(s)} does not match the pattern ${pattern}`, undefined, "decode.pattern");
    }
    return ok(s);
  }

  private boolean(value: unknown, path: string): Result {
    if (typeof value === "boolean") return ok(value);
    if (this.mode === "strict" && typeof value === "string") {
      // go-yaml checks the resolved text only, so a quoted "yes" is accepted as well (a quoted "true" is not).
      const b = YAML11_BOOLS[value];
      if (b !== undefined) return ok(b);
    }
    if (this.mode === "weak" && typeof value === "number" && this.goNumber(value, path).kind === "int") {
      return ok(value !== 0);
    }
    if (typeof value === "string") {
      return this.fail(path, `expected a boolean, got string ${JSON.stringify(value)}`, "write true or false without quotes");
    }
    return this.fail(path, `expected a boolean, got ${this.got(value, path)}`);
  }

  /** An enum. Values are compared after the conversion the field's type would get. */
  private literal(literals: Literal[], schema: TSchema, value: unknown, path: string): Result {
    const list = literals.map(String).join(", ");
    let candidate: unknown = value;
    if (literals.every((l) => typeof l === "string")) {
      const s = this.text(value, path);
      if (s !== undefined) {
        candidate = s;
        if (schema.caseInsensitive === true) {
          const lower = s.toLowerCase();
          const match = literals.find((l) => String(l).toLowerCase() === lower);
          if (match !== undefined) return ok(match);
        }
      }
    } else if (literals.every((l) => typeof l === "number")) {
      const scratch: ConfigIssue[] = [];
      const r = this.withIssues(scratch).number(schema, value, path);
      if (r.ok) candidate = r.value;
    }
    if (literals.includes(candidate as Literal)) return ok(candidate);
    const hint = typeof candidate === "string" ? suggest(candidate, literals.map(String)) : undefined;
    return this.fail(
      path,
      `expected one of ${list}, got ${this.got(value, path)}`,
      hint === undefined ? undefined : `did you mean "${hint}"?`,
      "decode.enum",
    );
  }

  /** First member that decodes without errors wins (its warnings are kept). */
  private union(members: TSchema[], value: unknown, path: string): Result {
    const failures: ConfigIssue[][] = [];
    for (const member of members) {
      const scratch: ConfigIssue[] = [];
      const r = this.withIssues(scratch).value(member, value, path);
      if (r.ok && !hasErrors(scratch)) {
        this.issues.push(...scratch);
        return r;
      }
      failures.push(scratch);
    }
    // A member whose errors all lie inside the value had the right shape: its errors say more
    // than "expected X or Y" does.
    const inner = failures
      .filter((f) => f.every((i) => i.severity === "warning" || i.path !== path))
      .sort((a, b) => a.length - b.length)[0];
    if (inner) {
      this.issues.push(...inner);
      return FAIL;
    }
    return this.fail(path, `expected ${members.map(describe).join(" or ")}, got ${this.got(value, path)}`);
  }

  private array(schema: TSchema, value: unknown, path: string): Result {
    if (!Array.isArray(value)) return this.fail(path, `expected a list, got ${kindOf(value)}`);
    const out: unknown[] = [];
    let good = true;
    value.forEach((element, i) => {
      // Both of mihomo's decoders drop null elements.
      if (element === null || element === undefined) return;
      const r = this.value(schema.items as TSchema, element, indexPath(path, i));
      if (r.ok) out.push(r.value);
      else good = false;
    });
    return good ? ok(out) : FAIL;
  }

  private record(schema: TSchema, value: unknown, path: string): Result {
    if (!isMap(value)) return this.fail(path, `expected a map, got ${kindOf(value)}`);
    const valueSchema = Object.values(schema.patternProperties as Record<string, TSchema>)[0];
    if (!valueSchema) throw new Error(`decode: record schema without a value schema at ${path || "(root)"}`);
    const out: Record<string, unknown> = {};
    let good = true;
    for (const [key, v] of Object.entries(value)) {
      const p = keyPath(path, key);
      if ((v === null || v === undefined) && this.mode === "weak") {
        this.report("error", "decode.null", p, "value is null; a map entry needs a value");
        good = false;
        continue;
      }
      const r = this.value(valueSchema, v, p);
      if (r.ok) define(out, key, r.value);
      else good = false;
    }
    return good ? ok(out) : FAIL;
  }

  private object(schema: TSchema, value: unknown, path: string): Result {
    if (!isMap(value)) return this.fail(path, `expected a map, got ${kindOf(value)}`);
    const properties = (schema.properties ?? {}) as Record<string, TSchema>;
    const required = new Set((schema.required ?? []) as string[]);
    const keys = Object.keys(value);
    const used = new Set<string>();
    const out: Record<string, unknown> = {};
    let good = true;

    for (const [name, property] of Object.entries(properties)) {
      const key = this.findKey(value, keys, name);
      if (key !== undefined) used.add(key);
      const raw = key === undefined ? undefined : value[key];
      if (key === undefined || raw === null || raw === undefined) {
        // null counts as absent in both decoders.
        if (property.default !== undefined) out[name] = structuredClone(property.default);
        else if (required.has(name)) {
          this.report("error", "decode.missing", keyPath(path, name), "missing required key", undefined, path);
          good = false;
        }
        continue;
      }
      const r = this.value(property, raw, keyPath(path, key));
      if (r.ok) out[name] = r.value;
      else good = false;
    }

    const extra = schema.additionalProperties as boolean | TSchema | undefined;
    for (const key of keys) {
      if (used.has(key)) continue;
      const p = keyPath(path, key);
      if (extra === true) define(out, key, value[key]);
      else if (typeof extra === "object") {
        const r = this.value(extra, value[key], p);
        if (r.ok) define(out, key, r.value);
        else good = false;
      } else {
        const near = suggest(key, Object.keys(properties));
        this.report("warning", "config.unknown-key", p, `unknown key "${key}"`, near && `did you mean "${near}"?`);
      }
    }
    return good ? ok(out) : FAIL;
  }

  /** Data key for a schema property: exact; in weak mode then case-insensitive (and `_` = `-`). */
  private findKey(value: Record<string, unknown>, keys: string[], name: string): string | undefined {
    if (Object.hasOwn(value, name)) return name;
    if (this.mode === "strict") return undefined;
    const fold = (s: string): string => (this.underscoreAsDash ? s.toLowerCase().replaceAll("_", "-") : s.toLowerCase());
    const wanted = fold(name);
    return keys.find((k) => fold(k) === wanted);
  }
}

/** Set an own property, also for a literal "__proto__" key. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Decode `value` (a parsed YAML subtree at `options.path`) against `schema`, appending issues.
 * Returns undefined when an error was reported for this value. An absent (null) value decodes like
 * an empty map or list for those schemas, so defaults apply.
 */
export function decode<S extends TSchema>(schema: S, value: unknown, options: DecodeOptions): Static<S> | undefined {
  const decoder = new Decoder(options.mode, options.underscoreAsDash ?? false, options.positions, options.issues);
  let input = value;
  if (input === null || input === undefined) {
    if (schema.default !== undefined) return structuredClone(schema.default) as Static<S>;
    const kind = schema[Kind];
    if (kind === "Object" || kind === "Record") input = {};
    else if (kind === "Array") input = [];
  }
  const r = decoder.value(schema, input, options.path);
  return r.ok ? (r.value as Static<S>) : undefined;
}

/** A schema as plain JSON Schema (TypeBox's symbols dropped), for `ferry schema` and editors. */
export function toJsonSchema(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}
