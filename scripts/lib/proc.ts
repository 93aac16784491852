/**
 * Linux /proc readers shared by the peer harness and the bench: process trees, CPU time, RSS and
 * socket ownership. Everything is synchronous so it also works inside a process "exit" handler.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
  /** utime + cutime, in clock ticks. */
  user: number;
  /** stime + cstime, in clock ticks. */
  sys: number;
  /** Start time after boot, in clock ticks: tells a live process from a reused PID. */
  start: number;
}

export function readStat(pid: number): ProcStat | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; the rest follows the last ')'.
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  const n = (i: number) => Number(f[i] ?? 0);
  // f[0] is field 3 (state): utime..cstime are fields 14..17, starttime is field 22.
  return { pid, ppid: n(1), state: f[0] ?? "?", user: n(11) + n(13), sys: n(12) + n(14), start: n(19) };
}

/** Alive and not a zombie waiting to be reaped. */
export function alive(pid: number): boolean {
  const st = readStat(pid);
  return st !== undefined && st.state !== "Z" && st.state !== "X";
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const e of readdirSync("/proc")) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    const st = readStat(Number(e));
    if (st) out.push(st);
  }
  return out;
}

/** The process and all its descendants, parents first. */
export function tree(root: number): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  let self: ProcStat | undefined;
  for (const st of allStats()) {
    if (st.pid === root) self = st;
    const list = byParent.get(st.ppid);
    if (list) list.push(st);
    else byParent.set(st.ppid, [st]);
  }
  if (!self) return [];
  const out = [self];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]!.pid) ?? []));
  return out;
}

let clkTck: number | undefined;
export function clockTicks(): number {
  if (clkTck === undefined) {
    const r = Bun.spawnSync(["getconf", "CLK_TCK"], { stdout: "pipe", stderr: "ignore" });
    const v = Number(r.stdout.toString().trim());
    clkTck = Number.isFinite(v) && v > 0 ? v : 100;
  }
  return clkTck;
}

export interface CpuTime {
  user: number;
  sys: number;
  total: number;
}

/**
 * CPU seconds (all threads) used so far by the trees under the given roots. Reaped children count
 * through their parent's cutime/cstime, so a before/after difference stays right when a forking
 * server (dante) retires workers in between.
 */
export function cpuTime(roots: readonly number[]): CpuTime {
  let user = 0;
  let sys = 0;
  for (const r of roots) {
    for (const st of tree(r)) {
      user += st.user;
      sys += st.sys;
    }
  }
  const hz = clockTicks();
  return { user: user / hz, sys: sys / hz, total: (user + sys) / hz };
}

export const cpuSeconds = (roots: readonly number[]): number => cpuTime(roots).total;

export const cpuDelta = (a: CpuTime, b: CpuTime): CpuTime => ({ user: b.user - a.user, sys: b.sys - a.sys, total: b.total - a.total });

/** Sum of a /proc/PID/status memory field (VmRSS, VmHWM) over the trees, in bytes. */
export function memBytes(roots: readonly number[], field: "VmRSS" | "VmHWM" = "VmRSS"): number {
  let kb = 0;
  for (const r of roots) {
    for (const st of tree(r)) {
      try {
        const m = readFileSync(`/proc/${st.pid}/status`, "latin1").match(new RegExp(`^${field}:\\s+(\\d+)`, "m"));
        kb += Number(m?.[1] ?? 0);
      } catch {
        // exited between the listing and the read
      }
    }
  }
  return kb * 1024;
}

/** Whole-machine busy and total CPU ticks since boot, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "latin1").split("\n", 1)[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

export type Proto = "tcp" | "udp";

interface SocketRow {
  port: number;
  /** Kernel state code: 0A = TCP LISTEN, 07 = UDP unconnected (bound). */
  state: string;
  inode: number;
}

function socketRows(proto: Proto): SocketRow[] {
  const rows: SocketRow[] = [];
  for (const file of [`/proc/net/${proto}`, `/proc/net/${proto}6`]) {
    let text: string;
    try {
      text = readFileSync(file, "latin1");
    } catch {
      continue; // no IPv6 on this machine
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local) continue;
      rows.push({ port: Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16), state: f[3] ?? "", inode: Number(f[9] ?? 0) });
    }
  }
  return rows;
}

/** True when any TCP or UDP socket, in any state, uses the port locally. */
export function portInUse(port: number): boolean {
  return socketRows("tcp").some((r) => r.port === port) || socketRows("udp").some((r) => r.port === port);
}

/**
 * Whether a listening (TCP) or bound (UDP) socket on the port belongs to the process tree. Without
 * the right to read the tree's fds (a binary with file capabilities, when not root) the listener is
 * accepted on the port alone.
 */
export function ownsPort(root: number, port: number, proto: Proto): boolean {
  const want = proto === "tcp" ? "0A" : "07";
  const inodes = new Set(socketRows(proto).filter((r) => r.port === port && r.state === want).map((r) => r.inode));
  if (inodes.size === 0) return false;
  let readable = false;
  for (const st of tree(root)) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${st.pid}/fd`);
    } catch {
      continue;
    }
    readable = true;
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${st.pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (link.startsWith("socket:[") && inodes.has(Number(link.slice(8, -1)))) return true;
    }
  }
  return !readable;
}

/** The hard limit on open files of this process (children inherit it). */
export function openFileLimit(): number {
  const m = readFileSync("/proc/self/limits", "latin1").match(/^Max open files\s+\S+\s+(\S+)/m);
  const v = Number(m?.[1]);
  return Number.isFinite(v) ? v : 1024;
}
