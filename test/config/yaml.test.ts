import { describe, expect, test } from "bun:test";
import { formatGoFloatE, parseGoFloat, parseGoInt } from "../../src/config/gonum.ts";
import { ConfigError, formatIssue, keyPath } from "../../src/config/issues.ts";
import { parseYaml, resolvePlain } from "../../src/config/yaml.ts";

/** Parse and insist there were no issues. */
function clean(text: string): Record<string, unknown> {
  const r = parseYaml(text);
  expect(r.issues).toEqual([]);
  return r.value as Record<string, unknown>;
}

describe("plain scalars resolve like go-yaml v3", () => {
  test.each([
    ["0123", 83],
    ["01234567", 342391],
    ["08", 8],
    ["1e5", 100000],
    ["1_000", 1000],
    ["0x1bb", 443],
    ["0o17", 15],
    ["0b101", 5],
    ["-0b101", -5],
    ["+5", 5],
    ["-0", 0],
    [".5", 0.5],
    ["1.", 1],
    ["12", 12],
  ])("%s is the number %d", (text, expected) => {
    expect(resolvePlain(text).value).toBe(expected);
  });

  test("ints and floats stay apart, with Go's text for each", () => {
    expect(resolvePlain("0123")).toEqual({ kind: "int", value: 83, text: "83" });
    expect(resolvePlain("08")).toEqual({ kind: "float", value: 8, text: "8E+00" });
    expect(resolvePlain("1e5")).toEqual({ kind: "float", value: 100000, text: "1E+05" });
    // Too big for int64 but fits uint64: still an int, and the exact digits survive in `text`.
    expect(resolvePlain("12345678901234567890")).toMatchObject({ kind: "int", text: "12345678901234567890" });
    // Past uint64 it falls to float, as in Go.
    expect(resolvePlain("99999999999999999999")).toEqual({ kind: "float", value: 1e20, text: "1E+20" });
  });

  test("special floats", () => {
    expect(resolvePlain(".inf").value).toBe(Number.POSITIVE_INFINITY);
    expect(resolvePlain("-.Inf").value).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(resolvePlain(".NaN").value)).toBe(true);
    // Not in go-yaml's table: a string.
    expect(resolvePlain(".iNf").value).toBe(".iNf");
  });

  test.each(["true", "True", "TRUE"])("%s is true", (t) => expect(resolvePlain(t).value).toBe(true));
  test.each(["false", "False", "FALSE"])("%s is false", (t) => expect(resolvePlain(t).value).toBe(false));
  test.each(["null", "Null", "NULL", "~", ""])("%j is null", (t) => expect(resolvePlain(t).value).toBeNull());
  test.each(["yes", "no", "on", "off", "y", "n", "tRUE", "nULL", "0x", "1e400", "2024-01-01", "1.2.3.4", "-", "5m"])(
    "%s stays a string",
    (t) => expect(resolvePlain(t)).toEqual({ kind: "string", value: t }),
  );
});

describe("Go strconv helpers", () => {
  test("ParseInt base 0", () => {
    expect(parseGoInt("0x_1F")).toBe(31n);
    expect(parseGoInt("1__0")).toBeUndefined();
    expect(parseGoInt("_10")).toBeUndefined();
    expect(parseGoInt("10_")).toBeUndefined();
    expect(parseGoInt("09")).toBeUndefined();
    expect(parseGoInt("9223372036854775807")).toBe(9223372036854775807n);
    expect(parseGoInt("9223372036854775808")).toBeUndefined();
    expect(parseGoInt("-9223372036854775808")).toBe(-9223372036854775808n);
    expect(parseGoInt("")).toBeUndefined();
    expect(parseGoInt("+")).toBeUndefined();
  });

  test("ParseFloat", () => {
    expect(parseGoFloat("1.5")).toBe(1.5);
    expect(parseGoFloat("-Inf")).toBe(Number.NEGATIVE_INFINITY);
    expect(parseGoFloat("1e400")).toBeUndefined();
    expect(parseGoFloat("abc")).toBeUndefined();
  });

  test("FormatFloat 'E' -1", () => {
    expect(formatGoFloatE(8)).toBe("8E+00");
    expect(formatGoFloatE(1e5)).toBe("1E+05");
    expect(formatGoFloatE(1.5)).toBe("1.5E+00");
    expect(formatGoFloatE(0.001)).toBe("1E-03");
    expect(formatGoFloatE(1e100)).toBe("1E+100");
    expect(formatGoFloatE(-0)).toBe("-0E+00");
    expect(formatGoFloatE(Number.POSITIVE_INFINITY)).toBe("+Inf");
  });
});

