/**
 * `format: text` (config.md §10): one entry per line, trimmed; blank lines and lines starting with
 * `#` or `//` (Clash Premium's comments) are skipped.
 */
export function textEntries(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("//")) continue;
    out.push(line);
  }
  return out;
}
