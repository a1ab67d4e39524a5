// Generates the TypeScript types of proto/pgfleet/v1/agent.proto into src/gen (gitignored)
// with proto-loader-gen-types, then adds the ".js" suffix to the generated relative imports:
// this package is ESM with NodeNext resolution, which requires it, and the generator does
// not write it. The runtime loader (src/grpc/proto.ts) must use the same options.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '..');
const outDir = path.join(pkg, 'src', 'gen');
const proto = path.resolve(pkg, '..', '..', 'proto', 'pgfleet', 'v1', 'agent.proto');
const require = createRequire(import.meta.url);
const generator = path.join(path.dirname(require.resolve('@grpc/proto-loader/package.json')), 'build', 'bin', 'proto-loader-gen-types.js');

rmSync(outDir, { recursive: true, force: true });
execFileSync(process.execPath, [
  generator, '--longs=String', '--enums=String', '--defaults', '--oneofs',
  '--grpcLib=@grpc/grpc-js', '-O', outDir, proto,
], { stdio: 'inherit', cwd: pkg });

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) walk(file);
    else if (name.endsWith('.ts')) {
      const text = readFileSync(file, 'utf8');
      const fixed = text.replace(/from '(\.{1,2}\/[^']+?)(?<!\.js)'/g, "from '$1.js'");
      if (fixed !== text) writeFileSync(file, fixed);
    }
  }
}
walk(outDir);
