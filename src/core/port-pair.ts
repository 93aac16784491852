/** How often a port-0 pair is tried again when its number turns out to be taken for UDP. */
const PAIR_ATTEMPTS = 10;

/**
 * A TCP listener and a UDP socket on one port (socks/mixed/tunnel listeners, the DNS listener).
 * With port 0 the TCP listener picks the number and UDP follows; a number free for TCP may be
 * taken for UDP (seen in CI), so both let go and try again. With a fixed port the first failure
 * is the answer.
 */
export async function bindTcpThenUdp<T extends { readonly port: number; stop(closeActiveConnections?: boolean): void }, U>(
  port: number,
  tcp: (port: number) => T,
  udp: (port: number) => Promise<U>,
): Promise<{ tcp: T; udp: U }> {
  for (let attempt = 1; ; attempt++) {
    const listener = tcp(port);
    try {
      return { tcp: listener, udp: await udp(listener.port) };
    } catch (err) {
      listener.stop(true);
      if (port !== 0 || attempt >= PAIR_ATTEMPTS) throw err;
    }
  }
}
