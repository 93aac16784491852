import { describe, expect, test } from "bun:test";
import { type TSchema, Type as t } from "@sinclair/typebox";
import { type DecodeOptions, decode, toJsonSchema } from "../../src/config/decode.ts";
import { type ConfigIssue, formatIssue } from "../../src/config/issues.ts";
import { editDistance, suggest } from "../../src/config/suggest.ts";
import { parseYaml } from "../../src/config/yaml.ts";

/** Parse `yaml`, decode the subtree at `path` with `schema`; returns the result and all issues. */
function run(
  schema: TSchema,
  yaml: string,
  path: string,
  mode: DecodeOptions["mode"],
  underscoreAsDash = false,
): { value: unknown; issues: ConfigIssue[] } {
  const parsed = parseYaml(yaml);
  expect(parsed.issues).toEqual([]);
  let node: unknown = parsed.value;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    node = (node as Record<string, unknown>)[part];
  }
  const issues: ConfigIssue[] = [];
  const value = decode(schema, node, { mode, underscoreAsDash, path, positions: parsed.positions, issues });
  return { value, issues };
}

const errors = (issues: ConfigIssue[]) => issues.filter((i) => i.severity === "error");
const warnings = (issues: ConfigIssue[]) => issues.filter((i) => i.severity === "warning");

describe("weak mode: numbers landing in string fields (config.md §1.2 point 7)", () => {
  const ProxySchema = t.Object({
    name: t.String(),
    password: t.Optional(t.String()),
    "short-id": t.Optional(t.String()),
  });

  test.each([
    ["password: 0123", "password", "83"],
    ["short-id: 01234567", "short-id", "342391"],
    ["password: 08", "password", "8E+00"],
    ["short-id: 1e5", "short-id", "1E+05"],
    ["password: 1_000", "password", "1000"],
    ["password: 0x1bb", "password", "443"],
  ])("%s", (line, key, expected) => {
    const { value, issues } = run(t.Object({ p: ProxySchema }), `p:\n  name: a\n  ${line}\n`, "", "weak");
    expect((value as { p: Record<string, string> }).p[key]).toBe(expected);
    expect(errors(issues)).toEqual([]);
    // Every one of these changed the text, so each warns.
    expect(warnings(issues)).toMatchObject([{ code: "decode.number-as-string", path: `p.${key}`, line: 3 }]);
  });

  test("ints past 2^53 keep their exact digits", () => {
    const { value, issues } = run(ProxySchema, "name: 12345678901234567890\npassword: 9007199254740993\n", "", "weak");
    expect(value).toEqual({ name: "12345678901234567890", password: "9007199254740993" });
    expect(issues).toEqual([]);
  });

  test("numbers whose text survives do not warn; quoted text is untouched", () => {
    const { value, issues } = run(ProxySchema, "name: 443\npassword: '0123'\nshort-id: 8\n", "", "weak");
    expect(value).toEqual({ name: "443", password: "0123", "short-id": "8" });
    expect(issues).toEqual([]);
  });

  test("a boolean is not a string", () => {
    const { value, issues } = run(ProxySchema, "name: true\n", "", "weak");
    expect(value).toBeUndefined();
    expect(issues).toMatchObject([{ code: "decode.type", path: "name", message: "expected a string, got true" }]);
  });
});

