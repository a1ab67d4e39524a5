// Reading what -R wrote: the primary_conninfo line of postgresql.auto.conf and the libpq
// keyword/value connection string inside it, so that two tools' outputs can be compared
// parameter by parameter (a clearer failure than a text diff) as well as byte for byte.

/** The value of the last `primary_conninfo = '...'` line of postgresql.auto.conf, unquoted. */
export function primaryConninfoOf(autoConf: string): string | undefined {
  let value: string | undefined;
  for (const line of autoConf.split('\n')) {
    const match = /^primary_conninfo\s*=\s*'((?:[^']|'')*)'\s*$/.exec(line);
    if (match) value = (match[1] ?? '').replace(/''/g, "'");
  }
  return value;
}

/** Parse a libpq "keyword=value ..." string (values optionally single-quoted, \\ escapes). */
export function parseConninfo(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  let i = 0;
  const skipSpace = (): void => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  for (skipSpace(); i < text.length; skipSpace()) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`malformed connection string "${text}" at offset ${i}`);
    const key = text.slice(i, eq).trim();
    i = eq + 1;
    skipSpace();
    let value = '';
    if (text[i] === "'") {
      i++;
      for (; i < text.length && text[i] !== "'"; i++) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
      }
      if (text[i] !== "'") throw new Error(`unterminated quoted value in "${text}"`);
      i++;
    } else {
      for (; i < text.length && !/\s/.test(text[i] as string); i++) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
      }
    }
    params[key] = value;
  }
  return params;
}
