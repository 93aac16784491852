import { describe, expect, test } from "bun:test";
import { sniffHttp } from "../../src/sniff/http.ts";
import { NEED_MORE, NO_HOST } from "../../src/sniff/result.ts";
import { captureFirstBytes } from "./helpers.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("sniffHttp", () => {
  test("curl's own request: the Host name without the port", async () => {
    const head = await captureFirstBytes(
      (port) => ["--resolve", `Web.Sniff.Test:${port}:127.0.0.1`, `http://Web.Sniff.Test:${port}/x`],
      (b) => Buffer.from(b).includes("\r\n\r\n"),
    );
    expect(sniffHttp(head)).toBe("web.sniff.test");
  });

  test("methods in any case, Host anywhere in the head, bare LF line ends", () => {
    expect(sniffHttp(bytes("post /a HTTP/1.1\r\nAccept: */*\r\nhOsT:  a.test:8080 \r\n\r\n"))).toBe("a.test");
    expect(sniffHttp(bytes("OPTIONS * HTTP/1.1\nHost: b.test\n\n"))).toBe("b.test");
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nHost: c.test.\r\n\r\n"))).toBe("c.test");
  });

  test("incomplete request line, header line or head: wait for more", () => {
    expect(sniffHttp(bytes(""))).toBe(NEED_MORE);
    expect(sniffHttp(bytes("GE"))).toBe(NEED_MORE);
    expect(sniffHttp(bytes("GET / HTTP/1.1"))).toBe(NEED_MORE);
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nAccept: */*\r\n"))).toBe(NEED_MORE);
    // A Host line cut short is not taken.
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nHost: exa"))).toBe(NEED_MORE);
  });

  test("not HTTP, no Host in a whole head, or an address as Host: no host", () => {
    expect(sniffHttp(bytes("\x16\x03\x01\x02\x00"))).toBe(NO_HOST);
    expect(sniffHttp(bytes("SSH-2.0-OpenSSH\r\n"))).toBe(NO_HOST);
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nAccept: */*\r\n\r\nHost: late.test\r\n"))).toBe(NO_HOST);
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nHost: 10.1.2.3:80\r\n\r\n"))).toBe(NO_HOST);
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"))).toBe(NO_HOST);
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n"))).toBe(NO_HOST);
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nHost: \r\n\r\n"))).toBe(NO_HOST);
    expect(sniffHttp(bytes("GET / HTTP/1.1\r\nHost: bad name\r\n\r\n"))).toBe(NO_HOST);
  });
});
