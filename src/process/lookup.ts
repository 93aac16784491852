import { networkInterfaces } from "node:os";
import { basename } from "node:path";
import type { Metadata } from "../sdk/metadata.ts";
import { findSocketOwner, type SocketOwner } from "./linux.ts";

/** `find-process-mode` (config.md §2.2). */
export type FindProcessMode = "always" | "strict" | "off";

/** ferry finds socket owners through Linux's /proc only (Android included). */
export const PROCESS_LOOKUP_SUPPORTED = process.platform === "linux" || process.platform === "android";

/** A source port is seldom reused this soon; the HTTP inbound routes every request of a kept-alive connection. */
const CACHE_MS = 2_000;
const INTERFACES_MS = 10_000;

const cache = new Map<string, { expires: number; owner: Promise<SocketOwner | undefined> }>();
let local = new Set<string>();
let localExpires = 0;

/** Only a socket on this machine can be looked up: loopback or an address of a local interface. */
function isLocal(ip: string): boolean {
  if (ip.startsWith("127.") || ip === "::1") return true;
  const now = Date.now();
  if (now >= localExpires) {
    const next = new Set<string>();
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) next.add(a.address);
    local = next;
    localExpires = now + INTERFACES_MS;
  }
  return local.has(ip);
}

/** Entries go in with one TTL, so the oldest are first: drop from the front until one is alive. */
function prune(now: number): void {
  for (const [key, entry] of cache) {
    if (entry.expires > now) return;
    cache.delete(key);
  }
}

/**
 * Fill `process`, `processPath` and `uid` of a connection from a local client with the owner of
 * its client socket (for TCP, the one connected to the address the connection arrived at).
 * Undefined when there is nothing to look up (not Linux, a remote or unknown source); else
 * resolves to whether an owner was found. Never rejects.
 */
export function lookupOwner(m: Metadata): Promise<boolean> | undefined {
  if (!PROCESS_LOOKUP_SUPPORTED || m.sourceIP === "" || !isLocal(m.sourceIP)) return undefined;
  const key = `${m.network} ${m.sourceIP} ${m.sourcePort} ${m.inboundIP} ${m.inboundPort}`;
  const now = Date.now();
  let entry = cache.get(key);
  if (!entry || entry.expires <= now) {
    cache.delete(key);
    const owner = findSocketOwner(m.network, m.sourceIP, m.sourcePort, m.inboundIP, m.inboundPort).catch(() => undefined);
    entry = { expires: now + CACHE_MS, owner };
    cache.set(key, entry);
    prune(now);
  }
  return entry.owner.then((owner) => {
    if (!owner) return false;
    m.uid = owner.uid;
    m.processPath = owner.path;
    m.process = basename(owner.path);
    return true;
  });
}
