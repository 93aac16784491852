import { Database } from "bun:sqlite";
import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import { log } from "../log.ts";

/** Waiting this long for another writer before the file counts as locked. */
const BUSY_TIMEOUT_MS = 1_000;

/**
 * HOME/cache.db: what ferry remembers across restarts (group selections, provider metadata, the
 * controller's `/storage`). One connection per file for the whole process. A file that cannot be
 * used (corrupt, not a database, locked) is reported, moved aside and replaced: losing remembered
 * state is better than not starting.
 */
export class Cache {
  private conn: Database | undefined;

  constructor(readonly path: string) {}

  /**
   * The connection, opened on first use. Reads of a file that does not exist yet never open it:
   * measured, SQLite costs 4.5 MiB of RSS, which a fresh install should not pay at start.
   */
  get db(): Database {
    this.conn ??= this.connect();
    return this.conn;
  }

  private connect(): Database {
    const path = this.path;
    try {
      return prepare(path);
    } catch (err) {
      const aside = `${path}.broken-${Date.now()}`;
      log.error(`cache ${path} is unusable (${message(err)}): moved to ${aside}, starting a new one`);
      try {
        for (const suffix of ["", "-wal", "-shm", "-journal"]) {
          if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
        }
        return prepare(path);
      } catch (again) {
        log.error(`cache ${path}: cannot be replaced (${message(again)}): remembering in memory only until exit`);
        return prepare(":memory:");
      }
    }
  }

  /** Nothing stored yet: no file and no connection. */
  private get empty(): boolean {
    return this.conn === undefined && !existsSync(this.path);
  }

  /** A value of `bucket` (`selected`, a provider's metadata…), undefined when absent or unreadable. */
  get(bucket: string, key: string): string | undefined {
    if (this.empty) return undefined;
    return this.guard("read", () => this.db.query<{ value: string }, [string, string]>("SELECT value FROM cache WHERE bucket = ? AND key = ?").get(bucket, key)?.value);
  }

  set(bucket: string, key: string, value: string): void {
    this.guard("write", () => this.db.query("INSERT OR REPLACE INTO cache (bucket, key, value) VALUES (?, ?, ?)").run(bucket, key, value));
  }

  /** Every key and value of `bucket`. */
  entries(bucket: string): [string, string][] {
    if (this.empty) return [];
    return (
      this.guard("read", () =>
        this.db.query<{ key: string; value: string }, [string]>("SELECT key, value FROM cache WHERE bucket = ?").all(bucket).map((r) => [r.key, r.value] as [string, string]),
      ) ?? []
    );
  }

  /** Drop every entry of `bucket`. */
  clear(bucket: string): void {
    if (this.empty) return;
    this.guard("write", () => this.db.query("DELETE FROM cache WHERE bucket = ?").run(bucket));
  }

  delete(bucket: string, key: string): void {
    if (this.empty) return;
    this.guard("write", () => this.db.query("DELETE FROM cache WHERE bucket = ? AND key = ?").run(bucket, key));
  }

  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }

  /** A failing read or write is logged and skipped: remembered state is never worth a failed request. */
  private guard<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      log.error(`cache ${this.path}: ${what} failed: ${message(err)}`);
      return undefined;
    }
  }
}

/** Open, check and set up the schema; throws when the file is not a usable database. */
function prepare(path: string): Database {
  const db = new Database(path, { create: true });
  try {
    db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const check = db.query<{ quick_check: string }, []>("PRAGMA quick_check").get();
    if (check?.quick_check !== "ok") throw new Error(`integrity check: ${check?.quick_check ?? "no answer"}`);
    // A write at once, so a file locked by another process is found now rather than at the first selection.
    db.run("CREATE TABLE IF NOT EXISTS cache (bucket TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (bucket, key))");
    db.run("CREATE TABLE IF NOT EXISTS controller_storage (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    db.run("BEGIN IMMEDIATE");
    db.run("COMMIT");
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const open = new Map<string, Cache>();

/** The process's connection to HOME/cache.db, opened on first use. */
export function cacheOf(homeDir: string): Cache {
  const path = join(homeDir, "cache.db");
  let cache = open.get(path);
  if (!cache) {
    cache = new Cache(path);
    open.set(path, cache);
  }
  return cache;
}

/** Close HOME/cache.db (shutdown); the next use opens it again. */
export function closeCache(homeDir: string): void {
  const path = join(homeDir, "cache.db");
  open.get(path)?.close();
  open.delete(path);
}
