import { describe, expect, test } from "bun:test";
import { initialKeys, QuicSniffer } from "../../src/sniff/quic.ts";
import { NEED_MORE, NO_HOST } from "../../src/sniff/result.ts";
import { clientInitial, cryptoFrame, padded, RFC9001_CLIENT_INITIAL, RFC9001_CRYPTO_FRAME, RFC9001_DCID } from "./helpers.ts";

/** The ClientHello inside A.2's CRYPTO frame (after type, 2-byte offset 0 and 2-byte length). */
const HELLO = RFC9001_CRYPTO_FRAME.subarray(4, 4 + (((RFC9001_CRYPTO_FRAME[2]! & 0x3f) << 8) | RFC9001_CRYPTO_FRAME[3]!));

describe("QUIC Initial: RFC 9001 Appendix A", () => {
  test("A.1's client keys from the DCID", () => {
    const k = initialKeys(RFC9001_DCID, 1);
    expect(k.key.toString("hex")).toBe("1f369613dd76d5467730efcbe3b1a22d");
    expect(k.iv.toString("hex")).toBe("fa044b2f42a3fd3b46fb255c");
    expect(k.hp.toString("hex")).toBe("9f50449e04a0e810283a1e9933adedd2");
  });

  test("A.2's protected client Initial names example.com", () => {
    expect(RFC9001_CLIENT_INITIAL.length).toBe(1200);
    expect(new QuicSniffer().push(RFC9001_CLIENT_INITIAL)).toBe("example.com");
  });

  test("the tests' packet builder reproduces A.2 byte for byte", () => {
    expect(HELLO.length).toBe(0xf1);
    const rebuilt = clientInitial(RFC9001_DCID, 2, padded([RFC9001_CRYPTO_FRAME], 1162));
    expect(rebuilt.toString("hex")).toBe(RFC9001_CLIENT_INITIAL.toString("hex"));
  });

  test("a flipped bit anywhere in the protected packet, or a cut one, is no host", () => {
    for (const at of [0, 18, 21, 30, 600, 1199]) {
      const bad = Buffer.from(RFC9001_CLIENT_INITIAL);
      bad[at]! ^= 0x04;
      expect(new QuicSniffer().push(bad)).toBe(NO_HOST);
    }
    expect(new QuicSniffer().push(RFC9001_CLIENT_INITIAL.subarray(0, 600))).toBe(NO_HOST);
  });

  test("not QUIC: short headers, other versions, garbage", () => {
    expect(new QuicSniffer().push(Uint8Array.of(0x40, 1, 2, 3, 4, 5, 6, 7, 8))).toBe(NO_HOST);
    const v2 = Buffer.from(RFC9001_CLIENT_INITIAL);
    v2.writeUInt32BE(0x6b3343cf, 1);
    expect(new QuicSniffer().push(v2)).toBe(NO_HOST);
    expect(new QuicSniffer().push(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"))).toBe(NO_HOST);
    expect(new QuicSniffer().push(new Uint8Array(0))).toBe(NO_HOST);
  });
});

describe("QUIC Initial: a ClientHello over several packets", () => {
  const dcid = Buffer.from("0011223344556677", "hex");
  const a = HELLO.subarray(0, 100);
  const b = HELLO.subarray(100, 180);
  const c = HELLO.subarray(180);

  test("CRYPTO frames out of order across two datagrams: NEED_MORE, then the name", () => {
    const sniffer = new QuicSniffer();
    const first = clientInitial(dcid, 0, padded([Uint8Array.of(1), cryptoFrame(180, c), cryptoFrame(0, a)], 1162));
    const second = clientInitial(dcid, 1, padded([cryptoFrame(100, b)], 1162));
    expect(sniffer.push(first)).toBe(NEED_MORE);
    expect(sniffer.push(second)).toBe("example.com");
    // Settled: later datagrams change nothing.
    expect(sniffer.push(Uint8Array.of(1, 2, 3))).toBe("example.com");
  });

  test("two Initial packets coalesced in one datagram", () => {
    const one = clientInitial(dcid, 0, padded([cryptoFrame(0, a)], 200));
    const two = clientInitial(dcid, 1, padded([cryptoFrame(100, HELLO.subarray(100))], 200));
    expect(new QuicSniffer().push(Buffer.concat([one, two]))).toBe("example.com");
  });

  test("datagrams of another connection, or garbage, after the first are ignored", () => {
    const sniffer = new QuicSniffer();
    expect(sniffer.push(clientInitial(dcid, 0, padded([cryptoFrame(0, a)], 1162)))).toBe(NEED_MORE);
    expect(sniffer.push(clientInitial(Buffer.from("ffffffffffffffff", "hex"), 1, padded([cryptoFrame(100, HELLO.subarray(100))], 1162)))).toBe(NEED_MORE);
    expect(sniffer.push(Uint8Array.of(0x40, 9, 9, 9))).toBe(NEED_MORE);
    expect(sniffer.push(clientInitial(dcid, 1, padded([cryptoFrame(100, HELLO.subarray(100))], 1162)))).toBe("example.com");
  });

  test("a frame an Initial may not carry makes the packet unusable", () => {
    // STREAM (0x08) in an Initial.
    const bad = clientInitial(dcid, 0, padded([Uint8Array.of(0x08, 0, 0), cryptoFrame(0, HELLO)], 1162));
    expect(new QuicSniffer().push(bad)).toBe(NO_HOST);
  });

  test("a CRYPTO stream that is not a ClientHello is no host", () => {
    const notHello = Buffer.from(HELLO);
    notHello[0] = 2;
    expect(new QuicSniffer().push(clientInitial(dcid, 0, padded([cryptoFrame(0, notHello)], 1162)))).toBe(NO_HOST);
  });
});
