#!/usr/bin/env node
/**
 * pgfleet-agent: the database host's side of pgfleet.
 *
 *   pgfleet-agent restore --from DIR -D PGDATA --mode standby|promote|none [-T OLDDIR=NEWDIR]...
 *       [--waldir DIR] [--primary-conninfo STR] [--start] [--port N] [--socket-dir DIR]
 *       [--user ROLE] [--owner USER] [--pg-bin DIR]... [--start-timeout S] [--follow-timeout S]
 *       [--no-verify] [--no-sync] [--json]
 *       [--wal-archive DIR] [--restore-command CMD] [--target-time TS | --target-lsn LSN | --target-xid XID |
 *        --target-name NAME | --target immediate|latest] [--target-exclusive]
 *       [--target-timeline latest|current|N] [--target-action promote|pause|shutdown]
 *   pgfleet-agent wal-get --archive DIR FILE PATH      (restore_command: %f %p)
 *   pgfleet-agent serve --config agent.yaml [--insecure] [--check-config] [--log-format text|json]
 *       [--log-level debug|info|warn|error]
 *   pgfleet-agent certs --out DIR [--name NAME] [--host NAME]... [--days N] [--tool openssl|node|auto]
 *   pgfleet-agent archive-push [--config FILE] [--cluster NAME] PATH        (archive_command: %p)
 *   pgfleet-agent wal-get [--config FILE] [--cluster NAME] [--prefetch N] FILE PATH   (restore_command: %f %p)
 *
 * Exit status: 0 on success, else the error catalogue's code (see @pgfleet/core errors.ts);
 * 1 for an unexpected failure.
 */

import os from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// Narrow entry points of @pgfleet/core, and the commands' code imported when they run: PostgreSQL
// starts `wal-get` and `archive-push` once per WAL file, and loading the whole agent (the restore
// engine, the gRPC server, pg, the compressors) cost most of a second of CPU each time.
import type { CertTool } from '@pgfleet/core';
import { LOG_FORMATS, LOG_LEVELS } from '@pgfleet/core/log-basics';
import { growHeapForStreaming } from '@pgfleet/core/heap-growth';
import { enableYoungGarbageCollection } from '@pgfleet/core/young-garbage';
import { parseRecoveryMode, parseTablespaceMapping } from '../restore/options.js';
import { AGENT_VERSION } from '../version.js';
import { PROGRAM, info, printError } from './cli-output.js';
import type { RestoreFlags } from './restore-command.js';
import type { ServeFlags } from './serve-command.js';

function collect<T>(parse: (v: string) => T) {
  return (value: string, previous: T[] = []): T[] => [...previous, parse(value)];
}

function parseSeconds(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) > 86_400) throw new InvalidArgumentError('must be a number of seconds (0-86400)');
  return Number(value);
}

/** The recovery target options, the same as `pgfleet restore` has. */
function addTargetOptions(command: Command): Command {
  return command
    .option('--target-time <timestamp>', 'point in time: recover up to this time (with a time zone, e.g. "2026-12-06 14:01:00+00")')
    .option('--target-lsn <lsn>', 'point in time: recover up to this WAL location')
    .option('--target-xid <xid>', 'point in time: recover up to this transaction\'s commit')
    .option('--target-name <name>', 'point in time: recover up to this restore point (pg_create_restore_point)')
    .option('--target <immediate|latest>', 'immediate: stop once consistent; latest: replay the whole archive')
    .option('--target-exclusive', 'stop just before the target instead of just after it')
    .option('--target-timeline <latest|current|N>', 'the timeline to recover along (default latest)')
    .option('--target-action <promote|pause|shutdown>', 'what the server does at the target (default promote)');
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number (1-65535)');
  return n;
}