describe("weak mode conversions", () => {
  const S = t.Object({
    port: t.Optional(t.Integer()),
    udp: t.Optional(t.Boolean()),
    up: t.Optional(t.Number()),
    list: t.Optional(t.Array(t.String())),
    either: t.Optional(t.Union([t.String(), t.Array(t.String())])),
    headers: t.Optional(t.Record(t.String(), t.String())),
  });

  test("string → int with base prefixes, float → int truncates", () => {
    expect(run(S, "port: '443'\n", "", "weak").value).toEqual({ port: 443 });
    expect(run(S, 'port: "0x1bb"\n', "", "weak").value).toEqual({ port: 443 });
    expect(run(S, "port: 443.9\n", "", "weak").value).toEqual({ port: 443 });
    expect(run(S, "up: '1.5'\n", "", "weak").value).toEqual({ up: 1.5 });
  });

  test("ints that a JS number cannot hold exactly are refused, not rounded", () => {
    expect(run(S, "port: 9007199254740993\n", "", "weak").issues).toMatchObject([
      { code: "decode.range", path: "port", message: "integer 9007199254740993 is out of range" },
    ]);
    expect(run(S, "port: '12345678901234567'\n", "", "weak").issues).toMatchObject([{ code: "decode.range" }]);
  });

  test("int → bool; a string is never a bool, not even yes/true", () => {
    expect(run(S, "udp: 1\n", "", "weak").value).toEqual({ udp: true });
    expect(run(S, "udp: 0\n", "", "weak").value).toEqual({ udp: false });
    for (const v of ['"true"', "yes", "on", "'1'"]) {
      const { value, issues } = run(S, `udp: ${v}\n`, "", "weak");
      expect(value).toBeUndefined();
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatchObject({ code: "decode.type", path: "udp" });
    }
    expect(run(S, 'udp: "true"\n', "", "weak").issues[0]?.message).toBe('expected a boolean, got string "true"');
  });

  test("lists must be sequences; nulls inside are skipped", () => {
    const bad = run(S, "list: a\n", "", "weak");
    expect(bad.value).toBeUndefined();
    expect(bad.issues).toMatchObject([{ code: "decode.type", path: "list", message: "expected a list, got a string" }]);
    expect(run(S, "list: [a, ~, b, 1]\n", "", "weak").value).toEqual({ list: ["a", "b", "1"] });
  });

  test("string-or-list unions take either", () => {
    expect(run(S, "either: a\n", "", "weak").value).toEqual({ either: "a" });
    expect(run(S, "either: [a, b]\n", "", "weak").value).toEqual({ either: ["a", "b"] });
    const bad = run(S, "either: [a, {x: 1}]\n", "", "weak");
    // The list member had the right shape, so its inner error is the one reported.
    expect(bad.issues).toMatchObject([{ path: "either[1]", message: "expected a string, got a map" }]);
    expect(run(S, "either: {x: 1}\n", "", "weak").issues[0]?.message).toBe("expected a string or a list, got a map");
  });

  test("null map values are errors", () => {
    const { value, issues } = run(S, "headers:\n  Host: example.com\n  X-Empty:\n", "", "weak");
    expect(value).toBeUndefined();
    expect(issues).toMatchObject([{ code: "decode.null", path: "headers.X-Empty", line: 3 }]);
  });
});

describe("weak mode key matching", () => {
  const ProxySchema = t.Object({
    name: t.String(),
    "skip-cert-verify": t.Optional(t.Boolean()),
    alterId: t.Optional(t.Integer()),
  });

  test("exact, then case-insensitive", () => {
    const { value, issues } = run(ProxySchema, "NAME: a\nSkip-Cert-Verify: true\nalterid: 0\n", "", "weak");
    expect(value).toEqual({ name: "a", "skip-cert-verify": true, alterId: 0 });
    expect(issues).toEqual([]);
  });

  test("an exact key beats a case-insensitive one", () => {
    const { value, issues } = run(ProxySchema, "Name: b\nname: a\n", "", "weak");
    expect(value).toEqual({ name: "a" });
    expect(issues).toMatchObject([{ code: "config.unknown-key", path: "Name", hint: 'did you mean "name"?' }]);
  });

  test("underscore = dash only when enabled", () => {
    const on = run(ProxySchema, "name: a\nskip_cert_verify: true\nalter_id: 2\n", "", "weak", true);
    expect(on.value).toEqual({ name: "a", "skip-cert-verify": true });
    // `alter_id` → `alter-id`, which is not `alterid`: no camelCase folding.
    expect(on.issues).toMatchObject([{ code: "config.unknown-key", path: "alter_id" }]);

    const off = run(ProxySchema, "name: a\nskip_cert_verify: true\n", "", "weak", false);
    expect(off.value).toEqual({ name: "a" });
    expect(off.issues).toMatchObject([
      { severity: "warning", code: "config.unknown-key", path: "skip_cert_verify", hint: 'did you mean "skip-cert-verify"?' },
    ]);
  });

  test("strict mode matches keys exactly", () => {
    const { value, issues } = run(t.Object({ port: t.Optional(t.Integer()) }), "Port: 1\n", "", "strict");
    expect(value).toEqual({});
    expect(issues).toMatchObject([{ severity: "warning", path: "Port", hint: 'did you mean "port"?' }]);
  });
});

