/**
 * Share links and link subscriptions → mihomo proxy maps (config.md §7.18), and back for the four
 * core types. A map is what a `proxies:` entry would hold; the weak decoder and the type's schema
 * validate it like any entry of a config file.
 *
 * Follows mihomo's converter (`common/convert`), with deliberate differences: no random
 * `User-Agent` headers and no forced `client-fingerprint: chrome` (only REALITY needs one, and gets
 * it); ws `host` is kept for trojan; `httpupgrade` becomes `network: ws` with
 * `v2ray-http-upgrade`; the whole userinfo is the password (Go cuts it at a `:`); an unknown ss
 * plugin or transport is an error instead of a node that silently speaks the plain protocol; an
 * empty name becomes `type server:port`; defaults (`tls: false`, `network: tcp`) are left out.
 */
import { UserError } from "../sdk/types.ts";

export type ProxyMap = Record<string, unknown>;

export interface Subscription {
  proxies: ProxyMap[];
  /** One line per skipped link, naming it by line number, name and scheme (never its secrets). */
  warnings: string[];
}

/** Convert one share link into a proxy map. Throws a UserError saying what is wrong with it. */
export function parseShareLink(uri: string): ProxyMap {
  const link = uri.trim();
  const sep = link.indexOf("://");
  if (sep <= 0) throw new UserError("not a share link (no scheme://)");
  const scheme = link.slice(0, sep).toLowerCase();
  const parser = PARSERS[scheme];
  if (!parser) throw new UserError(`unsupported share link scheme "${scheme}"`);
  return parser(link.slice(sep + 3));
}

/**
 * A subscription body: base64 (standard or URL-safe, padded or not, line breaks allowed) or plain
 * text, one link per line. Bad links are skipped with a warning; duplicate names get `-01`, `-02`…
 * as mihomo does. Throws when no line gives a proxy.
 */
export function parseSubscription(text: string): Subscription {
  const compact = text.replace(/\s+/g, "");
  const body = /^[A-Za-z0-9+/_-]+=*$/.test(compact) ? (base64Text(compact) ?? text) : text;
  const proxies: ProxyMap[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, number>();
  body.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("//")) return;
    let proxy: ProxyMap;
    try {
      proxy = parseShareLink(line);
    } catch (err) {
      warnings.push(`line ${i + 1} ${describeLink(line)}: ${err instanceof Error ? err.message : String(err)}; skipped`);
      return;
    }
    const name = String(proxy.name);
    const count = seen.get(name);
    seen.set(name, count === undefined ? 0 : count + 1);
    if (count !== undefined) proxy.name = `${name}-${String(count + 1).padStart(2, "0")}`;
    proxies.push(proxy);
  });
  if (proxies.length === 0) {
    throw new UserError(`no usable share link in the subscription${warnings.length > 0 ? `:\n  ${warnings.join("\n  ")}` : ""}`);
  }
  return { proxies, warnings };
}

/** The share link of an ss, vmess, vless or trojan proxy map (what `parseShareLink` reads back). */
export function toShareLink(proxy: ProxyMap): string {
  const type = str(proxy.type).toLowerCase();
  switch (type) {
    case "ss":
      return ssLink(proxy);
    case "vmess":
      return vmessLink(proxy);
    case "vless":
    case "trojan":
      return urlLink(type, proxy);
    default:
      throw new UserError(`share links are written for ss, vmess, vless and trojan, not "${type}"`);
  }
}

// ------------------------------------------------------------------------------------ link syntax

interface Link {
  /** userinfo, percent-decoded; undefined without an `@`. */
  user: string | undefined;
  host: string;
  /** Port text as written ("" when absent). */
  port: string;
  query: URLSearchParams;
  name: string;
}

/** What comes before `?` and `#`, the query, and the decoded fragment. */
function splitBody(body: string): { head: string; query: URLSearchParams; name: string } {
  let rest = body;
  let name = "";
  const hash = rest.indexOf("#");
  if (hash >= 0) {
    name = percentDecode(rest.slice(hash + 1)).trim();
    rest = rest.slice(0, hash);
  }
  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  return { head: rest, query: new URLSearchParams(query), name };
}

/**
 * `[userinfo@]host[:port][/path]`. The last `@` ends the userinfo, so passwords holding an
 * unescaped `@` or `/` (common in real links) still parse.
 */
