import { describe, expect, test } from "bun:test";
import { inUintRanges, parseUintRanges } from "../../plugins/rule/uint-ranges.ts";
import type { Metadata } from "../../src/sdk/index.ts";
import { matches, parse } from "./helpers.ts";

type Case = [line: string, init: Partial<Metadata>, expected: boolean];

function table(name: string, cases: Case[]): void {
  describe(name, () => {
    test.each(cases)("%s with %o → %p", (line, init, expected) => {
      expect(matches(line, init)).toBe(expected);
    });
  });
}

const curl = { process: "curl", processPath: "/usr/bin/curl" };

table("PROCESS-NAME", [
  ["PROCESS-NAME,curl,X", curl, true],
  // Case-insensitive, whole name.
  ["PROCESS-NAME,CuRL,X", curl, true],
  ["PROCESS-NAME,cur,X", curl, false],
  ["PROCESS-NAME,/usr/bin/curl,X", curl, false],
  ["PROCESS-NAME,curl,X", {}, false],
  // As mihomo: an empty name is equal to the name of a process that was not found.
  ["PROCESS-NAME,,X", {}, true],
  ["PROCESS-NAME,,X", curl, false],
]);

table("PROCESS-PATH", [
  ["PROCESS-PATH,/usr/bin/curl,X", curl, true],
  ["PROCESS-PATH,/USR/BIN/CURL,X", curl, true],
  ["PROCESS-PATH,curl,X", curl, false],
  ["PROCESS-PATH,/usr/bin/curl,X", {}, false],
]);

table("PROCESS-NAME-REGEX / PROCESS-PATH-REGEX", [
  // Unanchored, case-insensitive; a leading (?i) is accepted.
  ["PROCESS-NAME-REGEX,ur,X", curl, true],
  ["PROCESS-NAME-REGEX,^CURL$,X", curl, true],
  ["PROCESS-NAME-REGEX,(?i)^curl$,X", curl, true],
  ["PROCESS-NAME-REGEX,^url,X", curl, false],
  ["PROCESS-PATH-REGEX,.*bin/cu,X", curl, true],
  ["PROCESS-PATH-REGEX,^/usr/local,X", curl, false],
  // The payload may contain commas.
  ["PROCESS-NAME-REGEX,^c.{1,3}$,X", curl, true],
  // Tested against "" too when no process was found.
  ["PROCESS-NAME-REGEX,.*,X", {}, true],
  ["PROCESS-NAME-REGEX,.+,X", {}, false],
]);

table("PROCESS-NAME-WILDCARD / PROCESS-PATH-WILDCARD", [
  ["PROCESS-NAME-WILDCARD,*url,X", curl, true],
  ["PROCESS-NAME-WILDCARD,c?rl,X", curl, true],
  ["PROCESS-NAME-WILDCARD,C*,X", curl, true],
  // Whole name: no implicit stars; ? is exactly one character.
  ["PROCESS-NAME-WILDCARD,ur,X", curl, false],
  ["PROCESS-NAME-WILDCARD,c?url,X", curl, false],
  // Regex characters are literal.
  ["PROCESS-NAME-WILDCARD,c.rl,X", curl, false],
  ["PROCESS-NAME-WILDCARD,a.b+c,X", { process: "a.b+c" }, true],
  ["PROCESS-PATH-WILDCARD,/usr/*/curl,X", curl, true],
  ["PROCESS-PATH-WILDCARD,/usr/*,X", curl, true],
  ["PROCESS-PATH-WILDCARD,/opt/*,X", curl, false],
  ["PROCESS-NAME-WILDCARD,*,X", {}, true],
]);

table("UID", [
  ["UID,1000,X", { uid: 1000 }, true],
  ["UID,1000,X", { uid: 1001 }, false],
  ["UID,1000-1999,X", { uid: 1500 }, true],
  // Reversed bounds are swapped; items split on /.
  ["UID,1999-1000,X", { uid: 1999 }, true],
  ["UID,33/1000-1999,X", { uid: 33 }, true],
  ["UID,33/1000-1999,X", { uid: 2000 }, false],
  ["UID,[1000]-[1001],X", { uid: 1001 }, true],
  ["UID,4294967295,X", { uid: 4294967295 }, true],
  // 0 means "unknown" in mihomo: it never matches.
  ["UID,0-100,X", { uid: 0 }, false],
]);

table("DSCP", [
  ["DSCP,4,X", { dscp: 4 }, true],
  ["DSCP,4,X", { dscp: 5 }, false],
  ["DSCP,8-15/46,X", { dscp: 46 }, true],
  // A proxy inbound's connection has DSCP 0, as in mihomo for a SOCKS connection.
  ["DSCP,0,X", {}, true],
  ["DSCP,46,X", {}, false],
  // mihomo: no ranges match every value.
  ["DSCP,*,X", { dscp: 63 }, true],
]);

