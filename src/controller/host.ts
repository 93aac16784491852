import { readFileSync } from "node:fs";
import { buildConfig } from "../config/build.ts";
import { formatIssue } from "../config/issues.ts";
import type { Engine } from "../core/engine.ts";
import { BUILTIN_LISTENER_PATHS, LISTENER_KEYS, readConfigText, type Runtime } from "../core/runtime.ts";
import type { ProxyStates } from "../core/health.ts";
import type { Tracker } from "../core/tracker.ts";
import { GeoFiles } from "../geo/geodata.ts";
import { updateGeoDatabases } from "../geo/update.ts";
import { type LogLevel, log, setLogLevel } from "../log.ts";
import { dnsServiceOf } from "./dns-service.ts";

/** Where `PUT /configs` takes the new config from. */
export type ConfigSource = { kind: "payload"; text: string } | { kind: "path"; path: string } | { kind: "startup" };

/** `PATCH /configs` after validation: mihomo's keys, values already normalised (lower-case enums). */
export interface ConfigPatch {
  port?: number;
  "socks-port"?: number;
  "mixed-port"?: number;
  "redir-port"?: number;
  "tproxy-port"?: number;
  "allow-lan"?: boolean;
  "bind-address"?: string;
  "lan-allowed-ips"?: string[];
  "lan-disallowed-ips"?: string[];
  "skip-auth-prefixes"?: string[];
  mode?: "rule" | "global" | "direct";
  "log-level"?: LogLevel;
  ipv6?: boolean;
  "tcp-concurrent"?: boolean;
  "find-process-mode"?: "always" | "strict" | "off";
  "interface-name"?: string;
  sniffing?: boolean;
}


/** `GET /dns/query` answer (mihomo hub/route/dns.go field names). */
export interface DnsRecordJson {
  TTL: number;
  data: string;
  name: string;
  type: number;
}

export interface DnsQueryResult {
  Status: number;
  Question: { Name: string; Qtype: number; Qclass: number }[];
  TC: boolean;
  RD: boolean;
  RA: boolean;
  AD: boolean;
  CD: boolean;
  Answer?: DnsRecordJson[];
  Authority?: DnsRecordJson[];
  Additional?: DnsRecordJson[];
}

/** The core's resolver as the controller sees it (present only when the `dns` section is active). */
export interface DnsService {
  query(name: string, qtype: number): Promise<DnsQueryResult>;
  /** One DNS message in wire format through the DNS service (hosts, fake-IP, cache): DoH. */
  exchange(message: Uint8Array): Promise<Uint8Array>;
  flushCache(): void;
  flushFakeIp(): void;
}

/**
 * Everything routes may touch in the running core. Routes never reach globals: tests can hand them
 * any implementation, and the Engine behind `engine()` changes with every reload.
 */
export interface ControllerHost {
  readonly homeDir: string;
  readonly tracker: Tracker;
  /** The core's latency records (group health checks write them too). */
  readonly states: ProxyStates;
  /** The Engine in force. */
  engine(): Engine;
  /** `PUT /configs`: throws with a message for the client, and the running config stays. */
  applyConfig(source: ConfigSource, force: boolean): Promise<void>;
  /** `PATCH /configs`: applies at once; throws only for values the listeners cannot take. */
  patchConfig(patch: ConfigPatch): Promise<void>;
  /** `dns` resolver, undefined while the DNS section is disabled. */
  dns(): DnsService | undefined;
  /** Close listeners and connections (before a restart). */
  shutdown(): Promise<void>;
  /** `POST /configs/geo`, `/upgrade/geo`: re-download the geo files the config uses; throws with mihomo's message. */
  updateGeo(): Promise<void>;
}

/** The controller's view of a Runtime. */
export class RuntimeHost implements ControllerHost {
  constructor(private readonly runtime: Runtime) {}

  get homeDir(): string {
    return this.runtime.options.homeDir;
  }

  get tracker(): Tracker {
    return this.runtime.tracker;
  }

  get states(): ProxyStates {
    return this.runtime.states;
  }

  engine(): Engine {
    const e = this.runtime.engine;
    if (!e) throw new Error("ferry has no config in force");
    return e;
  }

  async applyConfig(source: ConfigSource, force: boolean): Promise<void> {
    const input =
      source.kind === "payload"
        ? { text: source.text, source: "<payload>" }
        : source.kind === "path"
          ? { text: readFileSync(source.path, "utf8"), source: source.path }
          : readConfigText(this.runtime.options);
    await this.runtime.apply(input, { force });
  }

  async patchConfig(patch: ConfigPatch): Promise<void> {
    const engine = this.engine();
    const raw = engine.config.raw as Record<string, unknown>;
    if (LISTENER_KEYS.some((k) => patch[k] !== undefined)) await this.patchListeners(engine, patch);
    if (patch.mode) engine.setMode(patch.mode);
    if (patch["log-level"]) {
      setLogLevel(patch["log-level"]);
      engine.config.logLevel = patch["log-level"];
    }
    if (patch.ipv6 !== undefined) engine.setIpv6(patch.ipv6);
    if (patch.sniffing !== undefined && engine.state.sniffer) engine.state.sniffer.enabled = patch.sniffing;
    for (const key of ["mode", "log-level", "ipv6", "tcp-concurrent", "find-process-mode", "interface-name"] as const) {
      if (patch[key] !== undefined) raw[key] = patch[key];
    }
  }

  /**
   * Re-derive the built-in listeners from "requested value, else current value" with the config
   * builder itself (so bind-address and CIDRs are checked as at load), then swap them in: those
   * whose settings did not change keep their sockets.
   */
  private async patchListeners(engine: Engine, patch: ConfigPatch): Promise<void> {
    const raw = engine.config.raw as Record<string, unknown>;
    const settings: Record<string, unknown> = { authentication: raw.authentication };
    for (const key of LISTENER_KEYS) settings[key] = patch[key] ?? raw[key];
    const { config, issues } = buildConfig(JSON.stringify(settings), this.runtime.registry);
    if (!config) {
      throw new Error(
        issues
          .filter((i) => i.severity === "error")
          .map(formatIssue)
          .join("; "),
      );
    }
    const named = engine.config.listeners.filter((l) => !BUILTIN_LISTENER_PATHS.has(l.path));
    await engine.replaceListeners([...config.listeners, ...named], {
      lanAllowed: config.lanAllowed,
      lanDisallowed: config.lanDisallowed,
      skipAuthPrefixes: config.skipAuthPrefixes,
    });
    for (const key of LISTENER_KEYS) {
      if (patch[key] !== undefined) raw[key] = patch[key];
    }
    log.info(`controller: listeners re-evaluated (${LISTENER_KEYS.filter((k) => patch[k] !== undefined).join(", ")})`);
  }

  dns(): DnsService | undefined {
    const dns = this.runtime.engine?.dns;
    return dns ? dnsServiceOf(dns) : undefined;
  }

  shutdown(): Promise<void> {
    return this.runtime.shutdown(0);
  }

  async updateGeo(): Promise<void> {
    const geo = this.engine().config.env.geo;
    if (geo instanceof GeoFiles) await updateGeoDatabases(geo);
  }
}