function authority(head: string): { user: string | undefined; host: string; port: string } {
  const at = head.lastIndexOf("@");
  const user = at >= 0 ? percentDecode(head.slice(0, at)) : undefined;
  let hostPort = at >= 0 ? head.slice(at + 1) : head;
  const slash = hostPort.indexOf("/");
  if (slash >= 0) hostPort = hostPort.slice(0, slash);
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close < 0) throw new UserError(`unclosed "[" in "${hostPort}"`);
    const after = hostPort.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw new UserError(`unexpected "${after}" after the IPv6 address`);
    return { user, host: hostPort.slice(1, close), port: after.slice(1) };
  }
  const colon = hostPort.lastIndexOf(":");
  if (colon >= 0 && hostPort.indexOf(":") !== colon) throw new UserError(`IPv6 address "${hostPort}" must be in brackets`);
  return colon < 0 ? { user, host: hostPort, port: "" } : { user, host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
}

function splitLink(body: string): Link {
  const { head, query, name } = splitBody(body);
  return { ...authority(head), query, name };
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function port(text: string, fallback?: number): number {
  if (text === "" && fallback !== undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new UserError(text === "" ? "port missing" : `invalid port "${text}"`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new UserError(`port ${n} out of range 1-65535`);
  return n;
}

function requireHost(host: string): string {
  if (host === "") throw new UserError("server missing");
  return host;
}

/** `host:port`, bracketing IPv6 literals. */
function hostPort(host: string, p: unknown): string {
  return `${host.includes(":") ? `[${host}]` : host}:${str(p)}`;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Standard or URL-safe base64, padded or not, as UTF-8 text; undefined when it is not that. */
function base64Text(s: string): string | undefined {
  const b = s.replace(/\s+/g, "").replaceAll("-", "+").replaceAll("_", "/").replace(/=+$/, "");
  if (b === "" || !/^[A-Za-z0-9+/]+$/.test(b) || b.length % 4 === 1) return undefined;
  try {
    return decoder.decode(Buffer.from(b, "base64"));
  } catch {
    return undefined;
  }
}

/** Base64url without padding (SIP002 userinfo, SSR fields). */
function base64Url(text: string): string {
  return Buffer.from(text, "utf8").toString("base64url");
}

/** Go's strconv.ParseBool truths, which mihomo applies to `insecure`/`allowInsecure`. */
function truthy(v: string | null): boolean {
  return v !== null && ["1", "t", "T", "true", "TRUE", "True"].includes(v);
}

function str(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" || typeof v === "bigint" ? String(v) : "";
}

function record(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A list option as a comma-joined string (alpn), or "". */
function joined(v: unknown): string {
  return Array.isArray(v) ? v.map(str).join(",") : str(v);
}

function split(v: string): string[] {
  return v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Copy only the keys whose values are set (not undefined, not ""). */
function defined(entries: Record<string, unknown>): ProxyMap {
  const out: ProxyMap = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined && v !== "") out[k] = v;
  return out;
}

function nameOr(name: string, type: string, host: string, p: number | string): string {
  return name || `${type} ${hostPort(host, p)}`;
}

/** "“🇯🇵 Tokyo” (trojan://)" — a link named without its credentials, for warnings. */
function describeLink(line: string): string {
  const sep = line.indexOf("://");
  const scheme = sep > 0 ? line.slice(0, sep).toLowerCase() : "";
  const hash = line.indexOf("#");
  const name = hash >= 0 ? percentDecode(line.slice(hash + 1)).trim() : "";
  const what = scheme ? `(${scheme}://)` : "(not a share link)";
  return name ? `"${name}" ${what}` : what;
}

// ------------------------------------------------------------------------------------ transports

/**
 * A ws path with `?ed=N` (and `eh=`) turned into early-data options, as mihomo's converter does;
 * the rest of the query stays in the path.
 */
function wsOpts(pathText: string, host: string, upgrade: boolean, ed: string | null, eh: string | null): ProxyMap {
  let path = pathText || "/";
  let early = ed;
  let header = eh;
  const q = path.indexOf("?");
  if (q >= 0) {
    const params = new URLSearchParams(path.slice(q + 1));
    early ??= params.get("ed");
    header ??= params.get("eh");
    params.delete("ed");
    params.delete("eh");
    const rest = params.toString();
    path = path.slice(0, q) + (rest ? `?${rest}` : "");
  }
  const opts: ProxyMap = { path };
  if (host) opts.headers = { Host: host };
  if (early !== null && /^\d+$/.test(early)) {
    if (upgrade) opts["v2ray-http-upgrade-fast-open"] = true;
    else {
      opts["max-early-data"] = Number(early);
      opts["early-data-header-name"] = "Sec-WebSocket-Protocol";
    }
  }
  if (header && !upgrade) opts["early-data-header-name"] = header;
  if (upgrade) opts["v2ray-http-upgrade"] = true;
  return opts;
}

interface Transport {
  /** Share-link name: tcp, ws, httpupgrade, grpc, h2 (`http` in Xray links), or tcp+http header. */
  type: string;
  headerType?: string;
  host: string;
  path: string;
  method?: string;
  serviceName: string;
  ed?: string;
  eh?: string;
}

/**
 * Set `network` and its `*-opts` on a proxy map from a link's transport fields. Plain TCP leaves
 * both out; a transport mihomo does not have (kcp, quic, xhttp…) is an error.
 */
function applyTransport(proxy: ProxyMap, t: Transport, ed: string | null = null, eh: string | null = null): void {
  const type = t.type.toLowerCase();
  const headerType = (t.headerType ?? "").toLowerCase();
  if ((type === "" || type === "tcp") && headerType === "http") {
    proxy.network = "http";
    const headers = t.host ? { Host: [t.host] } : undefined;
    proxy["http-opts"] = defined({ method: t.method, path: [t.path || "/"], headers });
    return;
  }
  switch (type) {
    case "":
    case "tcp":
    case "none":
      return;
    case "ws":
    case "httpupgrade":
      proxy.network = "ws";
      proxy["ws-opts"] = wsOpts(t.path, t.host, type === "httpupgrade", ed, eh);
      return;
    case "grpc":
      proxy.network = "grpc";
      proxy["grpc-opts"] = defined({ "grpc-service-name": t.serviceName });
      return;
    case "h2":
    case "http":
      proxy.network = "h2";
      proxy["h2-opts"] = defined({ path: t.path || "/", host: t.host ? [t.host] : undefined });
      return;
    default:
      throw new UserError(`transport "${t.type}" is not supported`);
  }
}

/** The transport fields of a proxy map, for writing a link. */
function transportOf(proxy: ProxyMap): Transport {
  const network = str(proxy.network).toLowerCase();
  switch (network) {
    case "ws": {
      const ws = record(proxy["ws-opts"]);
      const headers = record(ws.headers);
      const hostKey = Object.keys(headers).find((k) => k.toLowerCase() === "host");
      const upgrade = ws["v2ray-http-upgrade"] === true;
      const t: Transport = { type: upgrade ? "httpupgrade" : "ws", host: hostKey ? str(headers[hostKey]) : "", path: str(ws.path) || "/", serviceName: "" };
      if (upgrade && ws["v2ray-http-upgrade-fast-open"] === true) t.ed = "2048";
      const early = Number(ws["max-early-data"] ?? 0);
      if (!upgrade && early > 0) {
        t.ed = String(early);
        const header = str(ws["early-data-header-name"]);
        if (header && header !== "Sec-WebSocket-Protocol") t.eh = header;
      }
      return t;
    }
    case "grpc":
      return { type: "grpc", host: "", path: "", serviceName: str(record(proxy["grpc-opts"])["grpc-service-name"]) };
    case "h2": {
      const h2 = record(proxy["h2-opts"]);
      const hosts = Array.isArray(h2.host) ? h2.host.map(str) : [];
      return { type: "http", host: hosts[0] ?? "", path: str(h2.path), serviceName: "" };
    }
    case "http": {
      const http = record(proxy["http-opts"]);
      const paths = Array.isArray(http.path) ? http.path.map(str) : [];
      const headers = record(http.headers);
      const hostKey = Object.keys(headers).find((k) => k.toLowerCase() === "host");
      const hosts = hostKey && Array.isArray(headers[hostKey]) ? (headers[hostKey] as unknown[]).map(str) : [];
      return { type: "tcp", headerType: "http", host: hosts[0] ?? "", path: paths[0] ?? "", method: str(http.method) || undefined, serviceName: "" };
    }
    case "":
    case "tcp":
      return { type: "tcp", host: "", path: "", serviceName: "" };
    default:
      throw new UserError(`network "${network}" has no share-link form`);
  }
}

// ------------------------------------------------------------------------------------ parsers

const PARSERS: Record<string, (body: string) => ProxyMap> = {
  ss: parseSs,
  ssr: parseSsr,
  vmess: parseVmess,
  vless: (body) => parseXrayLink("vless", body),
  trojan: parseTrojan,
  hysteria: parseHysteria,
  hysteria2: parseHysteria2,
  hy2: parseHysteria2,
  tuic: parseTuic,
};

/** ss:// — SIP002 (`base64(method:password)@host:port` or percent-encoded plain userinfo) or legacy `base64(method:password@host:port)`. */
function parseSs(body: string): ProxyMap {
  const { head, query, name } = splitBody(body);
  let user: string | undefined;
  let host: string;
  let portText: string;
  if (head.includes("@")) {
    ({ user, host, port: portText } = authority(head));
  } else {
    const decoded = base64Text(head.replace(/\/$/, ""));
    if (decoded === undefined || !decoded.includes("@")) throw new UserError("neither SIP002 nor a base64 legacy ss link");
    const at = decoded.lastIndexOf("@");
    ({ host, port: portText } = authority(decoded.slice(at + 1)));
    user = decoded.slice(0, at);
  }
  let creds = user ?? "";
  if (!creds.includes(":")) {
    const decoded = base64Text(creds);
    if (decoded === undefined) throw new UserError("userinfo is neither method:password nor its base64");
    creds = decoded;
  }
  const colon = creds.indexOf(":");
  if (colon <= 0) throw new UserError("userinfo has no method:password");
  const p = port(portText);
  requireHost(host);
  const proxy: ProxyMap = {
    name: nameOr(name, "ss", host, p),
    type: "ss",
    server: host,
    port: p,
    cipher: creds.slice(0, colon),
    password: creds.slice(colon + 1),
    udp: true,
  };
  if (query.get("uot") === "1" || query.get("udp-over-tcp") === "true") proxy["udp-over-tcp"] = true;
  const plugin = query.get("plugin");
  if (plugin) Object.assign(proxy, ssPlugin(plugin));
  return proxy;
}

/** SIP003 plugin text `name;key=value;flag` → mihomo's `plugin` + `plugin-opts`. */
function ssPlugin(text: string): ProxyMap {
  const [pluginName = "", ...items] = text.split(";");
  const opts = new Map<string, string>();
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq < 0) opts.set(item.trim(), "");
    else opts.set(item.slice(0, eq).trim(), item.slice(eq + 1));
  }
  if (pluginName.includes("obfs")) {
    return { plugin: "obfs", "plugin-opts": defined({ mode: opts.get("obfs"), host: opts.get("obfs-host") }) };
  }
  if (pluginName.includes("v2ray-plugin")) {
    const pluginOpts = defined({ mode: opts.get("mode") || "websocket", host: opts.get("host"), path: opts.get("path") });
    if (opts.has("tls")) pluginOpts.tls = true;
    return { plugin: "v2ray-plugin", "plugin-opts": pluginOpts };
  }
  throw new UserError(`ss plugin "${pluginName}" is not supported (obfs-local/simple-obfs and v2ray-plugin are)`);
}

/** ssr:// — base64url of `host:port:protocol:method:obfs:base64url(password)/?obfsparam=…&protoparam=…&remarks=…`. */
function parseSsr(body: string): ProxyMap {
  const decoded = base64Text(body.split("#")[0] ?? "");
  if (decoded === undefined) throw new UserError("ssr link body is not base64");
  const cut = decoded.indexOf("/?");
  const main = cut >= 0 ? decoded.slice(0, cut) : decoded.replace(/\/$/, "");
  const query = new URLSearchParams(cut >= 0 ? decoded.slice(cut + 2) : "");
  // Split from the right: the host may be an IPv6 address full of colons.
  const fields = main.split(":");
  if (fields.length < 6) throw new UserError("ssr link needs host:port:protocol:method:obfs:password");
  const [portText, protocol, cipher, obfs, pass] = fields.slice(-5) as [string, string, string, string, string];
  const host = fields.slice(0, -5).join(":").replace(/^\[|\]$/g, "");
  const p = port(portText);
  requireHost(host);
  const field = (k: string) => base64Text(query.get(k) ?? "") ?? "";
  const password = base64Text(pass);
  if (password === undefined) throw new UserError("ssr password is not base64");
  return defined({
    name: nameOr(field("remarks"), "ssr", host, p),
    type: "ssr",
    server: host,
    port: p,
    cipher,
    password,
    obfs,
    protocol,
    "obfs-param": field("obfsparam"),
    "protocol-param": field("protoparam"),
    udp: true,
  });
}

/** vmess:// — v2rayN's base64 JSON, or the Xray URL form. */
function parseVmess(body: string): ProxyMap {
  const text = base64Text(body.split("#")[0] ?? "");
  if (text === undefined) {
    const proxy = parseXrayLink("vmess", body);
    const query = splitBody(body).query;
    return { ...proxy, alterId: 0, cipher: query.get("encryption") || "auto" };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError("vmess link body is not JSON");
  }
  const v = record(json);
  const host = requireHost(str(v.add).trim());
  const p = port(str(v.port).trim());
  const uuid = str(v.id).trim();
  if (!uuid) throw new UserError("vmess link without id");
  const aid = str(v.aid).trim();
  if (aid !== "" && !/^\d+$/.test(aid)) throw new UserError(`invalid aid "${aid}"`);
  const proxy: ProxyMap = {
    name: nameOr(str(v.ps).trim(), "vmess", host, p),
    type: "vmess",
    server: host,
    port: p,
    uuid,
    alterId: aid === "" ? 0 : Number(aid),
    cipher: str(v.scy) || "auto",
    udp: true,
    xudp: true,
  };
  if (str(v.tls).toLowerCase().endsWith("tls")) proxy.tls = true;
  Object.assign(proxy, defined({ servername: str(v.sni), "client-fingerprint": str(v.fp) }));
  const alpn = split(str(v.alpn));
  if (alpn.length > 0) proxy.alpn = alpn;
  const net = str(v.net).toLowerCase();
  const path = str(v.path);
  applyTransport(proxy, { type: net, headerType: str(v.type), host: str(v.host), path, serviceName: path });
  return proxy;
}

/** Xray's share-link standard (XTLS/Xray-core discussion 716), shared by vless and URL-form vmess. */
function parseXrayLink(type: "vless" | "vmess", body: string): ProxyMap {
  const link = splitLink(body);
  const q = link.query;
  const host = requireHost(link.host);
  const p = port(link.port);
  if (!link.user) throw new UserError(`${type} link without a uuid`);
  const proxy: ProxyMap = { name: nameOr(link.name, type, host, p), type, server: host, port: p, uuid: link.user, udp: true };
  applySecurity(proxy, q, "servername");
  if (type === "vless") {
    const flow = q.get("flow");
    if (flow) proxy.flow = flow.toLowerCase();
  }
  const encoding = q.get("packetEncoding");
  if (encoding === "packet") proxy["packet-addr"] = true;
  else if (encoding !== "none") proxy.xudp = true;
  applyTransport(proxy, transportFromQuery(q), q.get("ed"), q.get("eh"));
  return proxy;
}

function transportFromQuery(q: URLSearchParams): Transport {
  return {
    type: q.get("type") ?? "",
    headerType: q.get("headerType") ?? "",
    host: q.get("host") ?? "",
    path: q.get("path") ?? "",
    method: q.get("method") || undefined,
    serviceName: q.get("serviceName") ?? "",
  };
}

/**
 * TLS/REALITY query keys (security, sni, fp, alpn, allowInsecure, pbk, sid). REALITY cannot work
 * without a uTLS fingerprint, so it gets mihomo's default `chrome` when the link names none.
 */
function applySecurity(proxy: ProxyMap, q: URLSearchParams, sniKey: "sni" | "servername", alwaysTls = false): void {
  const security = (q.get("security") ?? "").toLowerCase();
  const pbk = q.get("pbk") ?? "";
  const tls = alwaysTls || security.endsWith("tls") || security === "reality";
  if (tls && !alwaysTls) proxy.tls = true;
  const sni = q.get("sni") ?? q.get("peer") ?? "";
  if (sni) proxy[sniKey] = sni;
  if (tls) {
    const alpn = split(q.get("alpn") ?? "");
    if (alpn.length > 0) proxy.alpn = alpn;
    if (truthy(q.get("allowInsecure")) || truthy(q.get("insecure"))) proxy["skip-cert-verify"] = true;
  }
  const fp = q.get("fp") || (pbk ? "chrome" : "");
  if (fp && (tls || pbk)) proxy["client-fingerprint"] = fp;
  if (pbk) proxy["reality-opts"] = defined({ "public-key": pbk, "short-id": q.get("sid") ?? "" });
}

/** trojan:// — `password@host:port?sni=…&type=ws&path=…#name`; TLS is implied. */
function parseTrojan(body: string): ProxyMap {
  const link = splitLink(body);
  const q = link.query;
  const host = requireHost(link.host);
  const p = port(link.port);
  if (!link.user) throw new UserError("trojan link without a password");
  const proxy: ProxyMap = { name: nameOr(link.name, "trojan", host, p), type: "trojan", server: host, port: p, password: link.user, udp: true };
  applySecurity(proxy, q, "sni", true);
  applyTransport(proxy, transportFromQuery(q), q.get("ed"), q.get("eh"));
  return proxy;
}

/** hysteria2:// or hy2:// — `auth@host[:port|:ports]/?obfs=salamander&obfs-password=…&sni=…` (port 443 by default). */
function parseHysteria2(body: string): ProxyMap {
  const link = splitLink(body);
  const q = link.query;
  const host = requireHost(link.host);
  const hopping = /[,-]/.test(link.port);
  const p = hopping ? link.port : port(link.port, 443);
  return defined({
    name: nameOr(link.name, "hysteria2", host, p),
    type: "hysteria2",
    server: host,
    port: hopping ? undefined : p,
    ports: hopping ? link.port : undefined,
    password: link.user,
    obfs: q.get("obfs") ?? "",
    "obfs-password": q.get("obfs-password") ?? "",
    sni: q.get("sni") ?? "",
    "skip-cert-verify": truthy(q.get("insecure")) || undefined,
    alpn: q.get("alpn") ? split(q.get("alpn") ?? "") : undefined,
    fingerprint: q.get("pinSHA256") ?? "",
    up: q.get("up") ?? "",
    down: q.get("down") ?? "",
  });
}

/** hysteria:// (v1) — `host:port?protocol=…&auth=…&peer=…&upmbps=…&downmbps=…`. */
function parseHysteria(body: string): ProxyMap {
  const link = splitLink(body);
  const q = link.query;
  const host = requireHost(link.host);
  const p = port(link.port);
  return defined({
    name: nameOr(link.name, "hysteria", host, p),
    type: "hysteria",
    server: host,
    port: p,
    protocol: q.get("protocol") ?? "",
    "auth-str": q.get("auth") ?? "",
    sni: q.get("peer") ?? "",
    obfs: q.get("obfs") ?? "",
    alpn: q.get("alpn") ? split(q.get("alpn") ?? "") : undefined,
    up: q.get("up") || q.get("upmbps") || "",
    down: q.get("down") || q.get("downmbps") || "",
    "skip-cert-verify": truthy(q.get("insecure")) || undefined,
  });
}

/** tuic:// — `uuid:password@host:port` (v5) or `token@host:port` (v4), with dae's query keys. */
function parseTuic(body: string): ProxyMap {
  const link = splitLink(body);
  const q = link.query;
  const host = requireHost(link.host);
  const p = port(link.port);
  if (!link.user) throw new UserError("tuic link without uuid:password or token");
  const colon = link.user.indexOf(":");
  const creds = colon >= 0 ? { uuid: link.user.slice(0, colon), password: link.user.slice(colon + 1) } : { token: link.user };
  return defined({
    name: nameOr(link.name, "tuic", host, p),
    type: "tuic",
    server: host,
    port: p,
    ...creds,
    udp: true,
    "congestion-controller": q.get("congestion_control") ?? "",
    alpn: q.get("alpn") ? split(q.get("alpn") ?? "") : undefined,
    sni: q.get("sni") ?? "",
    "disable-sni": q.get("disable_sni") === "1" || undefined,
    "udp-relay-mode": q.get("udp_relay_mode") ?? "",
  });
}

// ------------------------------------------------------------------------------------ writers

function ssLink(proxy: ProxyMap): string {
  const cipher = str(proxy.cipher);
  const password = str(proxy.password);
  // SIP002: AEAD-2022 keys go percent-encoded in plain text, the older ciphers as base64url.
  const user = cipher.startsWith("2022-")
    ? `${encodeURIComponent(cipher)}:${encodeURIComponent(password)}`
    : base64Url(`${cipher}:${password}`);
  const query = new URLSearchParams();
  const plugin = str(proxy.plugin);
  const opts = record(proxy["plugin-opts"]);
  if (plugin === "obfs") {
    query.set("plugin", ["obfs-local", `obfs=${str(opts.mode)}`, ...(opts.host ? [`obfs-host=${str(opts.host)}`] : [])].join(";"));
  } else if (plugin === "v2ray-plugin") {
    const items = ["v2ray-plugin", `mode=${str(opts.mode) || "websocket"}`];
    if (opts.host) items.push(`host=${str(opts.host)}`);
    if (opts.path) items.push(`path=${str(opts.path)}`);
    if (opts.tls === true) items.push("tls");
    query.set("plugin", items.join(";"));
  } else if (plugin) {
    throw new UserError(`ss plugin "${plugin}" has no share-link form`);
  }
  if (proxy["udp-over-tcp"] === true) query.set("uot", "1");
  const q = query.toString();
  return `ss://${user}@${hostPort(str(proxy.server), proxy.port)}${q ? `/?${q}` : ""}#${encodeURIComponent(str(proxy.name))}`;
}

function vmessLink(proxy: ProxyMap): string {
  const t = transportOf(proxy);
  let path = t.type === "grpc" ? t.serviceName : t.path;
  if (t.ed) path += `${path.includes("?") ? "&" : "?"}ed=${t.ed}${t.eh ? `&eh=${encodeURIComponent(t.eh)}` : ""}`;
  const json = {
    v: "2",
    ps: str(proxy.name),
    add: str(proxy.server),
    port: str(proxy.port),
    id: str(proxy.uuid),
    aid: str(proxy.alterId ?? 0),
    scy: str(proxy.cipher) || "auto",
    net: t.type === "http" ? "h2" : t.type,
    type: t.headerType || "none",
    host: t.host,
    path,
    tls: proxy.tls === true ? "tls" : "",
    sni: str(proxy.servername),
    alpn: joined(proxy.alpn),
    fp: str(proxy["client-fingerprint"]),
  };
  return `vmess://${Buffer.from(JSON.stringify(json), "utf8").toString("base64")}`;
}

/** vless:// and trojan:// in Xray's URL form. */
function urlLink(type: "vless" | "trojan", proxy: ProxyMap): string {
  const q = new URLSearchParams();
  const reality = record(proxy["reality-opts"]);
  const pbk = str(reality["public-key"]);
  if (type === "vless") q.set("encryption", "none");
  const tls = type === "trojan" || proxy.tls === true;
  q.set("security", pbk ? "reality" : tls ? "tls" : "none");
  const sni = str(type === "trojan" ? proxy.sni : proxy.servername);
  if (sni) q.set("sni", sni);
  const fp = str(proxy["client-fingerprint"]);
  if (fp) q.set("fp", fp);
  const alpn = joined(proxy.alpn);
  if (alpn) q.set("alpn", alpn);
  if (proxy["skip-cert-verify"] === true) q.set("allowInsecure", "1");
  if (pbk) {
    q.set("pbk", pbk);
    if (reality["short-id"]) q.set("sid", str(reality["short-id"]));
  }
  if (type === "vless") {
    if (proxy.flow) q.set("flow", str(proxy.flow));
    if (proxy["packet-addr"] === true) q.set("packetEncoding", "packet");
    else if (proxy.xudp !== true) q.set("packetEncoding", "none");
  }
  const t = transportOf(proxy);
  q.set("type", t.type);
  if (t.headerType) q.set("headerType", t.headerType);
  if (t.method) q.set("method", t.method);
  if (t.host) q.set("host", t.host);
  if (t.path) q.set("path", t.path);
  if (t.serviceName) q.set("serviceName", t.serviceName);
  if (t.ed) q.set("ed", t.ed);
  if (t.eh) q.set("eh", t.eh);
  const secret = str(type === "trojan" ? proxy.password : proxy.uuid);
  return `${type}://${encodeURIComponent(secret)}@${hostPort(str(proxy.server), proxy.port)}?${q.toString()}#${encodeURIComponent(str(proxy.name))}`;
}