describe("parseYaml values", () => {
  test("typing of a mapping: quoted stays a string, YAML 1.1 booleans stay strings", () => {
    const v = clean("a: 0123\nb: '0123'\nc: \"08\"\nd: yes\ne: on\nf: true\ng: ~\nh:\ni: |\n  12\n");
    expect(v).toEqual({ a: 83, b: "0123", c: "08", d: "yes", e: "on", f: true, g: null, h: null, i: "12\n" });
  });

  test("explicit !!str keeps the text", () => {
    expect(clean("a: !!str 0123\n")).toEqual({ a: "0123" });
  });

  test("keys become strings and keep their order", () => {
    const v = clean("zeta: 1\n1: one\nalpha: 2\n0x10: hex\n");
    expect(v["1"]).toBe("one");
    expect(v["0x10"]).toBe("hex");
    expect(Object.keys(v).filter((k) => k !== "1")).toEqual(["zeta", "alpha", "0x10"]);
  });

  test("a whole config may be JSON (tabs inside flow collections are fine)", () => {
    const v = clean('{\n\t"port": 7890,\n\t"mode": "rule",\n\t"proxies": [{"name": "a", "port": "443"}]\n}\n');
    expect(v).toEqual({ port: 7890, mode: "rule", proxies: [{ name: "a", port: "443" }] });
  });

  test("a literal __proto__ key is an own property", () => {
    const v = clean("__proto__: x\n");
    expect(Object.hasOwn(v, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });
});

describe("anchors, aliases and merge keys", () => {
  test("alias copies the anchored value", () => {
    expect(clean("a: &x [1, 2]\nb: *x\n")).toEqual({ a: [1, 2], b: [1, 2] });
  });

  test("explicit keys win over merged ones, wherever they are written", () => {
    const v = clean("p: &p {type: ss, port: 1, udp: true}\nq:\n  port: 2\n  <<: *p\n  name: q\n");
    expect(v.q).toEqual({ port: 2, type: "ss", udp: true, name: "q" });
  });

  test("merge list: the earlier source wins", () => {
    const v = clean("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n");
    expect(v.c).toEqual({ x: 1, y: 1, z: 3 });
  });

  test("nested merges", () => {
    const v = clean("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n");
    expect(v.c).toEqual({ x: 1, y: 2, z: 3 });
  });

  test("keys produced by merges are not duplicates", () => {
    const r = parseYaml("a: &a {x: 1, y: 1}\nb: &b {x: 2}\nc:\n  <<: [*a, *b]\n  x: 3\n");
    expect(r.issues).toEqual([]);
  });

  test("a quoted << is an ordinary key", () => {
    expect(clean("a: {x: 1}\nb: {'<<': 5}\n").b).toEqual({ "<<": 5 });
  });

  test("merging a scalar is an error", () => {
    const r = parseYaml("a: 1\nb:\n  <<: {}\nc:\n  <<: 5\n");
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({ code: "yaml.syntax", path: "c", line: 5, column: 7 });
  });

  test("unknown anchor and self-reference are errors", () => {
    expect(parseYaml("a: *nope\n").issues[0]).toMatchObject({
      code: "yaml.syntax",
      path: "a",
      line: 1,
      column: 4,
      message: "unknown anchor 'nope' referenced",
    });
    expect(parseYaml("a: &a [1, *a]\n").issues[0]?.message).toBe("anchor 'a' value contains itself");
    expect(parseYaml("a: &a {<<: *a}\n").issues[0]?.message).toBe("anchor 'a' value contains itself");
  });

  test("an alias bomb is stopped", () => {
    let text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (let i = 1; i < 9; i++) {
      const prev = `*a${i - 1}`;
      text += `a${i}: &a${i} [${Array(10).fill(prev).join(", ")}]\n`;
    }
    const r = parseYaml(text);
    expect(r.issues.map((i) => i.message)).toContain("document contains excessive aliasing");
  });
});

describe("errors", () => {
  test("duplicate keys at any depth, with line numbers", () => {
    const r = parseYaml("port: 1\nmode: rule\nport: 2\ndns:\n  enable: true\n  enable: false\nhosts:\n  a.com: 1.1.1.1\n  'a.com': 2.2.2.2\n");
    expect(r.issues).toEqual([
      { severity: "error", code: "yaml.duplicate-key", path: "port", line: 3, column: 1, message: 'mapping key "port" already defined at line 1' },
      {
        severity: "error",
        code: "yaml.duplicate-key",
        path: "dns.enable",
        line: 6,
        column: 3,
        message: 'mapping key "enable" already defined at line 5',
      },
      {
        severity: "error",
        code: "yaml.duplicate-key",
        path: 'hosts["a.com"]',
        line: 9,
        column: 3,
        message: 'mapping key "a.com" already defined at line 8',
      },
    ]);
    expect((r.value as { port: number }).port).toBe(1);
  });

  test("a duplicate inside an anchored map used many times is reported once", () => {
    const r = parseYaml("p: &p {a: 1, a: 2}\nq: *p\nr: {<<: *p}\n");
    expect(r.issues.filter((i) => i.code === "yaml.duplicate-key")).toHaveLength(1);
  });

  test("tabs for indentation", () => {
    const r = parseYaml("dns:\n\tenable: true\n");
    expect(r.issues[0]).toMatchObject({ severity: "error", code: "yaml.syntax", line: 2, column: 1 });
    expect(r.issues[0]?.message).toContain("Tabs");
  });

  test.each([
    ["bad indentation", "a:\n  b: 1\n c: 2\n", 3],
    ["unclosed quote", "a: 'x\nb: 1\n", 3],
    ["unclosed flow", "a: [1, 2\nb: 3\n", 2],
  ])("%s", (_name, text, line) => {
    const r = parseYaml(text);
    expect(r.issues.length).toBeGreaterThan(0);
    expect(r.issues[0]).toMatchObject({ severity: "error", code: "yaml.syntax", line });
  });

  test.each(["", "   \n\n", "# just a comment\n", "---\n"])("empty file %j", (text) => {
    const r = parseYaml(text);
    expect(r.issues).toEqual([{ severity: "error", code: "yaml.empty", path: "", message: "configuration file is empty" }]);
  });

  test("only the first document is read", () => {
    const r = parseYaml("a: 1\n---\nb: 2\n");
    expect(r.value).toEqual({ a: 1 });
    expect(r.issues).toMatchObject([{ severity: "warning", code: "yaml.multi-document", line: 2 }]);
  });
});

describe("positions", () => {
  const text = [
    "proxies:", // 1
    "  - name: a", // 2
    "    cipher: aes-128-gcm", // 3
    "    password: 0123", // 4
    "dns:", // 5
    "  nameserver: [1.1.1.1, 'tls://8.8.8.8']", // 6
    "hosts:", // 7
    "  '*.example.com': 127.0.0.1", // 8
    "base: &b {udp: true}", // 9
    "p: {<<: *b, tfo: 1}", // 10
  ].join("\n");
  const { positions } = parseYaml(text);

  test("paths map to value positions, with the source text of plain scalars", () => {
    expect(positions.get("proxies[0].cipher")).toEqual({ line: 3, column: 13, source: "aes-128-gcm" });
    expect(positions.get("proxies[0].password")).toEqual({ line: 4, column: 15, source: "0123" });
    expect(positions.get("dns.nameserver[0]")).toEqual({ line: 6, column: 16, source: "1.1.1.1" });
    // Quoted: no source.
    expect(positions.get("dns.nameserver[1]")).toEqual({ line: 6, column: 25 });
    expect(positions.get('hosts["*.example.com"]')).toMatchObject({ line: 8, column: 20 });
    expect(positions.get("proxies[0]")).toEqual({ line: 2, column: 5 });
  });

  test("merged values point at the anchored node", () => {
    expect(positions.get("p.udp")).toEqual({ line: 9, column: 16, source: "true" });
    expect(positions.get("p.tfo")).toEqual({ line: 10, column: 18, source: "1" });
  });
});

describe("issues", () => {
  test("paths quote keys that are not plain identifiers", () => {
    expect(keyPath("", "port")).toBe("port");
    expect(keyPath("hosts", "*.example.com")).toBe('hosts["*.example.com"]');
    expect(keyPath("proxy-providers", "机场")).toBe("proxy-providers.机场");
    expect(keyPath("a", "with space")).toBe('a["with space"]');
  });

  test("format", () => {
    expect(
      formatIssue({ severity: "error", code: "x", path: "proxy-groups[2].interval", line: 41, column: 15, message: "m" }),
    ).toBe("proxy-groups[2].interval (line 41:15): m");
    expect(formatIssue({ severity: "warning", code: "x", path: "rule", message: "unknown key", hint: 'did you mean "rules"?' })).toBe(
      'rule: unknown key (did you mean "rules"?)',
    );
    expect(formatIssue({ severity: "error", code: "x", path: "", line: 2, column: 1, message: "tabs" })).toBe("line 2:1: tabs");
    expect(formatIssue({ severity: "error", code: "x", path: "", message: "empty" })).toBe("empty");
  });

  test("ConfigError lists the errors only, one per line", () => {
    const e = new ConfigError([
      { severity: "error", code: "a", path: "port", line: 1, column: 7, message: "bad" },
      { severity: "warning", code: "b", path: "rule", message: "unknown key" },
      { severity: "error", code: "c", path: "mode", message: "worse" },
    ]);
    expect(e.message).toBe("port (line 1:7): bad\nmode: worse");
    expect(e.issues).toHaveLength(3);
  });
});