describe("required keys and defaults", () => {
  const Group = t.Object({
    name: t.String(),
    type: t.String(),
    interval: t.Optional(t.Integer()),
    lazy: t.Boolean({ default: true }),
    url: t.Optional(t.String()),
  });

  test("missing or null required keys", () => {
    const { value, issues } = run(Group, "g:\n  name: a\n  type: ~\n", "g", "weak");
    expect(value).toBeUndefined();
    expect(issues).toEqual([
      { severity: "error", code: "decode.missing", path: "g.type", line: 2, column: 3, message: "missing required key" },
    ]);
  });

  test("defaults fill missing and null keys; optional keys stay absent", () => {
    expect(run(Group, "name: a\ntype: select\n", "", "weak").value).toEqual({ name: "a", type: "select", lazy: true });
    expect(run(Group, "name: a\ntype: select\nlazy:\nurl:\n", "", "weak").value).toEqual({
      name: "a",
      type: "select",
      lazy: true,
    });
  });

  test("defaults are copies", () => {
    const S = t.Object({ list: t.Array(t.String(), { default: ["x"] }) });
    const a = decode(S, {}, { mode: "strict", path: "", positions: new Map(), issues: [] });
    a?.list.push("y");
    expect(decode(S, {}, { mode: "strict", path: "", positions: new Map(), issues: [] })).toEqual({ list: ["x"] });
  });

  test("a null section decodes like an empty one", () => {
    const S = t.Object({ enable: t.Boolean({ default: false }) });
    expect(decode(S, null, { mode: "strict", path: "dns", positions: new Map(), issues: [] })).toEqual({ enable: false });
    expect(decode(t.Array(t.String()), null, { mode: "weak", path: "proxies", positions: new Map(), issues: [] })).toEqual([]);
  });
});

