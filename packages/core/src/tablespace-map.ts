/**
 * tablespace_map, as PostgreSQL writes it into a base backup: one "<oid> <location>" line per
 * user tablespace, the location with "\" escaping "\", "\n" and "\r". Parsed and written
 * here once, for the restore (which rewrites it with the new locations) and the test harness.
 */
import { InvalidOptionError } from './errors.js';

/** Thrown when tablespace_map is not what PostgreSQL writes; `offset` is where the bad line starts. */
export class TablespaceMapError extends InvalidOptionError {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** Parses tablespace_map text into oid -> location (unescaped). */
export function parseTablespaceMap(text: string): Map<number, string> {
  const map = new Map<number, string>();
  let i = 0;
  while (i < text.length) {
    const space = text.indexOf(' ', i);
    const lineEnd = text.indexOf('\n', i);
    if (space < 0 || (lineEnd >= 0 && lineEnd < space)) {
      const line = text.slice(i, lineEnd < 0 ? text.length : lineEnd);
      if (line.trim() === '') {
        i = lineEnd < 0 ? text.length : lineEnd + 1;
        continue;
      }
      throw new TablespaceMapError(`invalid line in file "tablespace_map": "${line}"`, i);
    }
    const oidText = text.slice(i, space);
    const oid = Number(oidText);
    if (!/^[0-9]+$/.test(oidText) || !Number.isSafeInteger(oid) || oid <= 0) {
      throw new TablespaceMapError(`invalid tablespace OID "${oidText}" in file "tablespace_map"`, i);
    }
    let location = '';
    let j = space + 1;
    for (; j < text.length && text[j] !== '\n'; j++) {
      const c = text[j] as string;
      if (c === '\\' && j + 1 < text.length) {
        location += text[j + 1];
        j++;
      } else if (c !== '\r') {
        location += c;
      }
    }
    if (map.has(oid)) throw new TablespaceMapError(`tablespace OID "${oid}" appears twice in file "tablespace_map"`, i);
    map.set(oid, location);
    i = j + 1;
  }
  return map;
}

/** tablespace_map text for oid -> location pairs, escaped as PostgreSQL writes it. */
export function formatTablespaceMap(entries: Iterable<readonly [number, string]>): string {
  let text = '';
  for (const [oid, location] of entries) text += `${oid} ${location.replace(/[\\\n\r]/g, (c) => `\\${c}`)}\n`;
  return text;
}
