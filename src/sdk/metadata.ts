/** Inbound kinds as mihomo names them on the wire (`/connections` metadata.type, `IN-TYPE`). */
export type InboundKind =
  | "HTTP"
  | "HTTPS"
  | "Socks4"
  | "Socks5"
  | "ShadowSocks"
  | "Vmess"
  | "Vless"
  | "Trojan"
  | "Redir"
  | "TProxy"
  | "Tunnel"
  | "Tun"
  | "Inner"
  | (string & {});

export type DnsMode = "normal" | "fake-ip" | "redir-host" | "hosts";

/**
 * What the tunnel knows about one connection. Field names follow mihomo's `/connections` metadata so
 * the tracker can serve them unchanged. Hosts are lower-case without a trailing dot (normalised at
 * ingress); IPs are canonical text, IPv4-mapped IPv6 unmapped.
 */
export interface Metadata {
  network: "tcp" | "udp";
  type: InboundKind;
  sourceIP: string;
  sourcePort: number;
  /** Destination IP, "" while unknown (a name not resolved yet). */
  destinationIP: string;
  destinationPort: number;
  /** Requested domain, "" for IP-only requests. */
  host: string;
  inboundIP: string;
  inboundPort: number;
  inboundName: string;
  inboundUser: string;
  dnsMode: DnsMode;
  /** Proxy forced by the inbound (`listeners[].proxy`, `tunnels[].proxy`). */
  specialProxy: string;
  /** Sub-rule list forced by the inbound (`listeners[].rule`). */
  specialRules: string;
  sniffHost: string;
  uid: number;
  process: string;
  processPath: string;
  dscp: number;
}

export function createMetadata(init: Partial<Metadata> & Pick<Metadata, "network" | "type">): Metadata {
  return {
    sourceIP: "",
    sourcePort: 0,
    destinationIP: "",
    destinationPort: 0,
    host: "",
    inboundIP: "",
    inboundPort: 0,
    inboundName: "",
    inboundUser: "",
    dnsMode: "normal",
    specialProxy: "",
    specialRules: "",
    sniffHost: "",
    uid: 0,
    process: "",
    processPath: "",
    dscp: 0,
    ...init,
  };
}

/** `host:port` of the destination, bracketing IPv6 literals. */
export function destinationOf(m: Metadata): string {
  const h = m.host || m.destinationIP;
  return h.includes(":") ? `[${h}]:${m.destinationPort}` : `${h}:${m.destinationPort}`;
}
