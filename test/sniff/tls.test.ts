import { beforeAll, describe, expect, test } from "bun:test";
import { NEED_MORE, NO_HOST } from "../../src/sniff/result.ts";
import { sniffTls } from "../../src/sniff/tls.ts";
import { curlClientHello, fragment, handshakeOf } from "./helpers.ts";

/** ClientHellos as curl sends them, captured from a local listener. */
let tls13: Uint8Array;
let tls12: Uint8Array;
let longName: Uint8Array;
let noSni: Uint8Array;
const LONG = `${"a".repeat(63)}.${"b".repeat(63)}.sniff.test`;

beforeAll(async () => {
  [tls13, tls12, longName] = await Promise.all([
    curlClientHello("Hello.Sniff.Test"),
    curlClientHello("old.sniff.test", ["--tls-max", "1.2"]),
    curlClientHello(LONG),
  ]);
  // An address in the URL: curl sends no server_name at all.
  noSni = await curlClientHello("127.0.0.1");
});

describe("sniffTls on real ClientHellos", () => {
  test("the server name of curl's hello, lower-cased; TLS 1.2 and long names too", () => {
    expect(tls13[0]).toBe(0x16);
    expect(sniffTls(tls13)).toBe("hello.sniff.test");
    expect(sniffTls(tls12)).toBe("old.sniff.test");
    expect(sniffTls(longName)).toBe(LONG);
  });

  test("a hello without server_name has no host", () => {
    expect(sniffTls(noSni)).toBe(NO_HOST);
  });

  test("every strict prefix asks for more; the whole record answers", () => {
    for (let n = 0; n < tls13.length; n++) expect(sniffTls(tls13.subarray(0, n))).toBe(NEED_MORE);
    expect(sniffTls(tls13)).toBe("hello.sniff.test");
  });

  test("bytes after the hello (pipelined data) do not matter", () => {
    const more = new Uint8Array(tls13.length + 10).fill(0x17);
    more.set(tls13, 0);
    expect(sniffTls(more)).toBe("hello.sniff.test");
  });
});

describe("sniffTls on a hello split over records", () => {
  test.each([1, 3, 4, 5, 100, 512])("records of %i bytes: a name once whole, NEED_MORE before", (size) => {
    const split = fragment(handshakeOf(tls13), size);
    expect(sniffTls(split)).toBe("hello.sniff.test");
    // Prefixes at and inside record boundaries.
    for (const n of [0, 4, 5, 6, 9, split.length - 1]) {
      if (n >= 0 && n < split.length) expect(sniffTls(split.subarray(0, n))).toBe(NEED_MORE);
    }
  });

  test("a foreign record inside the handshake ends it", () => {
    const split = fragment(handshakeOf(tls13), 200);
    const broken = Uint8Array.from(split);
    // The second record becomes ChangeCipherSpec.
    broken[5 + 200] = 0x14;
    expect(sniffTls(broken)).toBe(NO_HOST);
  });
});

describe("sniffTls on what is not a ClientHello", () => {
  test("plain text, other record types, other versions, other handshakes", () => {
    expect(sniffTls(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"))).toBe(NO_HOST);
    expect(sniffTls(Uint8Array.of(0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5))).toBe(NO_HOST);
    expect(sniffTls(Uint8Array.of(0x16, 2, 0))).toBe(NO_HOST);
    // ServerHello (2) in a handshake record.
    expect(sniffTls(Uint8Array.of(0x16, 3, 3, 0, 4, 2, 0, 0, 0))).toBe(NO_HOST);
    // Record length 0 and over 2^14.
    expect(sniffTls(Uint8Array.of(0x16, 3, 1, 0, 0))).toBe(NO_HOST);
    expect(sniffTls(Uint8Array.of(0x16, 3, 1, 0x40, 0x01))).toBe(NO_HOST);
  });

  test("inconsistent lengths inside the hello are no host, never a throw", () => {
    const body = handshakeOf(tls13);
    // Extensions length one short, then a session id longer than 32.
    const extensionsAt = 4 + 34 + 1 + body[4 + 34]!;
    const suites = (body[extensionsAt]! << 8) | body[extensionsAt + 1]!;
    const compressionAt = extensionsAt + 2 + suites;
    const extLenAt = compressionAt + 1 + body[compressionAt]!;
    const short = Uint8Array.from(tls13);
    short[5 + extLenAt + 1]! -= 1;
    expect(sniffTls(short)).toBe(NO_HOST);
    const session = Uint8Array.from(tls13);
    session[5 + 4 + 34] = 33;
    expect(sniffTls(session)).toBe(NO_HOST);
  });

  test("seeded random bytes behind a handshake header never throw and never name anything", () => {
    let seed = 7;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 24;
    };
    for (let round = 0; round < 2000; round++) {
      const len = 6 + (next() % 200);
      const b = new Uint8Array(len);
      for (let i = 0; i < len; i++) b[i] = next();
      b[0] = 0x16;
      b[1] = 3;
      b[3] = 0;
      b[4] = len - 5;
      b[5] = 1;
      const r = sniffTls(b);
      expect(r === NO_HOST || r === NEED_MORE).toBe(true);
    }
  });
});
