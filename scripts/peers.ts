/**
 * ferry's peer harness: real, independent protocol implementations from Debian packages, started
 * on loopback for the interop tests and the bench. A test that passes against them proves
 * interoperability, not agreement with ourselves.
 *
 * Module (tests, bench):
 *   import { startPeer, stopAll, ensurePackages } from "../../scripts/peers.ts";
 *   const origin = await startPeer("origin", { big: "16M" });  // origin.port, origin.info.url
 *   await origin.stop();                                        // or stopAll() in afterAll
 *
 * CLI:
 *   bun scripts/peers.ts install [name ...]     install the packages of all (or the named) peers
 *                                               and tools; root only, a no-op when present
 *   bun scripts/peers.ts start <name> [k=v ...] start a peer, print KEY=VALUE lines once it
 *                                               listens, run until SIGINT/SIGTERM, then stop it
 *   bun scripts/peers.ts names                  list peers with their parameters
 *   bun scripts/peers.ts free-port [n]          print n free ports for a test's own listeners
 *
 * Safety: every peer listens on 127.0.0.1 (origin and dante also on ::1 when present); microsocks
 * connects out from 127.0.0.1 only, dante passes only 127.0.0.0/8 and ::1 destinations, and as
 * root every peer runs with a loopback-only /etc/resolv.conf (see lib/launch.ts). Ask peers for
 * IP targets only. Environment: FERRY_PEER_TIMEOUT (seconds to wait for a port, default 15),
 * FERRY_PEERS_KEEP=1 (keep temp dirs), FERRY_PEERS_CACHE (payload cache dir).
 *
 * Adding a peer (ss-server, v2ray, trojan, dnsmasq, unbound ...) = one entry in PEERS plus its
 * programs in PROGRAMS; a family of peers can live in its own file under peers/ (v2ray.ts) and
 * be spread into PEERS.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCerts } from "./lib/certs.ts";
import { freePort, freePorts, HOST, LaunchError, launch, type Running, stopAll } from "./lib/launch.ts";
import { GiB, KiB, MiB, PAYLOAD_SHA256, parseSize, payloadBytes, payloadFile } from "./lib/payload.ts";
import { dnsPeers } from "./peers/dns.ts";
import { ssPeers } from "./peers/ss.ts";
import { trojanPeers } from "./peers/trojan.ts";
import { v2rayPeers } from "./peers/v2ray.ts";

export { freePort, freePorts, HOST, stopAll };
export { GiB, KiB, MiB, PAYLOAD_SHA256, parseSize, payloadBytes, payloadFile };

/** The Debian package that provides each program the harness runs (fixed names, never input). */
const PROGRAMS = {
  nginx: "nginx",
  openssl: "openssl",
  socat: "socat",
  microsocks: "microsocks",
  danted: "dante-server",
  tinyproxy: "tinyproxy-bin",
  curl: "curl",
  wrk: "wrk",
  hyperfine: "hyperfine",
  iperf3: "iperf3",
  v2ray: "v2ray",
  trojan: "trojan",
  "ss-server": "shadowsocks-libev",
  "ss-local": "shadowsocks-libev",
  "obfs-server": "simple-obfs",
  "ss-v2ray-plugin": "shadowsocks-v2ray-plugin",
  dnsmasq: "dnsmasq-base",
  unbound: "unbound",
  dig: "dnsutils",
} as const;
export type Program = keyof typeof PROGRAMS;

