/**
 * Reading a daemon's YAML configuration file: the absolute path (messages name it, relative
 * paths inside are relative to its directory) and the parsed document. A file that cannot be
 * read is a FileIoError naming it; YAML that does not parse is an InvalidOptionError with
 * yaml's first line (the problem, line and column), in the shape of config-schema.ts.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type * as Yaml from 'yaml';
import { InvalidOptionError, fileError } from '../errors.js';
import { lazyRequire } from '../lazy-require.js';

// Required when a file is parsed: programs that load the package's index without reading a
// configuration (pgfleet-agent restore) do not pay for yaml (about 30 ms of start-up).
const loadYaml = lazyRequire<typeof Yaml>('yaml');

export interface ConfigDocument {
  /** The file, absolute. */
  file: string;
  /** Its directory: what relative paths in it are relative to. */
  baseDir: string;
  /** The parsed YAML (null for an empty file). */
  doc: unknown;
}

/** Parses YAML `text` of the configuration file `path`. */
export function parseConfigText(text: string, path: string): ConfigDocument {
  const file = resolve(path);
  const { parse: parseYaml, YAMLParseError } = loadYaml();
  try {
    return { file, baseDir: dirname(file), doc: parseYaml(text) };
  } catch (err) {
    // yaml's first line: "<problem> at line L, column C:" (the rest is a source excerpt).
    const detail = (err instanceof YAMLParseError ? err.message.split('\n')[0] ?? '' : String(err)).replace(/:$/, '');
    throw new InvalidOptionError(`invalid configuration file "${file}": ${detail.replace(/^./, (c) => c.toLowerCase())}`);
  }
}

/** Reads and parses the configuration file `path`. */
export async function readConfigFile(path: string): Promise<ConfigDocument> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw fileError('could not read configuration file', file, err);
  }
  return parseConfigText(text, file);
}
