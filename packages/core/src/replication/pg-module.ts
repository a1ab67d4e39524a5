/**
 * The `pg` module, loaded without what its Cloudflare check costs on Node 20.
 *
 * When `pg` is loaded, lib/stream.js asks whether it runs in a Cloudflare Worker; where there is
 * no global `navigator` (Node < 21) it constructs a `Response`, and on Node 20 the first touch of
 * `Response` loads undici, node's fetch implementation: about 21 ms of a pgfleet-basebackup
 * run's start-up (CPU profile), for a module no pgfleet code uses. While `pg` is required,
 * `Response` is hidden, so the check answers "not Cloudflare" at once, as it would anyway; the
 * global is put back as it was right after (require is synchronous: nothing else runs
 * meanwhile). Where `navigator` exists (Node >= 21) the check never reaches `Response` and `pg`
 * is required as it is.
 *
 * It is required on first use, not when this module is loaded: every program that loads the
 * package's index (pgfleet-agent restore, the pgfleet CLI's daemon) would pay for pg (about
 * 45 ms of its start-up) whether it connects to a server or not.
 */
import { createRequire } from 'node:module';
import type PgModule from 'pg';
import { lazy } from '../lazy-require.js';

const require = createRequire(import.meta.url);

function requirePg(): typeof PgModule {
  const g = globalThis as { navigator?: unknown };
  const response = Object.getOwnPropertyDescriptor(globalThis, 'Response');
  if (g.navigator !== undefined || response === undefined || !response.configurable) return require('pg') as typeof PgModule;
  Object.defineProperty(globalThis, 'Response', { value: undefined, configurable: true, writable: true, enumerable: response.enumerable ?? false });
  try {
    return require('pg') as typeof PgModule;
  } finally {
    Object.defineProperty(globalThis, 'Response', response);
  }
}

/** The `pg` module, required the first time it is asked for. */
export const loadPg: () => typeof PgModule = lazy(requirePg);
