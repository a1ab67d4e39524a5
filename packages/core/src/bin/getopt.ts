/**
 * The command-line scanning of PostgreSQL's client programs: glibc's getopt_long, with its
 * rules and its complaints, so that a drop-in fails on a bad command line exactly as the real
 * program does (scripts and test suites match these lines).
 *
 * - Short options cluster (`-vP`); an option taking an argument takes the rest of its word or
 *   the next word, whatever it looks like (`-D -`).
 * - Long options take `--name=value` or `--name value`, and may be abbreviated to any unique
 *   prefix; an exact name wins over longer names it prefixes, and a prefix of several names
 *   with the same meaning is not ambiguous.
 * - Operands may come between options (they are gathered and returned in order), unless
 *   POSIXLY_CORRECT is set, which stops at the first one; `--` ends the options.
 * - A mistake yields getopt's own line, prefixed with argv[0] as the program was started
 *   (`/usr/bin/pg_basebackup: invalid option -- 'x'`), then scanning stops: every PostgreSQL
 *   program exits at the first one.
 */

import { InvalidOptionError } from '../errors.js';

export interface LongOption {
  name: string;
  hasArg: boolean;
  /** What the option means: its short letter, or any other key. */
  key: string;
}

export interface GetoptSpec {
  /** getopt's optstring: letters, each followed by ':' when it takes an argument. */
  short: string;
  long: readonly LongOption[];
}

export type GetoptItem =
  | { kind: 'option'; key: string; value: string | undefined }
  /** getopt returned '?' after printing `complaint` (without newline). */
  | { kind: 'error'; complaint: string };

export interface GetoptOptions {
  /** argv[0] as getopt prints it. */
  argv0: string;
  /** Stop at the first operand (glibc does when POSIXLY_CORRECT is set). */
  posixlyCorrect?: boolean;
}

/**
 * Scans `args` (argv without argv[0]); yields options in order and stops after the first error.
 * Operands are pushed onto `operands` as they are met.
 */
export function* getoptLong(args: readonly string[], spec: GetoptSpec, opts: GetoptOptions, operands: string[]): Generator<GetoptItem> {
  const shortArg = new Map<string, boolean>();
  for (let i = 0; i < spec.short.length; i++) {
    const c = spec.short[i]!;
    if (c === ':') continue;
    shortArg.set(c, spec.short[i + 1] === ':');
  }
  const p = opts.argv0;
  let i = 0;
  while (i < args.length) {
    const word = args[i]!;
    if (word === '--') {
      operands.push(...args.slice(i + 1));
      return;
    }
    if (!word.startsWith('-') || word === '-') {
      if (opts.posixlyCorrect) {
        operands.push(...args.slice(i));
        return;
      }
      operands.push(word);
      i++;
      continue;
    }
    if (word.startsWith('--')) {
      const body = word.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const inline = eq < 0 ? undefined : body.slice(eq + 1);
      const exact = spec.long.find((o) => o.name === name);
      let candidates = exact ? [exact] : spec.long.filter((o) => o.name.startsWith(name));
      // Prefixes of several names that mean the same thing are not ambiguous.
      const first = candidates[0];
      if (first && candidates.every((o) => o.key === first.key && o.hasArg === first.hasArg)) candidates = [first];
      i++;
      if (candidates.length === 0) {
        yield { kind: 'error', complaint: `${p}: unrecognized option '${word}'` };
        return;
      }
      if (candidates.length > 1) {
        const list = candidates.map((o) => ` '--${o.name}'`).join('');
        yield { kind: 'error', complaint: `${p}: option '${word}' is ambiguous; possibilities:${list}` };
        return;
      }
      const option = candidates[0]!;
      let value: string | undefined;
      if (option.hasArg) {
        if (inline !== undefined) value = inline;
        else if (i < args.length) value = args[i++];
        else {
          yield { kind: 'error', complaint: `${p}: option '--${option.name}' requires an argument` };
          return;
        }
      } else if (inline !== undefined) {
        yield { kind: 'error', complaint: `${p}: option '--${option.name}' doesn't allow an argument` };
        return;
      }
      yield { kind: 'option', key: option.key, value };
      continue;
    }
    // A cluster of short options.
    i++;
    for (let j = 1; j < word.length; j++) {
      const c = word[j]!;
      const takesArg = shortArg.get(c);
      if (takesArg === undefined) {
        yield { kind: 'error', complaint: `${p}: invalid option -- '${c}'` };
        return;
      }
      if (!takesArg) {
        yield { kind: 'option', key: c, value: undefined };
        continue;
      }
      if (j + 1 < word.length) {
        yield { kind: 'option', key: c, value: word.slice(j + 1) };
      } else if (i < args.length) {
        yield { kind: 'option', key: c, value: args[i++] };
      } else {
        yield { kind: 'error', complaint: `${p}: option requires an argument -- '${c}'` };
        return;
      }
      break;
    }
  }
}

/**
 * A command-line mistake reported PostgreSQL's way: getopt's complaint line as it stands (or
 * nothing, for an option the program's switch does not handle, e.g. a late `--help`), then the
 * program's "Try ... --help" hint.
 */
export class GetoptComplaint extends InvalidOptionError {
  constructor(readonly complaint: string | null, hint: string) {
    super(complaint ?? 'option not accepted here', { hint });
  }
}
