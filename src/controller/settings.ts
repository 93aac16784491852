import { isAbsolute, relative, resolve } from "node:path";
import type { RawConfig } from "../config/build.ts";

/**
 * Everything the controller is started with. Read once at start-up: like mihomo, a reload does not
 * re-create the controller, so a new secret or address needs a restart (controller-api.md §1).
 * This module does not import Elysia, so deciding whether to start the controller costs nothing.
 */
export interface ControllerSettings {
  /** `host:port` of the plain HTTP listener, "" for none. */
  externalController: string;
  /** `host:port` of the HTTPS listener, "" for none. */
  externalControllerTls: string;
  /** Absolute path of the unix socket, "" for none. Never authenticated. */
  externalControllerUnix: string;
  secret: string;
  cors: { allowOrigins: string[]; allowPrivateNetwork: boolean };
  /** Absolute directory served under `/ui/`, "" when unset. */
  externalUi: string;
  /** Path of the DNS-over-HTTPS endpoint (`/dns-query`), "" when unset. */
  externalDohServer: string;
  /** `/debug` routes exist only when the log level is debug at start-up (mihomo). */
  debug: boolean;
  /** PEM text or file path (relative to the home dir) for the HTTPS listener. */
  tlsCertificate: string;
  tlsPrivateKey: string;
  homeDir: string;
}

/** Command-line / environment overrides GUI clients pass (mihomo's `-ext-ctl`, `CLASH_OVERRIDE_*`). */
export interface ControllerOverrides {
  externalController?: string;
  externalControllerTls?: string;
  externalControllerUnix?: string;
  secret?: string;
  externalUi?: string;
}

/**
 * mihomo's flag defaults come from these variables; an empty value counts as unset, as in mihomo.
 * The UI override is `CLASH_OVERRIDE_EXTERNAL_UI_DIR` in mihomo's main.go.
 */
export function overridesFromEnv(env: Record<string, string | undefined>): ControllerOverrides {
  return {
    externalController: env.CLASH_OVERRIDE_EXTERNAL_CONTROLLER || undefined,
    externalControllerTls: env.CLASH_OVERRIDE_EXTERNAL_CONTROLLER_TLS || undefined,
    externalControllerUnix: env.CLASH_OVERRIDE_EXTERNAL_CONTROLLER_UNIX || undefined,
    secret: env.CLASH_OVERRIDE_SECRET || undefined,
    externalUi: env.CLASH_OVERRIDE_EXTERNAL_UI_DIR || undefined,
  };
}

/** Flags win over the environment, which wins over the config file; empty strings do not override. */
export function mergeOverrides(flags: ControllerOverrides, env: ControllerOverrides): ControllerOverrides {
  const pick = (k: keyof ControllerOverrides) => flags[k] || env[k] || undefined;
  return {
    externalController: pick("externalController"),
    externalControllerTls: pick("externalControllerTls"),
    externalControllerUnix: pick("externalControllerUnix"),
    secret: pick("secret"),
    externalUi: pick("externalUi"),
  };
}

export function controllerSettings(raw: RawConfig, homeDir: string, overrides: ControllerOverrides = {}): ControllerSettings {
  const cors = raw["external-controller-cors"];
  const unix = overrides.externalControllerUnix ?? raw["external-controller-unix"] ?? "";
  const ui = overrides.externalUi ?? raw["external-ui"] ?? "";
  const tls = (raw.tls ?? {}) as Record<string, unknown>;
  return {
    externalController: overrides.externalController ?? raw["external-controller"] ?? "",
    externalControllerTls: overrides.externalControllerTls ?? raw["external-controller-tls"] ?? "",
    externalControllerUnix: unix ? resolve(homeDir, unix) : "",
    secret: overrides.secret ?? raw.secret ?? "",
    cors: {
      allowOrigins: cors?.["allow-origins"] ?? ["*"],
      allowPrivateNetwork: cors?.["allow-private-network"] ?? true,
    },
    externalUi: ui ? resolve(homeDir, ui) : "",
    externalDohServer: raw["external-doh-server"] ?? "",
    debug: (raw["log-level"] ?? "info").toLowerCase() === "debug",
    tlsCertificate: typeof tls.certificate === "string" ? tls.certificate : "",
    tlsPrivateKey: typeof tls["private-key"] === "string" ? tls["private-key"] : "",
    homeDir,
  };
}

export function wantsController(s: ControllerSettings): boolean {
  return s.externalController !== "" || s.externalControllerTls !== "" || s.externalControllerUnix !== "";
}

/**
 * Paths the controller may read or write besides the home directory: `SAFE_PATHS` (PATH-style
 * list), as in mihomo's constant/path.go.
 */
export function safePaths(homeDir: string, env: Record<string, string | undefined> = process.env): string[] {
  const extra = (env.SAFE_PATHS ?? "").split(process.platform === "win32" ? ";" : ":").filter((p) => p !== "");
  return [homeDir, ...extra.map((p) => resolve(p))];
}

export function isSafePath(path: string, allowed: string[]): boolean {
  return allowed.some((dir) => {
    const rel = relative(dir, path);
    return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
  });
}
