/**
 * Protocol versions and their negotiation, one rule for both contracts. Each contract has a
 * "MAJOR.MINOR" version: minors only add (fields, messages, RPCs, enum values; each side
 * ignores what it does not know), so peers of one major work together whatever their minors (a
 * fleet is upgraded host by host); a different major is refused with ONE error on every side:
 * IncompatibleVersionError (code 53), "<peer> speaks protocol X.Y, this <self> speaks A.B",
 * and a HINT naming the side to upgrade. Something only a newer minor can read is sent to a
 * peer only when its version says it can (speaksAtLeast); features a peer may lack are also
 * announced as capabilities.
 */

import { IncompatibleVersionError, InvalidOptionError } from '@pgfleet/core/errors';

/** agent.proto: controller -> agent. */
export const AGENT_PROTOCOL_VERSION = '2.3';
/** controller.proto: CLI -> controller. */
export const CONTROLLER_PROTOCOL_VERSION = '1.6';

export interface ProtocolVersion {
  major: number;
  minor: number;
}

export function parseProtocolVersion(text: string): ProtocolVersion | null {
  const m = /^(\d{1,9})\.(\d{1,9})$/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
}

export interface CompatibilityContext {
  /** The other side as messages name it: 'agent "db1"', 'controller "127.0.0.1:7400"', 'client "pgfleet 0.1.0"'. */
  peer: string;
  /** This side, as users know it: 'agent', 'controller', 'pgfleet CLI'. */
  self: string;
}

/** Throws IncompatibleVersionError unless a peer speaking `theirs` can talk to us (`ours`). */
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
    throw new IncompatibleVersionError(`${context.peer} speaks protocol ${theirs}, this ${context.self} speaks ${ours}`, {
      hint: `Upgrade ${older} so that both have protocol major version ${Math.max(t.major, o.major)}.`,
    });
  }
}

/** Whether a peer announcing `theirs` (same major, checked before) knows what `minimum` added. */
export function speaksAtLeast(theirs: string, minimum: string): boolean {
  const t = parseProtocolVersion(theirs);
  const m = parseProtocolVersion(minimum);
  if (t === null || m === null) return false;
  return t.major > m.major || (t.major === m.major && t.minor >= m.minor);
}