const isRoot = process.getuid?.() === 0;
const SEARCH_PATH = `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;

/** Absolute path of a program, also looking in the sbin dirs a non-root PATH lacks. */
export function programPath(p: Program): string | undefined {
  return Bun.which(p, { PATH: SEARCH_PATH }) ?? undefined;
}

// ----------------------------------------------------------------------------- peer table

export type InfoValue = string | number | undefined;

export interface Ctx<K extends string> {
  dir: string;
  get(key: K): string;
  int(key: K): number;
  bool(key: K): boolean;
  /** The port given as key=N, or a free one. */
  port(key: K): number;
  /** A value written into a config file: no whitespace, quotes or control characters. */
  word(key: K): string;
  bin(p: Program): string;
}

interface Spec<I> {
  cmd: string[];
  tcp?: number[];
  udp?: number[];
  info: I;
}

export interface PeerDef<K extends string, I extends Record<string, InfoValue>> {
  programs: readonly Program[];
  /** Parameter names with their defaults; anything else is rejected (typo guard). */
  params: Record<K, string>;
  configure(c: Ctx<K>): Spec<I>;
}

const peer = <K extends string, I extends Record<string, InfoValue>>(d: PeerDef<K, I>) => d;

const hasIPv6Loopback = () => {
  try {
    return readFileSync("/proc/net/if_inet6", "latin1").includes("00000000000000000000000000000001");
  } catch {
    return false;
  }
};
const wantV6 = (c: { get(k: "v6"): string; bool(k: "v6"): boolean }) => (c.get("v6") === "auto" ? hasIPv6Loopback() : c.bool("v6"));

let stubStatus: boolean | undefined;
/** Debian's nginx has the stub_status module; checked so a leaner build still starts. */
function nginxHasStubStatus(nginx: string): boolean {
  stubStatus ??= Bun.spawnSync([nginx, "-V"], { stdout: "pipe", stderr: "pipe" }).stderr.toString().includes("http_stub_status_module");
  return stubStatus;
}

const PEERS = {
  /**
   * nginx origin: /hello.txt, /1k.bin /64k.bin /1m.bin /16m.bin, /big.bin (`big` bytes, default
   * 1 GiB; big=0 for none) = payload bytes (lib/payload.ts); /slow/<file> at 256 KiB/s; /echo
   * (request as the origin saw it); /sink (accepts any upload); /status (nginx stub_status: the
   * "accepts" counter counts connections). Listens on 127.0.0.1-5 (the addresses a test DNS
   * server hands out) and ::1, one port. sendfile on, access log off, one worker by default.
   * tls=1 adds the same site over HTTPS on tls_port (certificate for `sni`, from a throwaway CA:
   * info.ca to trust, info.certSha256 to pin).
   */
  origin: peer({
    programs: ["nginx", "openssl"],
    params: { port: "", big: "1G", workers: "1", v6: "auto", access_log: "0", tls: "0", tls_port: "", sni: "example.test" },
    configure(c) {
      const port = c.port("port");
      const big = parseSize(c.get("big"));
      const root = join(c.dir, "www");
      mkdirSync(join(c.dir, "tmp"), { recursive: true });
      mkdirSync(root);
      // Workers must reach the files when they run as another user.
      chmodSync(c.dir, 0o755);
      chmodSync(root, 0o755);
      writeFileSync(join(root, "hello.txt"), "hello from the ferry peer origin\n");
      const files: Record<string, number> = { "1k.bin": KiB, "64k.bin": 64 * KiB, "1m.bin": MiB, "16m.bin": 16 * MiB };
      if (big > 0) files["big.bin"] = big;
      for (const [name, size] of Object.entries(files)) symlinkSync(payloadFile(size), join(root, name));
      const addrs = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
      if (wantV6(c)) addrs.push("[::1]");
      const nginx = c.bin("nginx");
      // tls=1: the same site over HTTPS on tls_port, with a throwaway CA (lib/certs.ts).
      const tlsPort = c.bool("tls") ? c.port("tls_port") : 0;
      const certs = tlsPort ? makeCerts(join(c.dir, "certs"), c.word("sni"), c.bin("openssl")) : undefined;
      const tlsListen = certs
        ? `${addrs.map((a) => `listen ${a}:${tlsPort} ssl;`).join(" ")} ssl_certificate ${certs.fullchain}; ssl_certificate_key ${certs.key};`
        : "";
      const status = nginxHasStubStatus(nginx);
      const d = c.dir;
      writeFileSync(
        join(d, "nginx.conf"),
        `${isRoot ? "user root;\n" : ""}worker_processes ${c.int("workers")};
