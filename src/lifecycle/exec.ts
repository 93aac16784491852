import { spawn } from "node:child_process";

/** A compiled ferry runs from Bun's embedded filesystem; `bun src/cli/main.ts` does not. */
export function compiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
}

/**
 * Start the same program again with the same arguments and environment, detached and with the
 * same stdio, then let the caller exit: Bun has no execve, so this is mihomo's re-exec in two steps.
 * Returns the new process id.
 */
export function respawn(): number | undefined {
  // Compiled: argv is ["bun", "/$bunfs/root/ferry", ...]. From source: keep Bun's own flags (--no-install).
  const args = compiled() ? process.argv.slice(2) : [...process.execArgv, ...process.argv.slice(1)];
  const child = spawn(process.execPath, args, { stdio: "inherit", detached: true, env: process.env });
  child.unref();
  return child.pid;
}
