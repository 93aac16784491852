import { isIP } from "node:net";
import { UserError } from "../sdk/types.ts";

/**
 * One nameserver entry as written in `dns` (config.md §5.2): `8.8.8.8`, `tls://1.1.1.1`,
 * `https://dns.google/dns-query#PROXY&ecs=1.2.3.0/24`, `system`, `rcode://refused`.
 */
export interface NameserverSpec {
  /** As written, for messages and logs. */
  text: string;
  /** Lower-case URL scheme; the resolver plugin registered under it serves the entry. */
  scheme: string;
  /** The URL with the scheme's default port filled in; the fragment removed. */
  url: URL;
  host: string;
  port: number;
  /** `#NAME`: the proxy or group the queries go through; `RULES` = routed by rules; "" = direct. */
  proxy: string;
  /** `#…&key=value` parameters. */
  params: Record<string, string>;
}

const DEFAULT_PORTS: Record<string, number> = { udp: 53, tcp: 53, tls: 853, https: 443, http: 80, quic: 853 };

/** Parse a nameserver entry; throws a UserError saying what is wrong with it. */
export function parseNameserver(text: string): NameserverSpec {
  const raw = text.trim();
  if (!raw) throw new UserError("empty nameserver");
  let withScheme: string;
  if (raw === "system") withScheme = "system://";
  else if (raw.includes("://")) withScheme = raw;
  else if (isIP(raw) === 6) withScheme = `udp://[${raw}]`;
  else withScheme = `udp://${raw}`;
  const hash = withScheme.indexOf("#");
  const fragment = hash >= 0 ? withScheme.slice(hash + 1) : "";
  const base = hash >= 0 ? withScheme.slice(0, hash) : withScheme;
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UserError(`"${text}": not a valid nameserver URL`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  let proxy = "";
  const params: Record<string, string> = {};
  if (fragment) {
    for (const part of fragment.split("&")) {
      if (!part) continue;
      const eq = part.split("=");
      if (eq.length === 1) proxy = decodeURIComponent(eq[0]!);
      else if (eq.length === 2) params[eq[0]!] = decodeURIComponent(eq[1]!);
      else throw new UserError(`"${text}": bad parameter "${part}" after #`);
    }
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const defaultPort = DEFAULT_PORTS[scheme];
  const port = url.port ? Number(url.port) : (defaultPort ?? 0);
  if (defaultPort !== undefined && !host) throw new UserError(`"${text}": missing host`);
  return { text: raw, scheme, url, host, port, proxy, params };
}