daemon off;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 4096; }
http {
  types { text/plain txt; application/octet-stream bin; }
  default_type application/octet-stream;
  ${c.bool("access_log") ? `access_log ${d}/access.log;` : "access_log off;"}
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path ${d}/tmp/body;
  proxy_temp_path ${d}/tmp/proxy;
  fastcgi_temp_path ${d}/tmp/fastcgi;
  uwsgi_temp_path ${d}/tmp/uwsgi;
  scgi_temp_path ${d}/tmp/scgi;
  server {
    ${addrs.map((a) => `listen ${a}:${port};`).join(" ")}
    ${tlsListen}
    server_name _;
    root ${root};
    location = /echo {
      default_type text/plain;
      return 200 "method=$request_method\\nuri=$request_uri\\nhost=$http_host\\nserver_addr=$server_addr\\nremote_addr=$remote_addr\\nuser_agent=$http_user_agent\\nproxy_connection=$http_proxy_connection\\nconnection=$http_connection\\nvia=$http_via\\n";
    }
    location = /sink {
      client_max_body_size 0;
      default_type text/plain;
      return 200 "ok\\n";
    }
    location /slow/ {
      alias ${root}/;
      limit_rate 262144;
    }
    ${status ? "location = /status { stub_status; }" : ""}
  }
}
`,
      );
      const url = `http://${HOST}:${port}/`;
      return {
        cmd: [nginx, "-p", d, "-e", `${d}/error.log`, "-c", `${d}/nginx.conf`],
        tcp: tlsPort ? [port, tlsPort] : [port],
        info: {
          url,
          bigUrl: big > 0 ? `${url}big.bin` : undefined,
          bigSize: big,
          root,
          statusUrl: status ? `${url}status` : undefined,
          tlsPort: tlsPort || undefined,
          ca: certs?.ca,
          sni: certs?.cn,
          certSha256: certs?.sha256,
        },
      };
    },
  }),

  /** TCP echo (socat, a process per connection: for interop, not for thousands of connections). */
  echo: peer({
    programs: ["socat"],
    params: { port: "" },
    configure(c) {
      const port = c.port("port");
      return { cmd: [c.bin("socat"), "-T", "60", `TCP4-LISTEN:${port},bind=${HOST},reuseaddr,fork`, "PIPE"], tcp: [port], info: { addr: `${HOST}:${port}` } };
    },
  }),

  /** UDP echo (socat): answers each sender; a sender's mapping ends after 10 s idle. */
  "echo-udp": peer({
    programs: ["socat"],
    params: { port: "" },
    configure(c) {
      const port = c.port("port");
      return { cmd: [c.bin("socat"), "-T", "10", `UDP4-LISTEN:${port},bind=${HOST},reuseaddr,fork`, "PIPE"], udp: [port], info: { addr: `${HOST}:${port}` } };
    },
  }),

  /**
   * microsocks SOCKS5 (CONNECT only, no UDP); outgoing connections bound to 127.0.0.1, so it
   * cannot reach other hosts. bind=none lifts that for connection-rate runs: binding before
   * connect cannot reuse TIME_WAIT ports, and microsocks then runs out of them after ~28k
   * connections in a minute.
   */
  microsocks: peer({
    programs: ["microsocks"],
    params: { port: "", user: "", pass: "", bind: HOST },
    configure(c) {
      const port = c.port("port");
      const cmd = [c.bin("microsocks"), "-i", HOST, "-p", String(port)];
      const bind = c.get("bind");
      if (bind !== "none") {
        if (!/^127\.\d+\.\d+\.\d+$/.test(bind)) throw new Error("microsocks: bind must be a 127.x.y.z address or none");
        cmd.push("-b", bind);
      }
      const user = c.word("user");
      const pass = user ? c.word("pass") || "peer-pass" : "";
      if (user) cmd.push("-u", user, "-P", pass);
      return { cmd, tcp: [port], info: { socks: `${HOST}:${port}`, user: user || undefined, pass: pass || undefined } };
    },
  }),

  /**
   * dante SOCKS5 (CONNECT, UDP ASSOCIATE, BIND) on 127.0.0.1 (and ::1): `external: lo`, and only
   * 127.0.0.0/8 and ::1 destinations pass. A forking server: measure it as a process tree.
   */
  dante: peer({
    programs: ["danted"],
    params: { port: "", v6: "auto" },
    configure(c) {
      const port = c.port("port");
      const lines = ["logoutput: stderr", `internal: ${HOST} port = ${port}`];
      if (wantV6(c)) lines.push(`internal: ::1 port = ${port}`);
      // No user.unprivileged: switching to another uid would clear the parent-death signal
      // (lib/launch.ts) and a crashed test run would leave dante behind. As root it warns once.
      lines.push("external: lo", "socksmethod: none", "clientmethod: none");
      lines.push("client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }", "client pass { from: ::1/128 to: ::/0 log: error }");
      for (const src of ["0.0.0.0/0", "::/0"]) {
        for (const dst of ["127.0.0.0/8", "::1/128"]) {
          lines.push(`socks pass {\n  from: ${src} to: ${dst}\n  command: bind connect udpassociate bindreply udpreply\n  log: error\n}`);
        }
      }
      lines.push("socks block { from: 0.0.0.0/0 to: 0.0.0.0/0 log: connect error }", "socks block { from: ::/0 to: ::/0 log: connect error }");
      writeFileSync(join(c.dir, "danted.conf"), `${lines.join("\n")}\n`);
      return { cmd: [c.bin("danted"), "-f", join(c.dir, "danted.conf"), "-p", join(c.dir, "danted.pid")], tcp: [port], info: { socks: `${HOST}:${port}` } };
    },
  }),

  /**
   * tinyproxy HTTP proxy: absolute-URI requests and CONNECT to any port, optional Basic auth
   * (407 without). It closes every client connection after one response. It resolves targets
   * itself: give it IPs.
   */
  tinyproxy: peer({
    programs: ["tinyproxy"],
    params: { port: "", user: "", pass: "" },
    configure(c) {
      const port = c.port("port");
      const user = c.word("user");
      const pass = user ? c.word("pass") || "peer-pass" : "";
      const conf = [
        `Port ${port}`,
        `Listen ${HOST}`,
        "Timeout 600",
        "MaxClients 1024",
        "LogLevel Warning",
        `PidFile "${join(c.dir, "tinyproxy.pid")}"`,
        "Allow 127.0.0.1",
        "Allow ::1",
        "DisableViaHeader Yes",
      ];
      if (isRoot) conf.push("User root", "Group root");
      if (user) conf.push(`BasicAuth ${user} ${pass}`);
      writeFileSync(join(c.dir, "tinyproxy.conf"), `${conf.join("\n")}\n`);
      return {
        cmd: [c.bin("tinyproxy"), "-d", "-c", join(c.dir, "tinyproxy.conf")],
        tcp: [port],
        info: { httpProxy: `http://${HOST}:${port}`, user: user || undefined, pass: pass || undefined },
      };
    },
  }),

  /**
   * TLS in front of a plain TCP peer (socat OPENSSL-LISTEN, a process per connection): an HTTPS
   * proxy over tinyproxy, SOCKS5 over TLS over microsocks. Certificate for `sni` from a throwaway
   * CA (info.ca to trust, info.certSha256 to pin). `upstream` is the plain peer's port on 127.0.0.1.
   */
  "tls-front": peer({
    programs: ["socat", "openssl"],
    params: { port: "", upstream: "", sni: "example.test" },
    configure(c) {
      const port = c.port("port");
      const upstream = c.int("upstream");
      const certs = makeCerts(join(c.dir, "certs"), c.word("sni"), c.bin("openssl"));
      const listen = `OPENSSL-LISTEN:${port},bind=${HOST},reuseaddr,fork,cert=${certs.fullchain},key=${certs.key},verify=0`;
      return {
        cmd: [c.bin("socat"), "-T", "60", listen, `TCP4:${HOST}:${upstream}`],
        tcp: [port],
        info: { addr: `${HOST}:${port}`, ca: certs.ca, sni: certs.cn, certSha256: certs.sha256 },
      };
    },
  }),

  ...trojanPeers,
  ...v2rayPeers,
  ...ssPeers,
  ...dnsPeers,
};

