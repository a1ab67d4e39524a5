/**
 * The state of one verification run against a manifest, shared by every archive and directory
 * checked in that run (pg_verifybackup's verifier_context): which entries were seen, which are
 * already known bad, the ignore list, and problem reporting.
 *
 * Problems are reported through `onProblem` as they are found, in pg_verifybackup's words.
 * A fatal problem (the control file checks), or any problem with `exitOnError`, stops the run:
 * report() then throws StopVerification, which the caller of the run catches.
 *
 * Ignore rules: an ignore entry matches the path itself or anything below it ("aa/bb" ignores
 * "aa/bb/cc" but not "aa/bbb"). backup_manifest, pg_wal, postgresql.auto.conf, recovery.signal
 * and standby.signal are always ignored as files (-R and restores change them), but not as
 * links: a symbolic link is reported there too (see the verifiers), only -i paths hide it.
 */

import type { BackupManifest, ManifestFile } from './manifest.js';
import {
  describeControlFileProblem, readControlFile, type ControlFileInfo,
} from './control-file.js';

export type VerifyProblemKind =
  | 'extra'        // on disk or in an archive, not in the manifest
  | 'missing'      // in the manifest, not found
  | 'size'
  | 'checksum'
  | 'control-file'
  | 'wal'
  | 'unexpected'   // not a regular file, unexpected archive name, ...
  | 'io';          // could not read something

export interface VerifyProblem {
  kind: VerifyProblemKind;
  /** One line, lower-case, without the "error: " prefix. */
  message: string;
  /** Manifest-relative path (or WAL segment name) the problem is about, when there is one. */
  path?: string;
  /** The run stopped after this problem. */
  fatal: boolean;
  /** A full sentence on what to do, printed as a HINT line. */
  hint?: string;
}

/** Thrown by report() to end a run early; carries nothing, the problem was already reported. */
export class StopVerification extends Error {
  constructor() {
    super('verification stopped');
  }
}

export const ALWAYS_IGNORED: readonly string[] =
  ['backup_manifest', 'pg_wal', 'postgresql.auto.conf', 'recovery.signal', 'standby.signal'];

export const CONTROL_FILE_PATH = 'global/pg_control';

export interface VerifyContextOptions {
  manifest: BackupManifest;
  /** Extra relative paths to ignore (-i); canonicalised here. */
  ignore?: readonly string[];
  skipChecksums?: boolean;
  /** Stop at the first problem (-e). */
  exitOnError?: boolean;
  onProblem?: (problem: VerifyProblem) => void;
}

/**
 * Canonical relative path as canonicalize_path leaves it: no empty or "." components, ".."
 * folded where possible, no leading "/" (an absolute member name is treated as relative).
 */
