/**
 * Config problems as values: every loader stage appends `ConfigIssue`s instead of throwing, so one
 * run of `test-config` can report all of them, each with its key path and YAML position.
 */

export interface ConfigIssue {
  severity: "error" | "warning";
  /** Stable identifier for tools (`yaml.duplicate-key`, `decode.type`, `config.unknown-key`, …). */
  code: string;
  /** Key path: dotted keys and `[i]` indexes, odd keys quoted (`hosts["*.example.com"]`). "" = whole file. */
  path: string;
  line?: number;
  column?: number;
  message: string;
  hint?: string;
}

/** `proxy-groups[2].interval (line 41:15): expected an integer, got "5m"`, plus ` (hint)` when there is one. */
export function formatIssue(issue: ConfigIssue): string {
  const at = issue.line === undefined ? "" : `line ${issue.line}:${issue.column ?? 1}`;
  const where = issue.path && at ? `${issue.path} (${at})` : issue.path || at;
  const text = where ? `${where}: ${issue.message}` : issue.message;
  return issue.hint ? `${text} (${issue.hint})` : text;
}

/** Thrown when a config cannot be used; carries every issue (warnings too), the message lists the errors. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(public issues: ConfigIssue[]) {
    super(
      issues
        .filter((i) => i.severity === "error")
        .map(formatIssue)
        .join("\n"),
    );
  }
}

export function hasErrors(issues: readonly ConfigIssue[]): boolean {
  return issues.some((i) => i.severity === "error");
}

// Letters of any script count as plain so proxy and provider names in Chinese etc. stay readable.
const PLAIN_KEY = /^[\p{L}\p{N}_-]+$/u;

/** Path of `key` inside the map at `base`. */
export function keyPath(base: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base ? `${base}.${key}` : key;
}

/** Path of element `index` of the list at `base`. */
export function indexPath(base: string, index: number): string {
  return `${base}[${index}]`;
}
