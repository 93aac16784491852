import { createConsola, LogLevels } from "consola";
import type { Logger } from "./sdk/types.ts";

/** Clash/mihomo log levels, in order of verbosity. */
export type LogLevel = "silent" | "error" | "warning" | "info" | "debug";
export const LOG_LEVELS: LogLevel[] = ["silent", "error", "warning", "info", "debug"];

const CONSOLA_LEVEL: Record<LogLevel, number> = {
  silent: LogLevels.silent,
  error: LogLevels.error,
  warning: LogLevels.warn,
  info: LogLevels.info,
  debug: LogLevels.debug,
};

export interface LogEntry {
  type: Exclude<LogLevel, "silent">;
  payload: string;
  time: Date;
}

type Listener = (entry: LogEntry) => void;

const listeners = new Set<Listener>();
let level: LogLevel = "info";

// Logs go to stderr so stdout stays clean for machine-readable output (`test-config --json`, `schema`).
const consolaOptions = {
  level: CONSOLA_LEVEL.info,
  stdout: process.stderr,
  stderr: process.stderr,
  // Plain one-line records when logging to a file or service manager; colours on a terminal.
  // (`fancy` is read by consola's node entry; its resolved typings here omit it.)
  fancy: process.stderr.isTTY === true,
};
const consola = createConsola(consolaOptions as Parameters<typeof createConsola>[0]);

export function setLogLevel(next: LogLevel): void {
  level = next;
  rank = LOG_LEVELS.indexOf(next);
  consola.level = CONSOLA_LEVEL[next];
}

let rank = LOG_LEVELS.indexOf(level);

/** Whether a line of this level goes anywhere (console or a /logs subscriber): skip building it otherwise. */
export function logEnabled(at: Exclude<LogLevel, "silent">): boolean {
  return listeners.size > 0 || LOG_LEVELS.indexOf(at) <= rank;
}

export function getLogLevel(): LogLevel {
  return level;
}

/** Subscribe to every log line (the controller's /logs feed). Returns an unsubscribe function. */
export function onLog(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(type: LogEntry["type"], payload: string): void {
  if (listeners.size === 0) return;
  const entry = { type, payload, time: new Date() };
  for (const l of listeners) l(entry);
}

function format(message: string, args: unknown[]): string {
  if (args.length === 0) return message;
  return [message, ...args.map((a) => (a instanceof Error ? a.message : typeof a === "string" ? a : Bun.inspect(a)))].join(" ");
}

function make(prefix: string): Logger {
  const p = prefix ? `[${prefix}] ` : "";
  return {
    error: (m, ...a) => {
      if (!logEnabled("error")) return;
      const s = p + format(m, a);
      consola.error(s);
      emit("error", s);
    },
    warn: (m, ...a) => {
      if (!logEnabled("warning")) return;
      const s = p + format(m, a);
      consola.warn(s);
      emit("warning", s);
    },
    info: (m, ...a) => {
      if (!logEnabled("info")) return;
      const s = p + format(m, a);
      consola.info(s);
      emit("info", s);
    },
    debug: (m, ...a) => {
      if (!logEnabled("debug")) return;
      const s = p + format(m, a);
      consola.debug(s);
      emit("debug", s);
    },
  };
}

export const log: Logger = make("");

export function scopedLogger(name: string): Logger {
  return make(name);
}
