/**
 * The configuration files of both daemons (agent.yaml, fleet.yaml) are described with zod
 * schemas built from these fields, so that every problem reads the same way whichever daemon
 * reports it: the file, the key as a path ("clusters[1].retention.full"), the reason, and a
 * HINT where one helps; an unknown key gets "Did you mean ...?" when it looks like a typo of a
 * known one, and the list of known keys at that place.
 *
 *   invalid configuration file "/etc/pgfleet/fleet.yaml": "paralel" is not a known key
 *   HINT: Did you mean "parallel"? Known keys here: "listen", "repository", ...
 *
 * validateConfig() throws an InvalidOptionError for the first problem (unknown keys first: a
 * misspelt key also makes its correct spelling look missing); configProblems() lists them all
 * (`--check-config`). A field's reason and hint travel as zod's issue message, joined by
 * "\nHINT: " (problem()); YAML's null counts as absent everywhere, as an empty `tls:` reads.
 */
import { z } from 'zod';
import { InvalidOptionError } from '../errors.js';
import { didYouMean } from './did-you-mean.js';

/** A problem's text as a field's schema carries it: the reason, then the hint. */
export function problem(reason: string, hint?: string): string {
  return hint ? `${reason}\nHINT: ${hint}` : reason;
}

/** One problem of a configuration file. */
export interface ConfigProblem {
  /** The key as a path, "clusters[1].name"; "" for the document itself. */
  key: string;
  reason: string;
  hint?: string;
}

/** What the error function of a zod check receives (the parts used here). */
interface IssueInput {
  code?: string;
  input?: unknown;
  keys?: string[];
}

const UNKNOWN_KEYS = 'pgfleet-unknown-keys:';

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));
const quoteList = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(', ');

/** Absent (or YAML null) is the same as missing. */
function requiredOr(text: (iss: IssueInput) => string, requiredHint?: string): (iss: IssueInput) => string {
  return (iss) => (iss.input === undefined || iss.input === null ? problem('is required', requiredHint) : text(iss));
}

export interface TextOptions {
  /** The hint when the key is missing (for required keys). */
  requiredHint?: string;
  /** Accept "" (default: a non-empty string is required). */
  allowEmpty?: boolean;
  /** A YAML number is read as its text (a name such as 2024). */
  numbersAsText?: boolean;
}

/** A string field. */
export function text(options: TextOptions = {}): z.ZodType<string> {
  const base = z.string({ error: requiredOr(() => 'must be a string', options.requiredHint) })
    .refine((s) => options.allowEmpty === true || s !== '', { error: 'must not be empty' });
  if (options.numbersAsText !== true) return base;
  return z.preprocess((v) => (typeof v === 'number' ? String(v) : v), base) as unknown as z.ZodType<string>;
}

export interface IntegerOptions {
  min?: number;
  max?: number;
  /** Named after the range, e.g. "seconds", "kB/s". */
  unit?: string;
  requiredHint?: string;
}

/** A whole number within [min, max] (min defaults to 1). */
export function integer(options: IntegerOptions = {}): z.ZodType<number> {
  const min = options.min ?? 1;
  const range = options.max !== undefined
    ? `an integer from ${min} to ${options.max}${options.unit ? ` (${options.unit})` : ''}`
    : min === 1 ? `a positive integer${options.unit ? ` (${options.unit})` : ''}` : `an integer of at least ${min}${options.unit ? ` (${options.unit})` : ''}`;
  const fail = requiredOr((iss) => `must be ${range}, not ${show(iss.input)}`, options.requiredHint);
  let schema = z.number({ error: fail }).int({ error: fail }).min(min, { error: fail });
  if (options.max !== undefined) schema = schema.max(options.max, { error: fail });
  return schema;
}

/** true or false. */
export function flag(): z.ZodType<boolean> {
  return z.boolean({ error: requiredOr(() => 'must be true or false') });
}

/** One of a few words. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T): z.ZodType<T[number]> {
  const words = values.length === 2 ? `"${values[0]}" or "${values[1]}"` : `one of ${quoteList(values)}`;
  return z.enum(values, { error: requiredOr((iss) => `must be ${words}, not ${show(iss.input)}`) });
}

export interface MappingOptions {
  /** Completes "must be a mapping ...", e.g. 'with "ca", "cert" and "key"'. */
  describe?: string;
  requiredHint?: string;
}

/**
 * A mapping whose keys are exactly `shape`'s (unknown keys are problems). The document itself
 * is one too.
 */
export function mapping<S extends z.ZodRawShape>(shape: S, options: MappingOptions = {}): z.ZodObject<S, z.core.$strict> {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss: IssueInput) => {
      if (iss.code === 'unrecognized_keys') return `${UNKNOWN_KEYS}${JSON.stringify(known)}`;
      return requiredOr(() => `must be a mapping${options.describe ? ` ${options.describe}` : ''}`, options.requiredHint)(iss);
    },
  });
}

export interface ListOptions {
  /** At least this many items (default 0). */
  min?: number;
  /** Completes "must be ...", default "a list". */
  describe?: string;
  /** The hint when it is not such a list. */
  hint?: string;
  requiredHint?: string;
  /** A single item may stand for a list of one ("pgBin: /usr/lib/postgresql/16/bin"). */
  single?: boolean;
}

