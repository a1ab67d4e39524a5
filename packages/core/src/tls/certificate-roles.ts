/**
 * Certificate roles: what a peer of the fleet's mutual TLS may do. A certificate signed by the
 * fleet CA proves who the peer is; its role says what it is:
 *
 *   controller   the daemon: calls agents                      (clientAuth + serverAuth)
 *   cli          the pgfleet command line: calls the controller (clientAuth)
 *   agent        an agent: serves the controller                (serverAuth)
 *
 * The role is written into the certificate as a subjectAltName URI, `urn:pgfleet:role:<role>`
 * (`openssl x509 -noout -ext subjectAltName` shows it), next to the extendedKeyUsage that
 * TLS itself enforces. A certificate may carry several roles. Every daemon checks the role of
 * the client certificate on every call (authorizePeer): agents answer controllers only, the
 * controller answers CLIs. A client certificate must also list extendedKeyUsage clientAuth
 * explicitly (TLS accepts one without any extendedKeyUsage for every purpose; we do not), and,
 * when the daemon's configuration has an allow-list of common names (tls.allowedClients, as
 * pgBackRest's tls-server-auth), its CN must be on it.
 *
 * The ASN.1 reader (@peculiar/asn1-x509, the layer @peculiar/x509 parses with; @peculiar/x509
 * itself needs a process-wide Reflect polyfill) is loaded on first use, so that programs that
 * never check a peer (pgfleet-basebackup) do not pay for it.
 */

import { NotAllowedError } from '../errors.js';

export type PeerRole = 'controller' | 'agent' | 'cli';

export const PEER_ROLES: readonly PeerRole[] = ['controller', 'agent', 'cli'];

const ROLE_URI_PREFIX = 'urn:pgfleet:role:';

/** The subjectAltName URI that gives a certificate `role`. */
export function roleUri(role: PeerRole): string {
  return `${ROLE_URI_PREFIX}${role}`;
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/** What a certificate says about its holder, as far as authorization is concerned. */
export interface CertificateIdentity {
  /** The subject's CN (the last one when there are several), or null. */
  commonName: string | null;
  /** Roles from `urn:pgfleet:role:*` URIs that name a known role. */
  roles: PeerRole[];
  /** `urn:pgfleet:role:*` URIs naming a role this build does not know. */
  unknownRoles: string[];
  /** extendedKeyUsage lists clientAuth / serverAuth (false when the extension is absent). */
  clientAuth: boolean;
  serverAuth: boolean;
}

type Asn1 = [typeof import('@peculiar/asn1-schema'), typeof import('@peculiar/asn1-x509')];
let asn1: Promise<Asn1> | null = null;

/** Reads the roles, CN and extendedKeyUsage of a DER certificate. */
export async function readCertificateIdentity(der: Uint8Array): Promise<CertificateIdentity> {
  asn1 ??= Promise.all([import('@peculiar/asn1-schema'), import('@peculiar/asn1-x509')]);
  const [{ AsnConvert }, x509] = await asn1;
  const identity: CertificateIdentity = { commonName: null, roles: [], unknownRoles: [], clientAuth: false, serverAuth: false };
  let cert;
  try {
    cert = AsnConvert.parse(der, x509.Certificate);
  } catch (err) {
    throw new NotAllowedError(`the peer's certificate could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const rdn of cert.tbsCertificate.subject) {
    for (const attribute of rdn) {
      if (attribute.type === OID_COMMON_NAME) identity.commonName = attribute.value.toString();
    }
  }
  for (const extension of cert.tbsCertificate.extensions ?? []) {
    if (extension.extnID === x509.id_ce_subjectAltName) {
      for (const name of AsnConvert.parse(extension.extnValue, x509.SubjectAlternativeName)) {
        const uri = name.uniformResourceIdentifier;
        if (uri === undefined || !uri.startsWith(ROLE_URI_PREFIX)) continue;
        const role = uri.slice(ROLE_URI_PREFIX.length);
        if ((PEER_ROLES as readonly string[]).includes(role)) identity.roles.push(role as PeerRole);
        else identity.unknownRoles.push(role);
      }
    } else if (extension.extnID === x509.id_ce_extKeyUsage) {
      const usages = [...AsnConvert.parse(extension.extnValue, x509.ExtendedKeyUsage)] as string[];
      identity.clientAuth = usages.includes(OID_CLIENT_AUTH);
      identity.serverAuth = usages.includes(OID_SERVER_AUTH);
    }
  }
  return identity;
}

/** Who may call a daemon. */
export interface PeerPolicy {
  /** The daemon, as messages name it: "agent", "controller". */
  self: string;
  /** Roles accepted (one is enough). */
  accept: readonly PeerRole[];
  /** Common names accepted; null: any (the role decides). */
  allowedClients: readonly string[] | null;
  /** Where the allow-list comes from, for the HINT: 'tls.allowedClients in "/etc/pgfleet/agent.yaml"'. */
  allowedClientsSource?: string;
  /** The HINT of a refusal for the role (what to use instead). */
  roleHint: string;
}

function quoted(roles: readonly string[]): string {
  return roles.map((r) => `"${r}"`).join(' or ');
}

/**
 * Throws NotAllowedError unless the client whose DER certificate this is may call the daemon
 * (an absent or empty certificate is refused).
 */
export async function authorizePeerCertificate(der: Uint8Array | undefined, policy: PeerPolicy): Promise<void> {
  if (der === undefined || der.length === 0) {
    throw new NotAllowedError(`the client presented no certificate; the ${policy.self} requires role ${quoted(policy.accept)}`);
  }
  authorizePeer(await readCertificateIdentity(der), policy);
}

/** Throws NotAllowedError unless a client with this certificate may call the daemon. */
export function authorizePeer(identity: CertificateIdentity, policy: PeerPolicy): void {
  const who = `client certificate "${identity.commonName ?? '(no CN)'}"`;
  const required = `the ${policy.self} requires role ${quoted(policy.accept)}`;
  if (!identity.clientAuth) {
    throw new NotAllowedError(`${who} is not meant for client authentication (its extendedKeyUsage does not list clientAuth); ${required}`, {
      hint: 'Issue client certificates with extendedKeyUsage clientAuth, as "pgfleet certs init" does.',
    });
  }
  if (identity.roles.length === 0) {
    const unknown = identity.unknownRoles.length > 0 ? ` it knows (it has ${quoted(identity.unknownRoles)})` : '';
    throw new NotAllowedError(`${who} has no pgfleet role${unknown}; ${required}`, {
      hint: `Issue it with "pgfleet certs init", which writes the role as the subjectAltName URI "${ROLE_URI_PREFIX}<role>". ${policy.roleHint}`,
    });
  }
  if (!identity.roles.some((r) => policy.accept.includes(r))) {
    throw new NotAllowedError(`${who} has role ${quoted(identity.roles)}; ${required}`, { hint: policy.roleHint });
  }
  if (policy.allowedClients !== null && !policy.allowedClients.includes(identity.commonName ?? '')) {
    throw new NotAllowedError(`${who} is not in the ${policy.self}'s list of allowed clients`, {
      hint: `Add "${identity.commonName ?? ''}" to ${policy.allowedClientsSource ?? 'tls.allowedClients'}, or use a certificate whose CN is listed there.`,
    });
  }
}
