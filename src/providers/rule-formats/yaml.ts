import { UserError } from "../../sdk/types.ts";

/** A line that opens the list: `payload:` or `rules:`, nothing after it but a comment. */
const HEADER = /^(payload|rules)\s*:\s*(#.*)?$/;

/**
 * `format: yaml` as mihomo reads it (config.md §10): not as one YAML document but line by line,
 * from the first line that opens a `payload:` (or `rules:`) list, taking every later `- item` line
 * that holds one string and skipping the others. So comments and stray keys are fine, while a body
 * whose last line, without a newline, comes before any such header (a one-line file, `payload: [a,
 * b]`) has no payload. Each item line is read by hand, not by a YAML parser: 200,000 parses of a
 * one-line document would cost seconds.
 */
export function yamlEntries(text: string): string[] {
  const lines = text.split("\n");
  const out: string[] = [];
  let open = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (i === lines.length - 1 && raw !== "" && !open) throw new UserError("file must have a `payload` field");
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!open) {
      open = HEADER.test(line);
      continue;
    }
    const value = itemValue(line);
    if (value) out.push(value);
  }
  return out;
}

/** The string of a `- item` line (plain, 'single' or "double" quoted); undefined for anything else. */
function itemValue(line: string): string | undefined {
  if (line[0] !== "-" || (line.length > 1 && line[1] !== " " && line[1] !== "\t")) return undefined;
  const v = line.slice(1).trim();
  if (v === "") return undefined;
  if (v[0] === "'") return singleQuoted(v);
  if (v[0] === '"') return doubleQuoted(v);
  // Flow collections, anchors, aliases, tags and block scalars are not one plain string.
  if ("[{&*!|>%@`".includes(v[0]!)) return undefined;
  const comment = v.search(/\s#/);
  const plain = comment < 0 ? v : v.slice(0, comment).trimEnd();
  // `key: value` is a map, which a list of strings cannot hold.
  if (plain.includes(": ") || plain.endsWith(":")) return undefined;
  return plain;
}

function singleQuoted(v: string): string | undefined {
  let out = "";
  for (let i = 1; i < v.length; i++) {
    if (v[i] !== "'") {
      out += v[i];
    } else if (v[i + 1] === "'") {
      out += "'";
      i++;
    } else {
      return restIsBlank(v, i + 1) ? out : undefined;
    }
  }
  return undefined;
}

function doubleQuoted(v: string): string | undefined {
  for (let i = 1; i < v.length; i++) {
    if (v[i] === "\\") i++;
    else if (v[i] === '"') {
      if (!restIsBlank(v, i + 1)) return undefined;
      try {
        return JSON.parse(v.slice(0, i + 1)) as string;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Nothing after a closing quote but spaces and a comment. */
function restIsBlank(v: string, from: number): boolean {
  const rest = v.slice(from).trim();
  return rest === "" || rest.startsWith("#");
}
