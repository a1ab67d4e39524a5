/**
 * A CommonJS package loaded on first use instead of at start-up. A pgfleet-basebackup run
 * loads every module its command line could need before it connects, and each native or
 * stream package costs milliseconds a run that does not use it pays for nothing (tar-stream
 * about 8 ms, zstd-napi 2, in a CPU profile of the start-up); pg_basebackup starts
 * in a few milliseconds. The package is required (synchronously) the first time the returned
 * function is called, and cached as require caches it.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyRequire<T>(name: string): () => T {
  return lazy(() => require(name) as T);
}

/** `load` run the first time the returned function is called, its result kept. */
export function lazy<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}