export type PeerName = keyof typeof PEERS;
type DefOf<N extends PeerName> = (typeof PEERS)[N];
export type PeerParams<N extends PeerName> = Partial<Record<keyof DefOf<N>["params"], string | number | boolean>>;
export type PeerInfo<N extends PeerName> = ReturnType<DefOf<N>["configure"]>["info"];
export const PEER_NAMES = Object.keys(PEERS) as PeerName[];

export interface Peer<N extends PeerName = PeerName> extends Running {
  name: N;
  /** Peer-specific values: URLs, the proxy address, credentials. */
  info: PeerInfo<N>;
}

export const isPeerName = (s: string): s is PeerName => Object.hasOwn(PEERS, s);

/** Programs (as binaries) a peer or tool name needs. */
function programsOf(name: string): readonly Program[] {
  if (isPeerName(name)) return PEERS[name].programs;
  if (Object.hasOwn(PROGRAMS, name)) return [name as Program];
  throw new Error(`unknown peer or program '${name}' (known: ${[...PEER_NAMES, ...Object.keys(PROGRAMS)].join(", ")})`);
}

/** Whether every program the named peers and tools need is installed (no install attempt). */
export function havePrograms(names: readonly string[]): boolean {
  return names.flatMap(programsOf).every((p) => programPath(p) !== undefined);
}