describe("strict mode (typed sections)", () => {
  const General = t.Object({
    port: t.Optional(t.Integer({ minimum: 0, maximum: 65535 })),
    "allow-lan": t.Optional(t.Boolean()),
    ipv6: t.Optional(t.Boolean()),
    secret: t.Optional(t.String()),
    mode: t.Optional(t.Union([t.Literal("rule"), t.Literal("global"), t.Literal("direct")], { caseInsensitive: true })),
    "find-process-mode": t.Optional(t.Union([t.Literal("always"), t.Literal("strict"), t.Literal("off")])),
  });

  test("a quoted number for an int is an error", () => {
    const { value, issues } = run(General, 'port: "7890"\n', "", "strict");
    expect(value).toBeUndefined();
    expect(issues).toEqual([
      {
        severity: "error",
        code: "decode.type",
        path: "port",
        line: 1,
        column: 7,
        message: 'expected an integer, got string "7890"',
        hint: "remove the quotes",
      },
    ]);
  });

  test("ranges", () => {
    expect(run(General, "port: 70000\n", "", "strict").issues).toMatchObject([
      { code: "decode.range", message: "expected an integer between 0 and 65535, got 70000" },
    ]);
  });

  test("YAML 1.1 booleans in their usual casings", () => {
    for (const [text, expected] of [
      ["yes", true],
      ["Yes", true],
      ["ON", true],
      ["y", true],
      ["off", false],
      ["No", false],
      ["N", false],
      ["true", true],
      ["False", false],
    ] as const) {
      const { value, issues } = run(General, `allow-lan: ${text}\n`, "", "strict");
      expect(issues).toEqual([]);
      expect(value).toEqual({ "allow-lan": expected });
    }
  });

  test("a quoted true and odd casings are not booleans; numbers are not either", () => {
    expect(run(General, 'ipv6: "true"\n', "", "strict").issues[0]?.message).toBe('expected a boolean, got string "true"');
    expect(run(General, "ipv6: yEs\n", "", "strict").issues).toHaveLength(1);
    expect(run(General, "ipv6: 1\n", "", "strict").issues[0]?.message).toBe("expected a boolean, got 1");
  });

  test("a string field receives the scalar text as written", () => {
    expect(run(General, "secret: 0123\n", "", "strict")).toEqual({ value: { secret: "0123" }, issues: [] });
    expect(run(General, "secret: 1e5\n", "", "strict").value).toEqual({ secret: "1e5" });
    expect(run(General, "secret: True\n", "", "strict").value).toEqual({ secret: "True" });
  });

  test("case-insensitive enums return the canonical literal", () => {
    expect(run(General, "mode: Rule\n", "", "strict").value).toEqual({ mode: "rule" });
    expect(run(General, "mode: GLOBAL\n", "", "strict").value).toEqual({ mode: "global" });
  });

  test("enum errors list the choices and suggest", () => {
    expect(run(General, "mode: script\n", "", "strict").issues).toEqual([
      {
        severity: "error",
        code: "decode.enum",
        path: "mode",
        line: 1,
        column: 7,
        message: "expected one of rule, global, direct, got \"script\"",
      },
    ]);
    // Not case-insensitive: `Strict` is wrong, and the hint says what was meant.
    expect(run(General, "find-process-mode: Strict\n", "", "strict").issues).toMatchObject([
      { code: "decode.enum", hint: 'did you mean "strict"?' },
    ]);
    expect(run(General, "mode: [rule]\n", "", "strict").issues[0]?.message).toBe(
      "expected one of rule, global, direct, got a list",
    );
  });
});

describe("unknown keys", () => {
  const Top = t.Object({
    port: t.Optional(t.Integer()),
    "proxy-groups": t.Optional(t.Array(t.Any())),
    rules: t.Optional(t.Array(t.String())),
    "skip-cert-verify": t.Optional(t.Boolean()),
    extra: t.Optional(t.Object({ a: t.Optional(t.String()) }, { additionalProperties: true })),
    hosts: t.Optional(t.Record(t.String(), t.Any())),
  });

  test("warned with did-you-mean, left out of the result", () => {
    const { value, issues } = run(Top, "proxy-group: []\nrule: [MATCH,DIRECT]\nskip-cert-verfy: true\nzzz: 1\n", "", "strict");
    expect(value).toEqual({});
    expect(issues).toEqual([
      {
        severity: "warning",
        code: "config.unknown-key",
        path: "proxy-group",
        line: 1,
        column: 14,
        message: 'unknown key "proxy-group"',
        hint: 'did you mean "proxy-groups"?',
      },
      {
        severity: "warning",
        code: "config.unknown-key",
        path: "rule",
        line: 2,
        column: 7,
        message: 'unknown key "rule"',
        hint: 'did you mean "rules"?',
      },
      {
        severity: "warning",
        code: "config.unknown-key",
        path: "skip-cert-verfy",
        line: 3,
        column: 18,
        message: 'unknown key "skip-cert-verfy"',
        hint: 'did you mean "skip-cert-verify"?',
      },
      { severity: "warning", code: "config.unknown-key", path: "zzz", line: 4, column: 6, message: 'unknown key "zzz"' },
    ]);
  });

  test("open objects and records keep every key silently", () => {
    const { value, issues } = run(Top, "extra: {a: x, b: 2}\nhosts: {'*.a.com': 1.2.3.4, b.com: [1.1.1.1]}\n", "", "strict");
    expect(issues).toEqual([]);
    expect(value).toEqual({ extra: { a: "x", b: 2 }, hosts: { "*.a.com": "1.2.3.4", "b.com": ["1.1.1.1"] } });
  });
});