/** A list of `item`s. */
export function list<T extends z.ZodType>(item: T, options: ListOptions = {}): z.ZodType<z.output<T>[]> {
  const fail = requiredOr(() => problem(`must be ${options.describe ?? 'a list'}`, options.hint), options.requiredHint);
  const schema = z.array(item, { error: fail }).min(options.min ?? 0, { error: fail });
  if (options.single !== true) return schema as unknown as z.ZodType<z.output<T>[]>;
  return z.preprocess((v) => (v === undefined || v === null || Array.isArray(v) ? v : [v]), schema) as unknown as z.ZodType<z.output<T>[]>;
}

/** tls.allowedClients of both daemons: a non-empty list of distinct certificate common names. */
export function commonNames(hint: string): z.ZodType<string[]> {
  const reason = problem('must be a non-empty list of certificate common names', hint);
  return z.array(z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }), { error: reason }).min(1, { error: reason }).superRefine((names, ctx) => {
    const repeated = names.find((n, i) => names.indexOf(n) !== i);
    if (repeated !== undefined) ctx.addIssue({ code: 'custom', message: `lists "${repeated}" twice` });
  });
}

/** An optional field: absent or YAML null gives undefined. */
export function optional<T extends z.ZodType>(schema: T): z.ZodType<z.output<T> | undefined> {
  return z.preprocess((v) => (v === null ? undefined : v), schema.optional()) as unknown as z.ZodType<z.output<T> | undefined>;
}

export interface Address {
  host: string;
  port: number;
}

/** "host:port" or "[v6]:port" (an empty host when allowed); null when malformed. Ports are not range-checked here. */
export function splitAddress(value: string, options: { allowEmptyHost?: boolean } = {}): Address | null {
  const m = /^\[([^\]]+)\]:(\d{1,10})$/.exec(value) ?? (options.allowEmptyHost ? /^([^:\s]*):(\d{1,10})$/ : /^([^:\s]+):(\d{1,10})$/).exec(value);
  if (!m) return null;
  return { host: m[1] as string, port: Number(m[2]) };
}

export interface AddressOptions {
  /** The lowest port accepted: 0 (any free port) for a listen address, 1 to reach a peer. */
  minPort: 0 | 1;
  /** ":7443" listens on every interface. */
  allowEmptyHost?: boolean;
  requiredHint?: string;
}

/** A "HOST:PORT" text with its port in range; the value stays the text. */
export function address(options: AddressOptions): z.ZodType<string> {
  return z.string({ error: requiredOr(() => 'must be a string', options.requiredHint) }).superRefine((value, ctx) => {
    const parsed = splitAddress(value, options);
    if (parsed === null) {
      ctx.addIssue({ code: 'custom', message: `must be HOST:PORT, not "${value}"` });
    } else if (parsed.port < options.minPort || parsed.port > 65535) {
      ctx.addIssue({ code: 'custom', message: `must have a port from ${options.minPort} to 65535, not ${parsed.port}` });
    }
  });
}

/** "clusters[1].retention.full" for ["clusters", 1, "retention", "full"]. */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function split(message: string): { reason: string; hint?: string } {
  const at = message.indexOf('\nHINT: ');
  return at < 0 ? { reason: message } : { reason: message.slice(0, at), hint: message.slice(at + '\nHINT: '.length) };
}

/** One zod issue as the problems it stands for (an issue of unknown keys names several). */
function problemsOf(issue: z.core.$ZodIssue): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const known = issue.message.startsWith(UNKNOWN_KEYS) ? JSON.parse(issue.message.slice(UNKNOWN_KEYS.length)) as string[] : [];
    return issue.keys.map((k) => {
      const meant = didYouMean(k, known);
      const hint = `${meant !== null ? `Did you mean "${meant}"? ` : ''}${known.length > 0 ? `Known keys here: ${quoteList(known)}.` : 'No keys are allowed here.'}`;
      return { key: keyPath([...issue.path, k]), reason: 'is not a known key', hint };
    });
  }
  // A built-in text (a schema not made of these fields) still names the key.
  const { reason, hint } = split(issue.message);
  return [{ key: keyPath(issue.path), reason: issue.path.length === 0 && reason.startsWith('must be a mapping') ? 'the document must be a mapping of keys' : reason, ...(hint ? { hint } : {}) }];
}

/** Every problem of `doc` against `schema`, unknown keys first; empty when it is valid. */
export function configProblems(schema: z.ZodType, doc: unknown): ConfigProblem[] {
  const result = schema.safeParse(doc === null || doc === undefined ? {} : doc);
  if (result.success) return [];
  const issues = [...result.error.issues];
  const unknownFirst = [...issues.filter((i) => i.code === 'unrecognized_keys'), ...issues.filter((i) => i.code !== 'unrecognized_keys')];
  return unknownFirst.flatMap(problemsOf);
}

/** A problem as the error a daemon reports. */
export function configError(file: string, p: ConfigProblem): InvalidOptionError {
  const message = p.key === '' ? `invalid configuration file "${file}": ${p.reason}` : `invalid configuration file "${file}": "${p.key}" ${p.reason}`;
  return new InvalidOptionError(message, p.hint ? { hint: p.hint } : {});
}

/** `doc` validated against `schema` (an empty document is an empty mapping); the first problem is thrown. */
export function validateConfig<T>(schema: z.ZodType<T>, doc: unknown, file: string): T {
  const result = schema.safeParse(doc === null || doc === undefined ? {} : doc);
  if (result.success) return result.data;
  const first = configProblems(schema, doc)[0] ?? { key: '', reason: 'is invalid' };
  throw configError(file, first);
}