/**
 * Start a peer: write its config into a new temp dir, spawn it, and resolve once every port it
 * serves listens (bounded by FERRY_PEER_TIMEOUT); on failure it is killed and the error carries
 * the tail of its log. Ports are picked free unless given (`port=N`); a lost bind race is retried
 * with new ports, up to 3 times.
 */
export async function startPeer<N extends PeerName>(name: N, params: PeerParams<N> = {}): Promise<Peer<N>> {
  if (!isPeerName(name)) throw new Error(`unknown peer '${name}' (known: ${PEER_NAMES.join(", ")})`);
  const def = PEERS[name] as unknown as PeerDef<string, PeerInfo<N>>;
  const given = new Map(Object.entries(params as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
  for (const k of given.keys()) {
    if (!Object.hasOwn(def.params, k)) throw new Error(`unknown parameter '${k}' for ${name} (known: ${Object.keys(def.params).join(", ")})`);
  }
  for (const p of def.programs) {
    if (!programPath(p)) throw new Error(`${name} needs '${p}' (Debian package ${PROGRAMS[p]}): run 'bun scripts/peers.ts install' as root`);
  }
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), `ferry-peer.${name}.`));
    let explicitPort = false;
    const get = (k: string) => given.get(k) ?? def.params[k] ?? "";
    const int = (k: string) => {
      const v = get(k);
      if (!/^\d+$/.test(v)) throw new Error(`${name}: ${k} must be a number, got '${v}'`);
      return Number(v);
    };
    const ctx: Ctx<string> = {
      dir,
      get,
      int,
      bool: (k) => ["1", "true", "yes", "on"].includes(get(k)),
      port: (k) => {
        if (!get(k)) return freePort();
        explicitPort = true;
        return int(k);
      },
      word: (k) => {
        const v = get(k);
        if (!/^[\w.@+-]*$/.test(v)) throw new Error(`${name}: ${k} may hold only letters, digits and . @ + - _`);
        return v;
      },
      bin: (p) => programPath(p) ?? p,
    };
    let spec: Spec<PeerInfo<N>>;
    try {
      spec = def.configure(ctx);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    try {
      const r = await launch({ name, cmd: spec.cmd, dir, removeDir: true, tcp: spec.tcp, udp: spec.udp });
      return { ...r, name, info: spec.info };
    } catch (e) {
      if (!(e instanceof LaunchError && e.addressInUse && !explicitPort && attempt < 3)) throw e;
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

// ----------------------------------------------------------------------------- packages

const ALL_NAMES = Object.keys(PROGRAMS);
let aptUpdated = false;
let queue: Promise<unknown> = Promise.resolve();

/**
 * Make sure the programs the named peers/tools need are installed. When something is missing and
 * this process is root: `apt-get update` (once) and `apt-get install` of the fixed packages from
 * PROGRAMS, with the packages' own services kept from starting. Not root: false, so the caller can
 * skip (tests outside CI) or fail. Calls are serialised within the process.
 */
export function ensurePackages(names: readonly string[] = ALL_NAMES): Promise<boolean> {
  const run = queue.then(() => ensureNow(names));
  queue = run.catch(() => undefined);
  return run;
}

async function ensureNow(names: readonly string[]): Promise<boolean> {
  const missing = [...new Set(names.flatMap(programsOf))].filter((p) => !programPath(p));
  if (missing.length === 0) return true;
  if (!isRoot) return false;
  const pkgs = [...new Set(missing.map((p) => PROGRAMS[p]))];
  console.error(`peers: installing ${pkgs.join(" ")}`);
  // Keep postinst scripts from starting the distro services (nginx on :80, danted ...): the
  // harness runs its own loopback instances. Only when the machine has no policy of its own.
  const guard = "/usr/sbin/policy-rc.d";
  const ownGuard = !existsSync(guard);
  if (ownGuard) writeFileSync(guard, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    if (!aptUpdated) {
      await apt(["update", "-qq"], 300_000);
      aptUpdated = true;
    }
    await apt(
      ["install", "-y", "-qq", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", ...pkgs],
      1_200_000,
    );
  } finally {
    if (ownGuard) rmSync(guard, { force: true });
  }
  const still = missing.filter((p) => !programPath(p));
  if (still.length > 0) throw new Error(`installed ${pkgs.join(" ")} but still missing: ${still.join(" ")}`);
  return true;
}

async function apt(args: string[], timeout: number): Promise<void> {
  const sub = Bun.spawn(["apt-get", "-o", "DPkg::Lock::Timeout=600", ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout,
  });
  const [out, err, code] = await Promise.all([sub.stdout.text(), sub.stderr.text(), sub.exited]);
  if (code !== 0) throw new Error(`apt-get ${args[0]} failed (${code ?? sub.signalCode}):\n${`${out}${err}`.trim().split("\n").slice(-20).join("\n")}`);
}

// ----------------------------------------------------------------------------- CLI

const snake = (k: string) => k.replace(/[A-Z]/g, (m) => `_${m}`).toUpperCase();

/** KEY=VALUE lines describing a started peer (values never hold newlines). */
export function describePeer(p: Peer): string {
  const kv: [string, InfoValue][] = [
    ["PID", p.pid],
    ["PORT", p.port],
    ["PORTS", p.ports.join(",")],
    ["HOST", p.host],
    ["DIR", p.dir],
    ["LOG", p.log],
    ...Object.entries(p.info as Record<string, InfoValue>).map(([k, v]): [string, InfoValue] => [snake(k), v]),
  ];
  return kv
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
}

const USAGE = `usage:
  bun scripts/peers.ts install [name ...]       install packages (root); no-op when present
  bun scripts/peers.ts start <name> [k=v ...]   start a peer; KEY=VALUE lines; runs until SIGINT/SIGTERM
  bun scripts/peers.ts names                    peers and their parameters
  bun scripts/peers.ts free-port [n]            n free ports`;

async function main(argv: string[]): Promise<number> {
  const [verb = "help", ...rest] = argv;
  switch (verb) {
    case "install": {
      const names = rest.length > 0 ? rest : ALL_NAMES;
      if (!(await ensurePackages(names))) {
        const missing = [...new Set(names.flatMap(programsOf))].filter((p) => !programPath(p));
        console.error(`peers: missing ${missing.join(" ")} and not root; install: apt-get install ${missing.map((p) => PROGRAMS[p]).join(" ")}`);
        return 1;
      }
      console.log(`peers: ok (${[...new Set(names.flatMap(programsOf))].join(" ")})`);
      return 0;
    }
    case "start": {
      const [name, ...kvs] = rest;
      if (!name || !isPeerName(name)) {
        console.error(`peers: start needs a peer name (${PEER_NAMES.join(", ")})`);
        return 2;
      }
      const params: Record<string, string> = {};
      for (const kv of kvs) {
        const i = kv.indexOf("=");
        if (i <= 0) {
          console.error(`peers: bad parameter '${kv}' (want key=value)`);
          return 2;
        }
        params[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const p = await startPeer(name, params as PeerParams<typeof name>);
      let stopping = false;
      const stop = () => {
        stopping = true;
        void stopAll().then(() => process.exit(0));
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      console.log(describePeer(p));
      const code = await p.exited;
      if (stopping) return new Promise(() => {}); // the signal handler exits once the tree is down
      console.error(`peers: ${name} exited by itself (${code}); log ${p.log}`);
      return 1;
    }
    case "names":
      for (const n of PEER_NAMES) {
        const ps = Object.entries(PEERS[n].params).map(([k, v]) => (v ? `${k}=${v}` : k));
        console.log(`${n}\t${ps.join(" ")}`);
      }
      return 0;
    case "free-port":
      console.log(freePorts(Number(rest[0] ?? 1) || 1).join("\n"));
      return 0;
    default:
      console.error(USAGE);
      return verb === "help" || verb === "--help" || verb === "-h" ? 0 : 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`peers: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
