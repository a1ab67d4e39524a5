/**
 * A private CA and the certificates a fleet needs for mutual TLS, for both tools that make
 * them (`pgfleet certs init DIR` and `pgfleet-agent certs --out DIR`), with one naming scheme:
 *
 *   DIR/ca.crt, ca.key                  the CA (keep ca.key offline in production)
 *   DIR/controller.crt, controller.key  the daemon: server for the CLI, client of the agents
 *   DIR/cli.crt, cli.key                the pgfleet CLI (client)
 *   DIR/agent-<name>.crt, .key          one per agent (server for the controller, client of its
 *                                       WAL archive service)
 *
 * Each certificate carries its role (core's certificate-roles.ts: the subjectAltName URI
 * urn:pgfleet:role:controller, :cli or :agent), which every daemon checks on every call:
 * agents answer the controller only, the controller answers the CLI on its API and agents only
 * on the WAL archive service (archive-push, wal-get). The extendedKeyUsage matches (TLS
 * enforces it too): the controller serverAuth and clientAuth (it serves the CLI and calls the
 * agents), the CLI clientAuth only, an agent serverAuth and clientAuth (it serves the
 * controller and calls its WAL archive service; the controller's role check keeps an agent's
 * certificate away from everything else). Every leaf carries CN=<its name>
 * and subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1, DNS:<agent name> plus the --host
 * values. Keys are ECDSA P-256, files 0600 in a 0700 directory.
 *
 * Existing files are never overwritten: when DIR already holds ca.crt and ca.key, that CA
 * signs the certificates that are missing (e.g. a new agent); a leaf whose .crt or .key exists
 * is left as it is and reported as kept.
 *
 * Tool: the openssl program when it is on PATH (what administrators know and can audit),
 * otherwise node:crypto with the DER writer in x509.ts. Both produce the same profile.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FileIoError, InvalidOptionError, fileError, isErrno } from '../errors.js';
import { roleUri, type PeerRole } from './certificate-roles.js';
import { createCertificate } from './x509.js';

const run = promisify(execFile);

export type CertTool = 'openssl' | 'node';

export interface InitCertificatesOptions {
  dir: string;
  /** Agent names; one certificate each. Default ["agent"]. */
  agents?: string[];
  /** Extra host names or IP addresses for every leaf certificate. */
  hosts?: string[];
  /** Leaf validity in days (default 825); the CA gets ten years. */
  days?: number;
  /** 'auto' (default): openssl when found, else node. */
  tool?: CertTool | 'auto';
}

/** What a run did, as the lines both commands print. */
export function describeCertificates(dir: string, result: InitCertificatesResult): string[] {
  return [
    `${result.caCreated ? 'created a new CA' : 'used the existing CA'} in "${dir}" (${result.tool})`,
    ...result.created.map((f) => `created "${f}"`),
    ...result.kept.map((k) => `kept existing "${k}" certificate`),
  ];
}

export interface InitCertificatesResult {
  tool: CertTool;
  caCreated: boolean;
  /** Files written. */
  created: string[];
  /** Leaf names left alone because their files existed. */
  kept: string[];
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const CA_DAYS = 3650;

export async function initCertificates(options: InitCertificatesOptions): Promise<InitCertificatesResult> {
  const dir = options.dir;
  const agents = options.agents && options.agents.length > 0 ? options.agents : ['agent'];
  const hosts = options.hosts ?? [];
  const days = options.days ?? 825;
  for (const a of agents) {
    if (!NAME_PATTERN.test(a)) throw new InvalidOptionError(`invalid agent name "${a}"`, { hint: 'Use letters, digits, ".", "_" and "-".' });
  }
  for (const h of hosts) {
    if (!/^[A-Za-z0-9.:_-]+$/.test(h)) throw new InvalidOptionError(`invalid host name "${h}"`);
  }
  if (!Number.isInteger(days) || days < 1) throw new InvalidOptionError(`invalid number of days "${days}"`);
  const tool: CertTool = options.tool === undefined || options.tool === 'auto'
    ? (await hasOpenssl() ? 'openssl' : 'node') : options.tool;

  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fileError('could not create directory', dir, err);
  }
  const result: InitCertificatesResult = { tool, caCreated: false, created: [], kept: [] };
  const caCrt = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const haveCrt = await exists(caCrt);
  const haveKey = await exists(caKey);
  if (haveCrt !== haveKey) {
    throw new FileIoError(`found "${haveCrt ? caCrt : caKey}" without "${haveCrt ? caKey : caCrt}"`, {
      hint: 'Restore the missing file, or move both away to create a new CA.',
    });
  }
  const issuer = tool === 'openssl' ? opensslIssuer : nodeIssuer;
  if (!haveCrt) {
    await issuer.createCa(caCrt, caKey);
    result.caCreated = true;
    result.created.push(caCrt, caKey);
  }
  const leaves = ['controller', 'cli', ...agents.map((a) => `agent-${a}`)];
  for (const leaf of leaves) {
    const crt = join(dir, `${leaf}.crt`);
    const key = join(dir, `${leaf}.key`);
    if (await exists(crt) || await exists(key)) {
      result.kept.push(leaf);
      continue;
    }
    const cn = leaf.startsWith('agent-') ? leaf.slice('agent-'.length) : `pgfleet-${leaf}`;
    const role: PeerRole = leaf === 'controller' ? 'controller' : leaf === 'cli' ? 'cli' : 'agent';
    // An agent serves the controller and calls it too (archive-push, wal-get).
    const usages: Usage[] = role === 'cli' ? ['client'] : ['server', 'client'];
    const altNames = unique(['localhost', '127.0.0.1', '::1', ...(NAME_PATTERN.test(cn) && !cn.startsWith('pgfleet-') ? [cn] : []), ...hosts]);
    await issuer.createLeaf({ crt, key, caCrt, caKey, cn, altNames, role, days, usages });
    result.created.push(crt, key);
  }
  return result;
}

