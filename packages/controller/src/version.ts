/**
 * Protocol versions and their negotiation. Each wire contract has a "MAJOR.MINOR" version:
 * minors only add (fields, messages, RPCs; each side ignores what it does not know), so peers
 * with the same major work together whatever their minors (a fleet is upgraded host by host);
 * a different major is refused with an error that says which side to upgrade. Features a
 * peer may lack are tested through its capability list, not its version.
 */
import { IncompatibleVersionError, InvalidOptionError } from '@pgfleet/core';
import { PGFLEET_VERSION } from './core-api.js';

export { PGFLEET_VERSION };

/** controller.proto: the CLI <-> controller contract. */
export const CONTROLLER_PROTOCOL_VERSION = '1.0';
/** agent.proto as this controller speaks it. */
export const AGENT_PROTOCOL_VERSION = '1.0';

/** What the controller can do, announced in GetControllerInfo. */
export const CONTROLLER_CAPABILITIES = ['backup', 'backup-direct', 'backup-agent', 'restore', 'verify', 'expire'];

export interface ProtocolVersion {
  major: number;
  minor: number;
}

export function parseProtocolVersion(text: string): ProtocolVersion | null {
  const m = /^(\d+)\.(\d+)$/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

export interface CompatibilityContext {
  /** 'agent "db1"', 'controller "127.0.0.1:7400"'. */
  peer: string;
  /** Which of the two to upgrade when the peer is older/newer: names as users know them. */
  self: string;
}

/** Throws IncompatibleVersionError unless `theirs` can talk to `ours`. */
export function checkProtocolCompatibility(ours: string, theirs: string, context: CompatibilityContext): void {
  const o = parseProtocolVersion(ours);
  if (o === null) throw new InvalidOptionError(`invalid protocol version "${ours}"`);
  const t = parseProtocolVersion(theirs);
  if (t === null) {
    throw new IncompatibleVersionError(`${context.peer} announced no valid protocol version ("${theirs}")`, {
      hint: `Upgrade ${context.peer} to a pgfleet release that speaks protocol ${o.major}.x.`,
    });
  }
  if (t.major !== o.major) {
    const older = t.major < o.major ? context.peer : `this ${context.self}`;
    throw new IncompatibleVersionError(
      `${context.peer} speaks protocol ${theirs}, this ${context.self} speaks ${ours}`,
      { hint: `Upgrade ${older} so that both have protocol major version ${Math.max(t.major, o.major)}.` },
    );
  }
}