export function canonicalRelativePath(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

/** An entry of `list` is `relpath` or a parent directory of it. */
function covers(list: readonly string[], relpath: string): boolean {
  return list.some((v) => relpath === v || (relpath.startsWith(v) && relpath.charAt(v.length) === '/'));
}

export class VerifyContext {
  readonly manifest: BackupManifest;
  readonly skipChecksums: boolean;
  readonly problems: VerifyProblem[] = [];
  /** Set from global/pg_control when it was seen with a valid CRC (any manifest version). */
  controlFile: ControlFileInfo | null = null;
  /** Content of PG_VERSION ("15"), when seen. */
  pgVersion: string | null = null;
  private readonly ignoreList: string[];
  /** The -i paths and those added by ignore(): what hides even a symbolic link. */
  private readonly userIgnoreList: string[];
  private readonly exitOnError: boolean;
  private readonly onProblem: ((problem: VerifyProblem) => void) | undefined;
  private readonly matched = new Set<ManifestFile>();
  private readonly bad = new Set<ManifestFile>();

  constructor(options: VerifyContextOptions) {
    this.manifest = options.manifest;
    this.skipChecksums = options.skipChecksums ?? false;
    this.exitOnError = options.exitOnError ?? false;
    this.onProblem = options.onProblem;
    this.userIgnoreList = (options.ignore ?? []).map(canonicalRelativePath);
    this.ignoreList = [...ALWAYS_IGNORED, ...this.userIgnoreList];
  }

  get failed(): boolean {
    return this.problems.length > 0;
  }

  get matchedCount(): number {
    return this.matched.size;
  }

  /** Adds a path to the ignore list (after a directory could not be read, say). */
  ignore(relpath: string): void {
    this.ignoreList.push(relpath);
    this.userIgnoreList.push(relpath);
  }

  shouldIgnore(relpath: string): boolean {
    return covers(this.ignoreList, relpath);
  }

  /**
   * Whether a symbolic link or special file at `relpath` goes unreported: only below -i paths
   * (and paths given up on), not below the always-ignored names.
   */
  shouldIgnoreLink(relpath: string): boolean {
    return covers(this.userIgnoreList, relpath);
  }

  /**
   * Reports a member or directory entry that is not a regular file (`what`: "a symbolic link",
   * "a hard link", "a special file") at a path where a backup holds none; when the manifest
   * lists a file there, that entry counts as seen and bad (a mismatch, not a missing file).
   * `where` is '' (plain) or ` in archive "base.tar"`.
   */
  reportNotRegular(relpath: string, name: string, what: string, where: string): void {
    const entry = this.lookup(relpath);
    if (entry !== null) this.markBad(entry);
    this.report('unexpected', `file "${name}"${where} is ${what}, not a regular file`, {
      path: relpath,
      hint: 'A base backup holds symbolic links only as pg_tblspc/<tablespace OID>, and no hard links or special files; ' +
        'restoring this one could read or write outside its data directory.',
    });
  }

  /** Records a problem; throws StopVerification when the run must end now. */
  report(kind: VerifyProblemKind, message: string,
    options: { path?: string; fatal?: boolean; hint?: string } = {}): void {
    const fatal = options.fatal === true || this.exitOnError;
    const problem: VerifyProblem = {
      kind, message, fatal,
      ...(options.path !== undefined ? { path: options.path } : {}),
      ...(options.hint !== undefined ? { hint: options.hint } : {}),
    };
    this.problems.push(problem);
    this.onProblem?.(problem);
    if (fatal) throw new StopVerification();
  }

  /** The manifest entry for a path found on disk or in an archive, marked as seen; null if none. */
  lookup(relpath: string): ManifestFile | null {
    const entry = this.manifest.byPath.get(relpath) ?? null;
    if (entry !== null) this.matched.add(entry);
    return entry;
  }

  markBad(entry: ManifestFile): void {
    this.bad.add(entry);
  }

  isBad(entry: ManifestFile): boolean {
    return this.bad.has(entry);
  }

  /** should_verify_checksum(): seen, not known bad, has an algorithm, and checksums are on. */
  shouldVerifyChecksum(entry: ManifestFile): boolean {
    return !this.skipChecksums && this.matched.has(entry) && !this.bad.has(entry) &&
      entry.checksumAlgorithm !== 'NONE';
  }

  /** Entries that were never seen and are not ignored, in manifest order. */
  unmatched(): ManifestFile[] {
    return this.manifest.files.filter((f) => !this.matched.has(f) && !this.shouldIgnore(f.path));
  }

  /**
   * Compares a computed digest with the manifest's and reports a mismatch. `where` is appended
   * to the file name: '' for plain backups, ` in archive "base.tar"` for tar members.
   */
  compareChecksum(entry: ManifestFile, digest: Buffer, where: string): void {
    if (digest.length !== entry.checksum.length) {
      this.report('checksum',
        `file "${entry.path}"${where} has checksum of length ${entry.checksum.length}, but expected ${digest.length}`,
        { path: entry.path });
    } else if (!digest.equals(entry.checksum)) {
      this.report('checksum', `checksum mismatch for file "${entry.path}"${where}`, { path: entry.path });
    }
  }

  /**
   * Reads pg_control's bytes: remembers the WAL geometry and system identifier for the WAL
   * check, and for version 2 manifests applies pg_verifybackup's fatal checks (CRC, version,
   * system identifier). `label` names the file: `"/b/global/pg_control"` or
   * `"global/pg_control" in archive "base.tar"`. `size` is the file's full size when `data`
   * holds only its start; `verify: false` only records the information.
   */
  checkControlFile(data: Buffer, label: string, options: { verify: boolean; size?: number }): void {
    const reading = readControlFile(data, options.size);
    if (reading.ok) this.controlFile = reading.info;
    if (this.manifest.version === 1 || !options.verify) return;
    if (!reading.ok) {
      this.report('control-file', `control file ${label}: ${describeControlFileProblem(reading.problem)}`,
        { path: CONTROL_FILE_PATH, fatal: true });
      return;
    }
    const expected = this.manifest.systemIdentifier ?? 0n;
    if (reading.info.systemIdentifier !== expected) {
      this.report('control-file',
        `control file ${label}: manifest system identifier is ${expected}, but control file has ${reading.info.systemIdentifier}`,
        { path: CONTROL_FILE_PATH, fatal: true });
    }
  }

  /** Reports every manifest entry that was never seen (after all archives or the whole walk). */
  reportMissing(): void {
    for (const f of this.unmatched()) {
      this.report('missing', `"${f.path}" is present in the manifest but not on disk`, { path: f.path });
    }
  }
}
