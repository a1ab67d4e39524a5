#!/usr/bin/env -S node --no-memory-reducer
// The installed `pgfleet-receivewal` command. npm links a workspace's bins when it installs, before
// `npm run build` has written dist/, and skips a bin whose target does not exist yet: this
// committed file is the target, and runs the built program. Node runs it without V8's memory
// reducer: a receiver is mostly idle between bursts of WAL, and the reducer answers that with
// full collections of its heap (~40 ms of CPU each), a fifth of its CPU time under pgbench.
import '../dist/bin/pgfleet-receivewal.js';
