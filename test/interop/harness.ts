/**
 * Interop tests run ferry against real peers (scripts/peers.ts). Whether such a test may skip:
 *
 * - CI (CI=true or CI=1): never. Missing programs are installed (CI runs as root), and a peer that
 *   cannot start makes the test FAIL with the reason. A green CI run therefore means the interop
 *   tests really ran.
 * - Elsewhere: when a peer's programs are missing and cannot be installed (not root), the tests
 *   that need it are skipped with a note; install them with `bun scripts/peers.ts install` as root.
 *   A peer that is installed but does not start still fails the test.
 *
 * Usage, at the top level of a test file (peersReady also stops every peer after the file's tests;
 * peers die with the test runner in any case, see scripts/lib/launch.ts):
 *
 *   const ready = await peersReady("origin", "microsocks");
 *   describe.skipIf(!ready)("socks5 outbound", () => {
 *     test("downloads through microsocks", async () => {
 *       const origin = await requirePeer("origin", { big: 0 });
 *       ...
 *     });
 *   });
 */
import { afterAll } from "bun:test";
import { ensurePackages, type Peer, type PeerName, type PeerParams, startPeer, stopAll } from "../../scripts/peers.ts";

export { stopAll };

export const inCI = ["1", "true", "yes"].includes((process.env.CI ?? "").toLowerCase());

const installErrors = new Map<string, string>();

/**
 * True when the named peers (and tools such as "curl", "wrk") can be started: present, or
 * installed now as root. Outside CI false means "skip"; in CI it is always true, so the tests run
 * and `requirePeer` fails them with the reason.
 */
export async function peersReady(...names: string[]): Promise<boolean> {
  // Registered before the first await, while the test file's top level is still being evaluated.
  afterAll(stopAll);
  let ok = false;
  try {
    ok = await ensurePackages(names);
  } catch (e) {
    for (const n of names) installErrors.set(n, e instanceof Error ? e.message : String(e));
  }
  if (ok || inCI) return true;
  console.warn(`interop: skipping tests that need ${names.join(", ")}: not installed (run 'bun scripts/peers.ts install' as root)`);
  return false;
}

/** Start a peer for a test; any failure throws (so the test fails), with the install error if there was one. */
export async function requirePeer<N extends PeerName>(name: N, params?: PeerParams<N>): Promise<Peer<N>> {
  try {
    return await startPeer(name, params);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const install = installErrors.get(name);
    throw new Error(`peer '${name}' could not start${inCI ? " (CI: interop peers are required)" : ""}: ${why}${install ? `\ninstall failed: ${install}` : ""}`);
  }
}
