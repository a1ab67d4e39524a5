/**
 * Test and small-setup certificates with the openssl command: a CA (ca.crt/ca.key), a server
 * certificate for the given host names / IP addresses (server.crt/key, extendedKeyUsage
 * serverAuth, role agent) and a client certificate for the controller (client.crt/key,
 * clientAuth, role controller), all signed by the CA. The role is core's subjectAltName URI
 * urn:pgfleet:role:<role> (certificate-roles.ts): the agent answers only clients whose
 * certificate has role controller. The controller trusts the agent's server certificate
 * through the same CA. Keys are written 0600.
 *
 * The equivalent openssl commands are listed in the package README for operators who run
 * their own CA.
 */

import { execFile } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { InvalidOptionError, fileError, roleUri } from '@pgfleet/core';

const execFileAsync = promisify(execFile);

export interface CertificateFiles {
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') {
      throw new InvalidOptionError('the "openssl" program is not installed', { hint: 'Install openssl, or make the certificates with your own CA.' });
    }
    throw new InvalidOptionError(`openssl ${args[0] ?? ''} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

export async function makeCertificates(options: { outDir: string; hosts: string[]; days?: number; clientName?: string }): Promise<CertificateFiles> {
  const dir = path.resolve(options.outDir);
  const days = String(options.days ?? 825);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fileError('could not create directory', dir, err);
  }
  const san = [...options.hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)), `URI:${roleUri('agent')}`].join(',');
  const serverExt = path.join(dir, 'server.ext');
  const clientExt = path.join(dir, 'client.ext');
  await writeFile(serverExt, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  await writeFile(clientExt, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:${roleUri('controller')}\n`);
  const files: CertificateFiles = {
    ca: path.join(dir, 'ca.crt'), caKey: path.join(dir, 'ca.key'),
    serverCert: path.join(dir, 'server.crt'), serverKey: path.join(dir, 'server.key'),
    clientCert: path.join(dir, 'client.crt'), clientKey: path.join(dir, 'client.key'),
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...key, '-keyout', files.caKey, '-out', files.ca, '-days', days, '-subj', '/CN=pgfleet test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  for (const [cert, keyFile, cn, ext] of [
    [files.serverCert, files.serverKey, `/CN=${options.hosts[0] ?? 'localhost'}`, serverExt],
    [files.clientCert, files.clientKey, `/CN=${options.clientName ?? 'pgfleet-controller'}`, clientExt],
  ] as const) {
    const csr = `${cert}.csr`;
    await openssl(['req', '-new', ...key, '-keyout', keyFile, '-out', csr, '-subj', cn], dir);
    await openssl(['x509', '-req', '-in', csr, '-CA', files.ca, '-CAkey', files.caKey, '-CAcreateserial', '-out', cert, '-days', days, '-extfile', ext], dir);
    await rm(csr, { force: true });
  }
  await rm(serverExt, { force: true });
  await rm(clientExt, { force: true });
  await rm(path.join(dir, 'ca.srl'), { force: true });
  for (const k of [files.caKey, files.serverKey, files.clientKey]) await chmod(k, 0o600);
  return files;
}
