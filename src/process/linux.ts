import { readdirSync, readlinkSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { endianness } from "node:os";
import { parseIp } from "../sdk/ip.ts";

/** The owner of a local socket, as Linux's /proc tells it. */
export interface SocketOwner {
  /** The socket's uid (socket table column). */
  uid: number;
  /** Executable of the process holding the socket; "" when none was found (it exited, or it is another user's and ferry is not root). */
  path: string;
}

const LITTLE_ENDIAN = endianness() === "LE";
const WILDCARD_V4 = "00000000";
const WILDCARD_V6 = "0".repeat(32);
/** The start of a table line up to its local-address column: `  12: `. */
const SLOT = /^\s*\d+: $/;
const DELETED = " (deleted)";

/** A 32-bit address word as /proc/net prints it: the in-memory (network-order) bytes read as a host-order number, `%08X`. */
function wordHex(w: number): string {
  const v = LITTLE_ENDIAN ? ((w & 0xff) * 0x1000000 + ((w >>> 8) & 0xff) * 0x10000 + ((w >>> 16) & 0xff) * 0x100 + (w >>> 24)) : w >>> 0;
  return v.toString(16).toUpperCase().padStart(8, "0");
}

/** An address and port as a table prints them, IPv4 also as its v4-mapped IPv6 form; undefined for an unparsable address. */
function endpoint(ip: string, port: number): { v4?: string; v6: string } | undefined {
  const words = new Uint32Array(4);
  const family = parseIp(ip, words);
  if (family === 0) return undefined;
  const portHex = port.toString(16).toUpperCase().padStart(4, "0");
  const mappedV4 = family === 6 && words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
  if (family === 4 || mappedV4) {
    const v4 = wordHex(family === 4 ? words[0]! : words[3]!);
    return { v4: `${v4}:${portHex}`, v6: `${wordHex(0)}${wordHex(0)}${wordHex(0xffff)}${v4}:${portHex}` };
  }
  return { v6: `${wordHex(words[0]!)}${wordHex(words[1]!)}${wordHex(words[2]!)}${wordHex(words[3]!)}:${portHex}` };
}

interface Probe {
  file: string;
  /** Local-address texts (`addr:port`) to look for, best first. */
  locals: string[];
  /** The remote-address text the socket must show; undefined = any. */
  remote: string | undefined;
}

/**
 * Where the client socket of a connection from `source` to `peer` is listed: an IPv4 socket in
 * `tcp`/`udp`, a dual-stack one in the `6` table under v4-mapped addresses. Connected sockets may
 * share a local port when their remote ends differ, so TCP sockets must show `peer` as their remote
 * end; UDP ones may be unconnected, and may show the wildcard address as their local one.
 */
function probes(network: "tcp" | "udp", source: string, sourcePort: number, peer: string, peerPort: number): Probe[] | undefined {
  const local = endpoint(source, sourcePort);
  if (!local) return undefined;
  const udp = network === "udp";
  const remote = udp || peerPort === 0 ? undefined : endpoint(peer, peerPort);
  const out: Probe[] = [];
  // A socket in the IPv4 table cannot be connected to an IPv6 peer.
  if (local.v4 && (remote === undefined || remote.v4 !== undefined)) {
    const wildcard = `${WILDCARD_V4}:${local.v4.slice(-4)}`;
    out.push({ file: `/proc/net/${network}`, locals: udp ? [local.v4, wildcard] : [local.v4], remote: remote?.v4 });
  }
  const wildcard = `${WILDCARD_V6}:${local.v6.slice(-4)}`;
  out.push({ file: `/proc/net/${network}6`, locals: udp ? [local.v6, wildcard] : [local.v6], remote: remote?.v6 });
  return out;
}

/** uid and inode of the first listed socket matching the probe. */
function findSocket(table: string, probe: Probe): { uid: number; inode: number } | undefined {
  for (const local of probe.locals) {
    const needle = `${local} `;
    for (let at = table.indexOf(needle); at >= 0; at = table.indexOf(needle, at + needle.length)) {
      const lineStart = table.lastIndexOf("\n", at) + 1;
      // The same text in the remote-address column is somebody else's socket.
      if (!SLOT.test(table.slice(lineStart, at))) continue;
      const lineEnd = table.indexOf("\n", at);
      // After the local address: rem_address st tx:rx tr:when retrnsmt uid timeout inode …
      const fields = table
        .slice(at + needle.length, lineEnd < 0 ? table.length : lineEnd)
        .trim()
        .split(/\s+/);
      if (probe.remote !== undefined && fields[0] !== probe.remote) continue;
      const uid = Number(fields[5]);
      const inode = Number(fields[7]);
      // TIME_WAIT sockets have no inode (and no process).
      if (inode > 0 && Number.isInteger(uid)) return { uid, inode };
    }
  }
  return undefined;
}

/** Pids that recently held a looked-up socket, newest first: the next connection of a browser most likely comes from the same process. */
const recent: number[] = [];
const RECENT_MAX = 8;

function remember(pid: number): number {
  const i = recent.indexOf(pid);
  if (i >= 0) recent.splice(i, 1);
  recent.unshift(pid);
  if (recent.length > RECENT_MAX) recent.pop();
  return pid;
}

function holds(pid: number, link: string): boolean {
  const dir = `/proc/${pid}/fd`;
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`${dir}/${fd}`) === link) return true;
    } catch {
      // Closed while we looked.
    }
  }
  return false;
}

function ownerUid(pid: number): number {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return -1;
  }
}

/**
 * The pid whose fd table holds `socket:[inode]`, or -1. Only processes of the socket's uid are
 * searched (as mihomo does), recent owners first, then the newest pids first.
 */
function pidHolding(inode: number, uid: number): number {
  const link = `socket:[${inode}]`;
  for (const pid of recent) if (holds(pid, link)) return remember(pid);
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return -1;
  }
  const pids: number[] = [];
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  pids.sort((a, b) => b - a);
  for (const pid of pids) {
    if (recent.includes(pid) || ownerUid(pid) !== uid) continue;
    if (holds(pid, link)) return remember(pid);
  }
  return -1;
}

function exePath(pid: number): string {
  try {
    const path = readlinkSync(`/proc/${pid}/exe`);
    // A binary replaced since it started (an upgrade) still names the program.
    return path.endsWith(DELETED) ? path.slice(0, -DELETED.length) : path;
  } catch {
    return "";
  }
}

/**
 * The owner of the local socket at `source:sourcePort` connected to `peer:peerPort` (the address
 * the connection arrived at; "" when unknown). The socket tables are read off the event loop (the
 * kernel walks its whole connection hash for them: milliseconds on a large machine); the fd scan
 * that maps the socket to a process is synchronous.
 */
export async function findSocketOwner(
  network: "tcp" | "udp",
  source: string,
  sourcePort: number,
  peer = "",
  peerPort = 0,
): Promise<SocketOwner | undefined> {
  const list = probes(network, source, sourcePort, peer, peerPort);
  if (!list) return undefined;
  for (const probe of list) {
    let table: string;
    try {
      table = await readFile(probe.file, "latin1");
    } catch {
      // No IPv6 in this kernel, or no /proc.
      continue;
    }
    const socket = findSocket(table, probe);
    if (!socket) continue;
    const pid = pidHolding(socket.inode, socket.uid);
    return { uid: socket.uid, path: pid < 0 ? "" : exePath(pid) };
  }
  return undefined;
}