describe("paths and positions in messages", () => {
  test('proxy-groups[2].interval: expected an integer, got "5m"', () => {
    const yaml = [
      "proxy-groups:",
      "  - name: a",
      "    type: select",
      "    proxies: [DIRECT]",
      "  - name: b",
      "    type: select",
      "    proxies: [DIRECT]",
      "  - name: auto",
      "    type: url-test",
      "    proxies: [DIRECT]",
      "    interval: 5m",
      "",
    ].join("\n");
    const Group = t.Object({
      name: t.String(),
      type: t.String(),
      proxies: t.Optional(t.Array(t.String())),
      interval: t.Optional(t.Integer()),
    });
    const parsed = parseYaml(yaml);
    const groups = (parsed.value as { "proxy-groups": unknown[] })["proxy-groups"];
    const issues: ConfigIssue[] = [];
    const decoded = groups.map((g, i) =>
      decode(Group, g, { mode: "weak", path: `proxy-groups[${i}]`, positions: parsed.positions, issues }),
    );
    expect(decoded[0]).toEqual({ name: "a", type: "select", proxies: ["DIRECT"] });
    expect(decoded[2]).toBeUndefined();
    expect(issues.map(formatIssue)).toEqual(['proxy-groups[2].interval (line 11:15): expected an integer, got "5m"']);
  });

  test("nested objects decode with the same mode and report full paths", () => {
    const S = t.Object({
      "ws-opts": t.Optional(
        t.Object({ path: t.Optional(t.String()), headers: t.Optional(t.Record(t.String(), t.String())) }),
      ),
    });
    const { value, issues } = run(t.Object({ proxies: t.Array(S) }), "proxies:\n  - WS-Opts:\n      PATH: 1\n      headers: {Host: [x]}\n", "", "weak");
    expect(value).toBeUndefined();
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      severity: "error",
      code: "decode.type",
      path: "proxies[0].WS-Opts.headers.Host",
      line: 4,
      message: "expected a string, got a list",
    });
  });

  test("unions of objects report the closest member's errors", () => {
    const A = t.Object({ kind: t.Literal("a"), n: t.Integer() });
    const B = t.Object({ kind: t.Literal("b"), s: t.String() });
    const { issues } = run(t.Union([A, B]), "kind: a\nn: x\n", "", "weak");
    expect(issues.map(formatIssue)).toContain('n (line 2:4): expected an integer, got "x"');
  });
});

describe("suggest", () => {
  test("distance counts transpositions as one edit", () => {
    expect(editDistance("verfiy", "verify")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });

  test("close keys are suggested, far ones are not", () => {
    const keys = ["proxy-groups", "rules", "port", "mixed-port", "dns"];
    expect(suggest("proxy-group", keys)).toBe("proxy-groups");
    expect(suggest("rule", keys)).toBe("rules");
    expect(suggest("PORT", keys)).toBe("port");
    expect(suggest("mixed_port", keys)).toBe("mixed-port");
    expect(suggest("completely-different", keys)).toBeUndefined();
    expect(suggest("tls", ["udp"])).toBeUndefined();
  });
});

test("toJsonSchema drops TypeBox internals", () => {
  const json = toJsonSchema(t.Object({ a: t.Optional(t.Integer()) }));
  expect(json).toEqual({ type: "object", properties: { a: { type: "integer" } } });
  expect(Object.getOwnPropertySymbols(json)).toEqual([]);
});