export function buildProgram(): Command {
  const program = new Command(PROGRAM)
    .description('pgfleet agent: restores backups on a database host and serves the pgfleet controller')
    .version(AGENT_VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const restore = program
    .command('restore')
    .description('restore a backup directory (tar or plain layout) into a new data directory')
    .requiredOption('--from <dir>', 'backup directory (pg_basebackup/pgfleet tar layout, or plain)')
    .requiredOption('-D, --pgdata <dir>', 'new data directory (absent or empty)')
    .option('-T, --tablespace-mapping <olddir=newdir>', 'restore the tablespace at OLDDIR into NEWDIR (repeatable)', collect(parseTablespaceMapping))
    .option('--waldir <dir>', 'put pg_wal there, as a symbolic link (absent or empty)')
    .addOption(new Option('--mode <mode>', 'what the restored copy becomes: standby, promote or none').argParser(parseRecoveryMode))
    .option('--primary-conninfo <conninfo>', 'standby: the primary to stream from (replaces the backup\'s)')
    .option('--start', 'start the restored instance and report on it')
    .option('--port <n>', 'port to start on (default: the restored configuration\'s)', parsePort)
    .option('--socket-dir <dir>', 'unix socket directory to start with (default: the system temp directory)')
    .option('-U, --user <role>', 'role for the report connection (default: PGUSER, else the owner\'s name)')
    .option('--owner <osuser>', 'OS user owning the files and running the server (root only; default postgres)')
    .option('--pg-bin <dir>', 'directory with PostgreSQL server binaries (repeatable; searched first)', collect(String))
    .option('--start-timeout <seconds>', 'how long to wait for the start and the promotion (default 300)', (v) => parsePort(v))
    .option('--follow-timeout <seconds>', 'standby: how long to wait for it to stream from its primary (default 30, 0: no wait)', parseSeconds)
    .option('--no-verify', 'do not check files against backup_manifest')
    .option('--no-sync', 'do not fsync (faster, unsafe; for tests)')
    .option('--json', 'print the report as JSON on stdout');
  addTargetOptions(restore)
    .option('--wal-archive <dir>', 'point in time: the WAL archive (a pg_receivewal/pgfleet-receivewal directory), checked before anything is written')
    .option('--restore-command <cmd>', 'point in time: restore_command to write (default: this program\'s wal-get --archive DIR %f %p)')
    .action(async (flags: RestoreFlags) => {
      const { runRestore } = await import('./restore-command.js');
      process.exitCode = await runRestore(flags);
    });

  program
    .command('serve')
    .description('run the gRPC agent server')
    .requiredOption('--config <file>', 'agent.yaml')
    .option('--insecure', 'serve without TLS (local demos only)')
    .option('--check-config', 'validate the configuration (and read its TLS files), then exit')
    .addOption(new Option('--log-format <format>', 'log lines as text or as JSON objects').choices(LOG_FORMATS).default('text'))
    .addOption(new Option('--log-level <level>', 'the least important level logged').choices(LOG_LEVELS).default('info'))
    .action(async (flags: ServeFlags & { checkConfig?: boolean }) => {
      const { runCheckConfig, runServe } = await import('./serve-command.js');
      process.exitCode = flags.checkConfig ? await runCheckConfig(flags) : await runServe(flags);
    });

  program
    .command('certs')
    .description('make a CA and the certificates of the fleet (this agent, the controller, the CLI), as "pgfleet certs init" does; existing files are never overwritten')
    .requiredOption('--out <dir>', 'directory for ca.crt/.key, agent-NAME.crt/.key, controller.crt/.key, cli.crt/.key')
    .option('--name <name>', 'this agent\'s name, as fleet.yaml names it (default: the host name)')
    .option('--host <name>', 'another host name or IP address for the certificates (repeatable; localhost, 127.0.0.1 and ::1 are always in)', collect(String))
    .option('--days <n>', 'validity of the leaf certificates in days (default 825)', (v) => parsePort(v))
    .addOption(new Option('--tool <tool>', 'openssl, node or auto (openssl when installed)').choices(['auto', 'openssl', 'node']).default('auto'))
    .action(async (flags: { out: string; name?: string; host?: string[]; days?: number; tool: CertTool | 'auto' }) => {
      try {
        const { describeCertificates, initCertificates } = await import('@pgfleet/core');
        const result = await initCertificates({
          dir: flags.out, agents: [flags.name ?? os.hostname()], hosts: flags.host ?? [], days: flags.days ?? 825, tool: flags.tool,
        });
        for (const line of describeCertificates(flags.out, result)) process.stdout.write(`${line}\n`);
        process.exitCode = 0;
      } catch (err) {
        process.exitCode = printError(err);
      }
    });
  program
    .command('archive-push')
    .description('archive a WAL file into the controller\'s archive (archive_command = \'pgfleet-agent archive-push %p\')')
    .argument('<path>', 'the WAL file (%p)')
    .option('--config <file>', 'agent.yaml (default: $PGFLEET_AGENT_CONFIG, else /etc/pgfleet/agent.yaml)')
    .option('--cluster <name>', 'the cluster, as fleet.yaml names it (default: controller.cluster, else found by the server\'s system identifier)')
    .action(async (file: string, flags: { config?: string; cluster?: string }) => {
      const { runArchivePush } = await import('./wal-commands.js');
      process.exitCode = await runArchivePush(file, flags);
    });

  program
    .command('wal-get')
    .description('restore_command: copy WAL file FILE (%f) to PATH (%p) from the controller\'s archive of the cluster (wal-get %f %p), or from a local WAL archive (--archive DIR); 0 found, 1 not archived, 255 abort recovery')
    .argument('<names...>', 'the file the server asks for (%f) and where to put it (%p)')
    .option('--archive <dir>', 'a local WAL archive instead of the controller: a pg_receivewal/pgfleet-receivewal directory or a repository\'s <cluster>/wal')
    .option('--config <file>', 'agent.yaml (default: $PGFLEET_AGENT_CONFIG, else /etc/pgfleet/agent.yaml)')
    .option('--cluster <name>', 'the cluster, as fleet.yaml names it (default: controller.cluster, else found by the server\'s system identifier)')
    .option('--prefetch <n>', 'segments to fetch ahead in the background (default 4, 0: none)', (v) => parseSeconds(v))
    .addOption(new Option('--prefetch-only').hideHelp())
    .addOption(new Option('--prefetch-dir <dir>').hideHelp())
    .action(async (names: string[], flags: { archive?: string; config?: string; cluster?: string; prefetch?: number; prefetchOnly?: boolean; prefetchDir?: string }) => {
      if (flags.prefetchOnly) {
        const { runPrefetch } = await import('./wal-commands.js');
        process.exitCode = await runPrefetch(names, flags.prefetchDir ?? '', flags);
        return;
      }
      if (names.length !== 2) {
        const { WAL_GET_ABORT } = await import('./wal-commands.js');
        process.stderr.write('pgfleet-agent wal-get: error: give the file name (%f) and the path to write (%p)\n');
        process.exitCode = WAL_GET_ABORT;
        return;
      }
      // A local archive needs neither the configuration nor gRPC: wal-commands.ts loads both.
      if (flags.archive !== undefined) {
        const { walGetLocal } = await import('../wal/wal-get-local.js');
        const result = await walGetLocal(flags.archive, names[0] as string, names[1] as string);
        if (result.status !== 0) info(`${result.status === 1 ? '' : 'error: '}${result.message}`);
        process.exitCode = result.status;
        return;
      }
      const { runWalGet } = await import('./wal-commands.js');
      process.exitCode = await runWalGet(names[0] as string, names[1] as string, flags);
    });
  return program;
}

async function main(): Promise<void> {
  // Archive stages free their per-block garbage early (core's young-garbage.ts): a program's choice.
  enableYoungGarbageCollection();
  // Full collections driven by streamed buffers, not by live data (core's heap-growth.ts).
  growHeapForStreaming();
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // A restore_command that cannot even run must abort recovery, not look like the archive's end.
      const usage = process.argv[2] === 'wal-get' ? 255 : 31;
      process.exitCode = err.exitCode === 0 ? 0 : usage;
      return;
    }
    process.exitCode = printError(err);
  }
}

await main();
