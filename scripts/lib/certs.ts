/**
 * Throwaway TLS material for the TLS peers: a CA and an ECDSA P-256 server certificate valid for
 * CN, *.CN, localhost, 127.0.0.1 and ::1 (the same set the maintainers' peer lab makes), written
 * with the openssl program. Tests trust `ca`, or pin `sha256` (SHA-256 of the leaf DER).
 */
import { createHash, X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Certs {
  dir: string;
  /** Paths: CA certificate, server certificate, its key, server + CA chain. */
  ca: string;
  cert: string;
  key: string;
  fullchain: string;
  /** The name the certificate is for (also valid: *.cn, localhost, 127.0.0.1, ::1). */
  cn: string;
  /** SHA-256 of the leaf certificate (DER), lower-case hex. */
  sha256: string;
}

/** Make a CA and a server certificate in `dir` (created if missing). `openssl` is the program path. */
export function makeCerts(dir: string, cn = "example.test", openssl = "openssl"): Certs {
  if (!/^[\w.-]+$/.test(cn)) throw new Error(`certs: bad name '${cn}'`);
  mkdirSync(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  writeFileSync(
    p("server.ext"),
    `subjectAltName=DNS:${cn},DNS:*.${cn},DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const run = (args: string[]) => {
    const r = Bun.spawnSync([openssl, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString().trim()}`);
  };
  run(["req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "3650", "-subj", "/CN=ferry throwaway CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  run(["req", ...ec, "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", `/CN=${cn}`]);
  const serial = `0x${createHash("sha256").update(`${dir}${performance.now()}`).digest("hex").slice(0, 16)}`;
  run(["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-set_serial", serial, "-days", "825",
    "-extfile", p("server.ext"), "-out", p("server.crt")]);
  const leaf = readFileSync(p("server.crt"), "utf8");
  writeFileSync(p("fullchain.crt"), leaf + readFileSync(p("ca.crt"), "utf8"));
  for (const f of ["ca.crt", "server.crt", "fullchain.crt", "server.key"]) chmodSync(p(f), 0o644);
  const sha256 = createHash("sha256").update(new X509Certificate(leaf).raw).digest("hex");
  return { dir, ca: p("ca.crt"), cert: p("server.crt"), key: p("server.key"), fullchain: p("fullchain.crt"), cn, sha256 };
}