type Usage = 'server' | 'client';

interface LeafRequest {
  crt: string; key: string; caCrt: string; caKey: string; cn: string; altNames: string[]; role: PeerRole; days: number; usages: Usage[];
}

interface Issuer {
  createCa(crt: string, key: string): Promise<void>;
  createLeaf(req: LeafRequest): Promise<void>;
}

// --- openssl ------------------------------------------------------------------------------

async function hasOpenssl(): Promise<boolean> {
  try {
    await run('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim().split('\n').slice(-2).join(' ') ?? String(err);
    throw new FileIoError(`openssl ${args[0]} failed: ${stderr}`);
  }
}

const opensslIssuer: Issuer = {
  async createCa(crt, key) {
    await openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', crt, '-days', String(CA_DAYS), '-sha256', '-subj', '/CN=pgfleet CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyCertSign,cRLSign']);
    await tighten(key);
  },
  async createLeaf(req) {
    const work = await mkdtemp(join(req.crt, '..', '.certs-'));
    try {
      const csr = join(work, 'req.csr');
      const ext = join(work, 'ext.cnf');
      await writeFile(ext, [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${req.usages.map((u) => (u === 'server' ? 'serverAuth' : 'clientAuth')).join(',')}`,
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
        `subjectAltName=${[...req.altNames.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)), `URI:${roleUri(req.role)}`].join(',')}`,
        '',
      ].join('\n'));
      await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', req.key, '-out', csr, '-subj', `/CN=${req.cn}`]);
      await tighten(req.key);
      await openssl(['x509', '-req', '-in', csr, '-CA', req.caCrt, '-CAkey', req.caKey, '-set_serial',
        `0x${randomBytes(15).toString('hex')}`,
        '-days', String(req.days), '-sha256', '-extfile', ext, '-out', req.crt]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};

// --- node:crypto --------------------------------------------------------------------------

function newKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  // A minute back, so a peer whose clock is slightly behind accepts a fresh certificate.
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * 86_400_000) };
}

async function writeKey(path: string, key: KeyObject): Promise<void> {
  try {
    await writeFile(path, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw fileError('could not write file', path, err);
  }
}

async function writeCert(path: string, pem: string): Promise<void> {
  try {
    await writeFile(path, pem, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    throw fileError('could not write file', path, err);
  }
}

const nodeIssuer: Issuer = {
  async createCa(crt, key) {
    const pair = newKeyPair();
    const pem = createCertificate({
      subject: 'pgfleet CA', issuer: 'pgfleet CA', publicKey: pair.publicKey, signingKey: pair.privateKey,
      issuerPublicKey: pair.publicKey, ...validity(CA_DAYS), isCA: true, altNames: [],
    });
    await writeKey(key, pair.privateKey);
    await writeCert(crt, pem);
  },
  async createLeaf(req) {
    const caKey = createPrivateKey(await readFile(req.caKey));
    const caPub = createPublicKey(caKey);
    const caCn = /CN=([^\n,]+)/.exec(new X509Certificate(await readFile(req.caCrt)).subject)?.[1] ?? 'pgfleet CA';
    const pair = newKeyPair();
    const pem = createCertificate({
      subject: req.cn, issuer: caCn, publicKey: pair.publicKey, signingKey: caKey, issuerPublicKey: caPub,
      ...validity(req.days), isCA: false, altNames: req.altNames, uris: [roleUri(req.role)], usages: req.usages,
    });
    await writeKey(req.key, pair.privateKey);
    await writeCert(req.crt, pem);
  },
};

// --- helpers ------------------------------------------------------------------------------

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw fileError('could not access file', path, err);
  }
}

async function tighten(path: string): Promise<void> {
  await chmod(path, 0o600);
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
