/**
 * CheckServer: what `pgfleet check` needs to know of a local server, found the way a backup
 * would connect (the request's conninfo, else the running server of its data directory, as
 * the agent's configured role): core's probeReplicationServer.
 */
import { probeReplicationServer } from '@pgfleet/core';
import type { CheckServerRequest__Output, ServerCheck } from '@pgfleet/proto';
import type { AgentConfig } from '../config.js';
import { backupConnection } from './backup.js';

export async function checkServer(req: CheckServerRequest__Output, config: AgentConfig): Promise<ServerCheck> {
  const connection = await backupConnection({ ...req, label: '', checkpoint: '', walMethod: '', compression: '', manifestChecksums: '', maxRateKb: 0, protocolVersion: '' }, config);
  const probe = await probeReplicationServer({ ...connection, passwordPrompt: 'never', fallback_application_name: 'pgfleet-agent check' });
  return {
    target: probe.target, serverVersion: probe.serverVersion, systemIdentifier: probe.systemIdentifier, timeline: probe.timeline,
    walLevel: probe.walLevel, maxWalSenders: probe.maxWalSenders,
    secondSenderOk: probe.secondSender.ok, secondSenderError: probe.secondSender.ok ? '' : probe.secondSender.reason,
  };
}
