// How a test runs one of pgfleet's commands (`pgfleet`, `pgfleet-agent`): the package's built
// JavaScript when its dist/ is up to date with its sources, and its TypeScript source through
// tsx otherwise, so a test always runs the code under test, built or not.
//
// Why not always the source: tsx compiles every module again at each start. A `pgfleet`
// command costs 0.9-1.0 s of CPU that way against 0.25 s built, a `pgfleet-agent` restore
// 1.6 s against 0.5 s, and the suite starts several hundred of them on 2 cores, where CPU is
// what it waits for.
//
// Up to date: `tsc -b` rewrites the package's tsconfig.tsbuildinfo at the end of every build,
// even one that had nothing to emit, so dist/ is current when no file under src/ is newer
// than it. `npm test` builds first (turbo's test task depends on build); running a test file
// by hand after editing src/ takes the source path until the next build.

import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './versions.js';

const fresh = new Map<string, boolean>();

function newestUnder(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(file) : statSync(file).mtimeMs);
  }
  return newest;
}

function isBuilt(packageDir: string): boolean {
  let built = fresh.get(packageDir);
  if (built === undefined) {
    try {
      built = statSync(path.join(packageDir, 'tsconfig.tsbuildinfo')).mtimeMs >= newestUnder(path.join(packageDir, 'src'));
    } catch {
      built = false; // never built
    }
    fresh.set(packageDir, built);
  }
  return built;
}

/**
 * node's arguments that run `packages/<pkg>/src/bin/<name>.ts`: its dist/bin/<name>.js when
 * built from the current sources, else the source through tsx.
 */
export function commandArgv(pkg: 'agent' | 'controller', name: string): string[] {
  const packageDir = path.join(REPO_ROOT, 'packages', pkg);
  const js = path.join(packageDir, 'dist', 'bin', `${name}.js`);
  if (isBuilt(packageDir) && existsSync(js)) return [js];
  // Resolved here, so that the child finds tsx whatever its working directory.
  return ['--import', import.meta.resolve('tsx'), path.join(packageDir, 'src', 'bin', `${name}.ts`)];
}
