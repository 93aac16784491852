/**
 * DNS servers as peers: dnsmasq 2.90 (Debian `dnsmasq-base`) for plain UDP and TCP, unbound 1.17
 * (Debian `unbound`, built with libnghttp2) for DNS over TLS and DNS over HTTPS (HTTP/2 only).
 * Entries of PEERS in ../peers.ts.
 *
 * Both serve the same fixed zone, LAB_RECORDS, from their own configuration and answer NXDOMAIN for
 * every other name: neither has an upstream or recursion, so nothing leaves the machine.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCerts } from "../lib/certs.ts";
import { HOST } from "../lib/launch.ts";
import type { InfoValue, PeerDef } from "../peers.ts";

const peer = <K extends string, I extends Record<string, InfoValue>>(d: PeerDef<K, I>) => d;

const isRoot = process.getuid?.() === 0;

/** big.lab.test's A records: 40 of them (127.0.1.1-40) make a 670-byte answer, truncated over plain 512-byte UDP. */
export const BIG_A = Array.from({ length: 40 }, (_, i) => `127.0.1.${i + 1}`);
/** big.lab.test's TXT strings: ~540 bytes together, truncated over plain 512-byte UDP too. */
export const BIG_TXT = ["a", "b", "c", "d"].map((c) => c.repeat(130));

/**
 * The zone both peers serve. alias.lab.test is a chain: alias.lab.test → alias2.lab.test →
 * example.test.
 */
export const LAB_RECORDS = {
  a: {
    "example.test": ["127.0.0.1"],
    "a.lab.test": ["127.0.0.2"],
    "multi.lab.test": ["127.0.0.3", "127.0.0.4"],
    "mail.lab.test": ["127.0.0.5"],
    "big.lab.test": BIG_A,
  } as Record<string, string[]>,
  aaaa: { "example.test": ["::1"] } as Record<string, string[]>,
  cname: { "alias.lab.test": "alias2.lab.test", "alias2.lab.test": "example.test" } as Record<string, string>,
  mx: { "lab.test": { preference: 10, exchange: "mail.lab.test" } } as Record<string, { preference: number; exchange: string }>,
  txt: { "txt.lab.test": ["peerlab"], "big.lab.test": BIG_TXT } as Record<string, string[]>,
};

/** TTL of every record (dnsmasq `local-ttl`, unbound local-data). */
export const LAB_TTL = 60;

export const dnsPeers = {
  /**
   * dnsmasq on 127.0.0.1, UDP and TCP on one port, serving LAB_RECORDS. log_queries=1 logs every
   * query to the peer's log. A query without EDNS for big.lab.test gets a truncated (TC) answer.
   */
  dnsmasq: peer({
    programs: ["dnsmasq"],
    params: { port: "", log_queries: "0" },
    configure(c) {
      const port = c.port("port");
      const hosts = [
        ...Object.entries(LAB_RECORDS.a).flatMap(([name, ips]) => ips.map((ip) => `${ip} ${name}`)),
        ...Object.entries(LAB_RECORDS.aaaa).flatMap(([name, ips]) => ips.map((ip) => `${ip} ${name}`)),
      ];
      writeFileSync(join(c.dir, "lab.hosts"), `${hosts.join("\n")}\n`);
      const conf = [
        `port=${port}`,
        `listen-address=${HOST}`,
        "bind-interfaces",
        "no-resolv",
        "no-hosts",
        "no-poll",
        "no-negcache",
        `local-ttl=${LAB_TTL}`,
        `pid-file=${join(c.dir, "dnsmasq.pid")}`,
        "log-facility=-",
        `addn-hosts=${join(c.dir, "lab.hosts")}`,
        ...Object.entries(LAB_RECORDS.cname).map(([name, target]) => `cname=${name},${target}`),
        ...Object.entries(LAB_RECORDS.mx).map(([name, mx]) => `mx-host=${name},${mx.exchange},${mx.preference}`),
        ...Object.entries(LAB_RECORDS.txt).flatMap(([name, texts]) => texts.map((t) => `txt-record=${name},"${t}"`)),
        // Everything else: NXDOMAIN (there is no upstream to ask).
        "address=/#/",
      ];
      if (c.bool("log_queries")) conf.push("log-queries");
      if (isRoot) conf.push("user=root");
      writeFileSync(join(c.dir, "dnsmasq.conf"), `${conf.join("\n")}\n`);
      return {
        cmd: [c.bin("dnsmasq"), "-k", "-C", join(c.dir, "dnsmasq.conf")],
        tcp: [port],
        udp: [port],
        info: { addr: `${HOST}:${port}` },
      };
    },
  }),

  /**
   * unbound serving LAB_RECORDS over DNS over TLS on tls_port and DNS over HTTPS (HTTP/2 only,
   * path /dns-query) on https_port, with a certificate for `sni` from a throwaway CA (info.ca to
   * trust, info.certSha256 to pin). No recursion: every other name is NXDOMAIN. Runs as the
   * current user, in the foreground, without chroot or a control socket.
   */
  unbound: peer({
    programs: ["unbound", "openssl"],
    params: { tls_port: "", https_port: "", sni: "example.test", log_queries: "0" },
    configure(c) {
      const tlsPort = c.port("tls_port");
      const httpsPort = c.port("https_port");
      const certs = makeCerts(join(c.dir, "certs"), c.word("sni"), c.bin("openssl"));
      const data = (name: string, type: string, value: string) => `  local-data: '${name}. ${LAB_TTL} IN ${type} ${value}'`;
      const records = [
        ...Object.entries(LAB_RECORDS.a).flatMap(([name, ips]) => ips.map((ip) => data(name, "A", ip))),
        ...Object.entries(LAB_RECORDS.aaaa).flatMap(([name, ips]) => ips.map((ip) => data(name, "AAAA", ip))),
        ...Object.entries(LAB_RECORDS.cname).map(([name, target]) => data(name, "CNAME", `${target}.`)),
        ...Object.entries(LAB_RECORDS.mx).map(([name, mx]) => data(name, "MX", `${mx.preference} ${mx.exchange}.`)),
        ...Object.entries(LAB_RECORDS.txt).flatMap(([name, texts]) => texts.map((t) => data(name, "TXT", `"${t}"`))),
      ];
      const conf = `server:
  username: ""
  chroot: ""
  directory: "${c.dir}"
  pidfile: ""
  do-daemonize: no
  use-syslog: no
  logfile: ""
  verbosity: 1
  log-queries: ${c.bool("log_queries") ? "yes" : "no"}
  do-ip6: no
  port: ${tlsPort}
  interface: ${HOST}@${tlsPort}
  interface: ${HOST}@${httpsPort}
  tls-port: ${tlsPort}
  https-port: ${httpsPort}
  http-endpoint: "/dns-query"
  tls-service-key: "${certs.key}"
  tls-service-pem: "${certs.fullchain}"
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "." static
${records.join("\n")}
remote-control:
  control-enable: no
`;
      writeFileSync(join(c.dir, "unbound.conf"), conf);
      return {
        cmd: [c.bin("unbound"), "-d", "-c", join(c.dir, "unbound.conf")],
        tcp: [tlsPort, httpsPort],
        info: { tlsPort, httpsPort, dohPath: "/dns-query", ca: certs.ca, sni: certs.cn, certSha256: certs.sha256 },
      };
    },
  }),
};
