#!/usr/bin/env node
// The installed `pgfleet-basebackup` command. npm links a workspace's bins when it installs, before
// `npm run build` has written dist/, and skips a bin whose target does not exist yet: this
// committed file is the target, and runs the built program.
import '../dist/bin/pgfleet-basebackup.js';
