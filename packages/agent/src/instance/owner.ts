/**
 * The OS user that owns a restored data directory and runs its server. As root: the user named
 * by --owner (or the agent's osUser), "postgres" by default; never root itself, since
 * PostgreSQL refuses to run as root. Not as root: the current user, and asking for anyone else
 * is an error (files cannot be given away without privileges).
 */

import { readFileSync } from 'node:fs';
import os from 'node:os';
import { InvalidOptionError } from '@pgfleet/core';

export interface OsOwner {
  name: string;
  uid: number;
  gid: number;
  /** Home directory (for ~/.pgpass), when known. */
  home?: string;
  /** The process must chown what it creates (we run as root). */
  chown: boolean;
}

export const DEFAULT_OWNER = 'postgres';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Looks a user up in /etc/passwd (name or numeric uid); null when unknown. */
export function lookupUser(nameOrUid: string, passwd = '/etc/passwd'): { name: string; uid: number; gid: number; home: string } | null {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 4) continue;
    const [name, , uid, gid] = fields as [string, string, string, string];
    if (name === nameOrUid || uid === nameOrUid) return { name, uid: Number(uid), gid: Number(gid), home: fields[5] ?? '' };
  }
  return null;
}

export function resolveOwner(requested: string | null | undefined): OsOwner {
  if (!isRoot()) {
    const me = os.userInfo();
    if (requested && requested !== me.username && requested !== String(me.uid)) {
      throw new InvalidOptionError(`cannot give the restored files to OS user "${requested}" when not running as root`, {
        hint: `Run as root, or leave out --owner to restore as "${me.username}".`,
      });
    }
    return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir, chown: false };
  }
  const name = requested || DEFAULT_OWNER;
  const user = lookupUser(name);
  if (user === null) {
    throw new InvalidOptionError(`OS user "${name}" does not exist`, {
      hint: 'Name the OS user that runs PostgreSQL with --owner (or osUser in agent.yaml).',
    });
  }
  if (user.uid === 0) {
    throw new InvalidOptionError(`OS user "${name}" is root, which PostgreSQL refuses to run as`, {
      hint: 'Name the unprivileged OS user that runs PostgreSQL with --owner (or osUser in agent.yaml).',
    });
  }
  return { ...user, chown: true };
}

/**
 * Environment for a child process run as the owner: ours minus PG* variables that name a
 * connection target (the caller sets what it needs), with HOME/USER/LOGNAME of the owner.
 */
export function ownerEnv(owner: OsOwner, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^PG(HOST|HOSTADDR|PORT|DATABASE|DATA|SERVICE|OPTIONS|APPNAME)$/.test(k)) continue;
    env[k] = v;
  }
  if (owner.chown) {
    env['HOME'] = owner.home || os.tmpdir();
    env['USER'] = owner.name;
    env['LOGNAME'] = owner.name;
  }
  return { ...env, ...extra };
}

/** spawn() options that run a child as the owner (when we are root). */
export function ownerSpawnIds(owner: OsOwner): { uid?: number; gid?: number } {
  return owner.chown ? { uid: owner.uid, gid: owner.gid } : {};
}
