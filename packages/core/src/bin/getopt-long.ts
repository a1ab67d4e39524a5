/**
 * glibc's getopt_long, as PostgreSQL's client programs parse their command lines with it, so
 * that a drop-in accepts and refuses exactly what they do, with the same messages:
 * - options and non-options may be mixed (non-options are permuted to the end); `--` ends the
 *   options; a lone `-` is a non-option;
 * - short options cluster (`-nvD/dir`); a short option's argument is the rest of its word or the
 *   next word, whatever it looks like (`-D -n` gives -D the argument "-n");
 * - long options take `--name=value` or `--name value`, and may be abbreviated to any prefix
 *   that is unique (`--dir` is `--directory`);
 * - mistakes are reported with glibc's texts, e.g. `unrecognized option '--bogus'`,
 *   `option '--no' is ambiguous; possibilities: '--no-loop' '--no-password'`,
 *   `invalid option -- 'x'`, `option requires an argument -- 'D'`.
 *
 * The result lists what was found in command-line order, mistakes included, because the
 * programs act on each option as getopt returns it and stop at the first mistake.
 */

export interface LongOption {
  name: string;
  /** Whether the option takes an argument (required_argument) or none (no_argument). */
  hasArg: boolean;
  /** What getopt_long returns for it: a short option letter or another key. */
  key: string;
}

export type GetoptItem =
  | { kind: 'option'; key: string; arg: string | null }
  /** glibc's message, without the program name in front ("invalid option -- 'x'"). */
  | { kind: 'error'; message: string };

export interface GetoptResult {
  items: GetoptItem[];
  /** Non-option arguments, in order. */
  operands: string[];
}

/** Parses `argv` (without the program name) against a short option string ("d:D:nv") and long options. */
export function getoptLong(argv: readonly string[], shortOptions: string, longOptions: readonly LongOption[]): GetoptResult {
  const items: GetoptItem[] = [];
  const operands: string[] = [];
  const takesArg = new Map<string, boolean>();
  for (let i = 0; i < shortOptions.length; i++) {
    const c = shortOptions[i] as string;
    if (c === ':') continue;
    takesArg.set(c, shortOptions[i + 1] === ':');
  }
  let i = 0;
  while (i < argv.length) {
    const word = argv[i] as string;
    i++;
    if (word === '--') {
      operands.push(...argv.slice(i));
      break;
    }
    if (word.startsWith('--')) {
      const body = word.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const found = findLong(name, longOptions);
      if (found.kind === 'none') {
        items.push({ kind: 'error', message: `unrecognized option '--${body}'` });
        continue;
      }
      if (found.kind === 'ambiguous') {
        const possibilities = found.candidates.map((o) => ` '--${o.name}'`).join('');
        items.push({ kind: 'error', message: `option '--${body}' is ambiguous; possibilities:${possibilities}` });
        continue;
      }
      const option = found.option;
      if (!option.hasArg) {
        if (eq >= 0) {
          items.push({ kind: 'error', message: `option '--${option.name}' doesn't allow an argument` });
        } else {
          items.push({ kind: 'option', key: option.key, arg: null });
        }
        continue;
      }
      if (eq >= 0) {
        items.push({ kind: 'option', key: option.key, arg: body.slice(eq + 1) });
      } else if (i < argv.length) {
        items.push({ kind: 'option', key: option.key, arg: argv[i] as string });
        i++;
      } else {
        items.push({ kind: 'error', message: `option '--${option.name}' requires an argument` });
      }
      continue;
    }
    if (!word.startsWith('-') || word === '-') {
      operands.push(word);
      continue;
    }
    for (let j = 1; j < word.length; j++) {
      const c = word[j] as string;
      const hasArg = takesArg.get(c);
      if (hasArg === undefined) {
        items.push({ kind: 'error', message: `invalid option -- '${c}'` });
        continue;
      }
      if (!hasArg) {
        items.push({ kind: 'option', key: c, arg: null });
        continue;
      }
      if (j + 1 < word.length) {
        items.push({ kind: 'option', key: c, arg: word.slice(j + 1) });
      } else if (i < argv.length) {
        items.push({ kind: 'option', key: c, arg: argv[i] as string });
        i++;
      } else {
        items.push({ kind: 'error', message: `option requires an argument -- '${c}'` });
      }
      break;
    }
  }
  return { items, operands };
}

type LongMatch =
  | { kind: 'none' }
  | { kind: 'one'; option: LongOption }
  | { kind: 'ambiguous'; candidates: LongOption[] };

/** An exact name, else the only option it is a prefix of (options alike in all but name count as one). */
function findLong(name: string, options: readonly LongOption[]): LongMatch {
  const exact = options.find((o) => o.name === name);
  if (exact !== undefined) return { kind: 'one', option: exact };
  const candidates = options.filter((o) => o.name.startsWith(name));
  const first = candidates[0];
  if (first === undefined) return { kind: 'none' };
  if (candidates.every((o) => o.key === first.key && o.hasArg === first.hasArg)) return { kind: 'one', option: first };
  return { kind: 'ambiguous', candidates };
}
