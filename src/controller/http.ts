/**
 * Response and request conventions shared by every route (controller-api.md §2): JSON bodies end
 * with a newline and carry `application/json` without a charset, errors are `{"message"}`, bodies
 * are parsed as JSON whatever their Content-Type, names in paths are decoded after routing.
 */

export function json(body: unknown, status = 200): Response {
  return new Response(`${JSON.stringify(body)}\n`, { status, headers: { "content-type": "application/json" } });
}

/** A JSON text already serialised (large snapshots are built as strings). */
export function jsonText(text: string, status = 200): Response {
  return new Response(text, { status, headers: { "content-type": "application/json" } });
}

export function noContent(): Response {
  return new Response(null, { status: 204 });
}

export function fail(status: number, message: string): Response {
  return json({ message }, status);
}

/** mihomo hub/route/errors.go: the fixed messages dashboards show. */
export const ERR = {
  unauthorized: () => fail(401, "Unauthorized"),
  bodyInvalid: () => fail(400, "Body invalid"),
  notFound: () => fail(404, "Resource not found"),
  timeout: () => fail(504, "Timeout"),
};

/** Go's router default for paths nothing serves. */
export function pageNotFound(): Response {
  return new Response("404 page not found\n", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/**
 * The body as JSON, or undefined when it is empty or not JSON. Like Go's decoder only the first
 * value is read, so trailing bytes after it are ignored.
 */
export async function readJson(request: Request): Promise<{ ok: true; value: unknown } | { ok: false }> {
  const text = await request.text();
  const first = firstJsonValue(text);
  if (first === undefined) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(first) };
  } catch {
    return { ok: false };
  }
}

/** The text of the first JSON value in `text` (objects and arrays by bracket matching), or undefined. */
function firstJsonValue(text: string): string | undefined {
  let i = 0;
  while (i < text.length && /\s/.test(text[i]!)) i++;
  if (i === text.length) return undefined;
  const open = text[i];
  if (open !== "{" && open !== "[") {
    if (open === '"') return text.slice(i, stringEnd(text, i));
    const m = /^[^\s{}[\],"]+/.exec(text.slice(i));
    return m?.[0];
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === '"') j = stringEnd(text, j) - 1;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return text.slice(i, j + 1);
    }
  }
  return text.slice(i);
}

/** Index just past the string literal starting at `start` (a quote). */
function stringEnd(text: string, start: number): number {
  for (let j = start + 1; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === '"') return j + 1;
  }
  return text.length;
}

/**
 * Path segment `index` (0 = the first after the leading slash) of the raw, still percent-encoded
 * path, decoded. A name containing `/` arrives as `%2F` and stays one segment; text that does not
 * decode (a stray `%`) is kept as sent, as mihomo does.
 */
export function segment(request: Request, index: number, decode = true): string {
  const raw = rawPath(request).split("/")[index + 1] ?? "";
  if (!decode) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The path exactly as sent, without decoding (the URL parser keeps percent-escapes). */
export function rawPath(request: Request): string {
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.indexOf("?", start);
  return end < 0 ? url.slice(start) : url.slice(start, end);
}

export function query(request: Request): URLSearchParams {
  const url = request.url;
  const q = url.indexOf("?");
  return new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
}

/** Go's strconv.ParseInt(s, 10, bits): decimal with an optional sign, within the signed range. */
export function parseGoInt(text: string | null, bits: 16 | 32 | 64): number | undefined {
  if (text === null || !/^[+-]?\d+$/.test(text)) return undefined;
  const n = Number(text);
  const max = 2 ** (bits - 1);
  return n >= -max && n < max ? n : undefined;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