describe("payload errors", () => {
  test.each([
    ["PROCESS-NAME-REGEX,[a-,X", /invalid regex/],
    ["PROCESS-PATH-REGEX,(,X", /invalid regex/],
    ["UID,,X", /UID needs uids/],
    ["UID,*,X", /UID needs uids/],
    ["UID,abc,X", /invalid uid "abc"/],
    ["UID,-5,X", /invalid uid/],
    ["UID,1-2-3,X", /invalid uid range "1-2-3"/],
    ["UID,4294967296,X", /uid 4294967296 out of range/],
    [`UID,${Array.from({ length: 29 }, (_, i) => i + 1).join("/")},X`, /too many uid ranges/],
    ["DSCP,64,X", /DSCP 64 out of range 0-63/],
    ["DSCP,0-300,X", /DSCP 300 out of range/],
    ["DSCP,ef,X", /invalid DSCP "ef"/],
  ])("%s", (line, error) => {
    expect(() => parse(line)).toThrow(error);
  });
});

describe("runtime types and lookup flags", () => {
  test.each([
    ["PROCESS-NAME,curl,X", "ProcessName"],
    ["PROCESS-PATH,/usr/bin/curl,X", "ProcessPath"],
    ["PROCESS-NAME-REGEX,curl,X", "ProcessNameRegex"],
    ["PROCESS-PATH-REGEX,curl,X", "ProcessPathRegex"],
    ["PROCESS-NAME-WILDCARD,c*,X", "ProcessNameWildcard"],
    ["PROCESS-PATH-WILDCARD,/usr/*,X", "ProcessPathWildcard"],
    ["UID,1000,X", "Uid"],
  ])("%s is %s and needs the process, not the IP", (line, type) => {
    const { rule } = parse(line);
    expect(rule.type).toBe(type);
    expect(rule.needsProcess).toBe(true);
    expect(rule.needsIp).toBe(false);
  });

  test("DSCP needs neither; payloads are shown as written", () => {
    const { rule } = parse("DSCP,8-15/46,X");
    expect(rule.type).toBe("DSCP");
    expect(rule.needsProcess).toBeFalsy();
    expect(rule.payload).toBe("8-15/46");
    expect(parse("PROCESS-NAME,CuRL,X").rule.payload).toBe("CuRL");
    expect(parse("UID,1000-1999/33,X").rule.payload).toBe("1000-1999/33");
  });

  test("logic rules need the process when any part does", () => {
    expect(parse("AND,((NETWORK,tcp),(PROCESS-NAME,curl)),X").rule.needsProcess).toBe(true);
    expect(parse("OR,((NETWORK,tcp),(UID,1000)),X").rule.needsProcess).toBe(true);
    expect(parse("NOT,((PROCESS-PATH-REGEX,bin)),X").rule.needsProcess).toBe(true);
    expect(parse("AND,((NETWORK,tcp),(DST-PORT,80)),X").rule.needsProcess).toBe(false);
    expect(matches("AND,((NETWORK,tcp),(PROCESS-NAME,curl)),X", curl)).toBe(true);
    expect(matches("NOT,((PROCESS-NAME,curl)),X", curl)).toBe(false);
  });

  test("warnings: uid 0, empty process name, DSCP on a core without tproxy", () => {
    const uid: string[] = [];
    parse("UID,0-100,X", uid);
    expect(uid).toHaveLength(1);
    expect(uid[0]).toContain("uid 0 (root) never matches");
    const empty: string[] = [];
    parse("PROCESS-NAME,,X", empty);
    expect(empty[0]).toContain("process is unknown");
    const always: string[] = [];
    parse("DSCP,0-7,X", always);
    expect(always[0]).toContain("matches them all");
    const never: string[] = [];
    parse("DSCP,46,X", never);
    expect(never[0]).toContain("never matches");
    const none: string[] = [];
    parse("PROCESS-NAME,curl,X", none);
    expect(none).toEqual([]);
  });
});

describe("integer ranges", () => {
  test("mihomo's grammar: / items, empty items skipped, brackets and spaces trimmed, swapped bounds", () => {
    expect(parseUintRanges("1/2-3/", 10, "n")).toEqual([1, 1, 2, 3]);
    expect(parseUintRanges(" [ 7 ] - 5 ", 10, "n")).toEqual([5, 7]);
    expect(parseUintRanges("*", 10, "n")).toEqual([]);
    expect(parseUintRanges("", 10, "n")).toEqual([]);
  });

  test("membership; no ranges hold every value", () => {
    const r = parseUintRanges("1-3/9", 10, "n");
    expect([0, 1, 3, 4, 9, 10].map((v) => inUintRanges(r, v))).toEqual([false, true, true, false, true, false]);
    expect(inUintRanges([], 12345)).toBe(true);
  });
});
