#!/usr/bin/env node
// The installed `pgfleet-agent` command. npm links a workspace's bins when it installs, before
// `npm run build` has written dist/, and skips a bin whose target does not exist yet: this
// committed file is the target, and runs the built program. `wal-get --archive` (a
// restore_command, started once per WAL file) runs its own small program, which loads fast.
if (process.argv[2] === 'wal-get' && process.argv.some((a) => a === '--archive' || a.startsWith('--archive='))) {
  await import('../dist/wal/wal-get-main.js');
} else {
  await import('../dist/bin/pgfleet-agent.js');
}
