import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readCertificateIdentity } from '../../src/tls/certificate-roles.js';
import { initCertificates, type CertTool } from '../../src/tls/certs-init.js';

const made: string[] = [];
after(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'pgfleet-certs-'));
  made.push(d);
  return d;
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

for (const tool of ['node', 'openssl'] as CertTool[]) {
  describe(`certs init with ${tool}`, { skip: tool === 'openssl' && !hasOpenssl() ? 'openssl not installed' : false }, () => {
    test('creates a CA and leaf certificates that chain to it, with the expected names and usages', async () => {
      const dir = join(await tempDir(), 'certs');
      const result = await initCertificates({ dir, agents: ['db1', 'db2'], hosts: ['db1.example.com', '10.1.2.3'], tool });
      assert.equal(result.tool, tool);
      assert.equal(result.caCreated, true);
      assert.deepEqual((await readdir(dir)).sort(), [
        'agent-db1.crt', 'agent-db1.key', 'agent-db2.crt', 'agent-db2.key', 'ca.crt', 'ca.key',
        'cli.crt', 'cli.key', 'controller.crt', 'controller.key',
      ]);
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      const ca = new X509Certificate(await readFile(join(dir, 'ca.crt')));
      assert.equal(ca.ca, true);
      assert.equal(ca.subject, 'CN=pgfleet CA');
      for (const leaf of ['controller', 'cli', 'agent-db1', 'agent-db2']) {
        const cert = new X509Certificate(await readFile(join(dir, `${leaf}.crt`)));
        assert.equal(cert.ca, false, leaf);
        assert.ok(cert.verify(ca.publicKey), `${leaf} is signed by the CA`);
        assert.ok(cert.checkIssued(ca), leaf);
        assert.equal(cert.checkHost('localhost'), 'localhost');
        assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
        assert.equal(cert.checkHost('db1.example.com'), 'db1.example.com');
        assert.equal(cert.checkIP('10.1.2.3'), '10.1.2.3');
        assert.equal(cert.checkHost('other.example.com'), undefined);
        // Agents are servers to the controller and clients of its WAL archive service.
        const expected = leaf === 'cli' ? ['1.3.6.1.5.5.7.3.2'] : ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];
        assert.deepEqual(cert.keyUsage?.sort(), expected, leaf);
        // The role, as the subjectAltName URI every daemon checks (and openssl shows).
        const role = leaf === 'controller' ? 'controller' : leaf === 'cli' ? 'cli' : 'agent';
        assert.match(cert.subjectAltName ?? '', new RegExp(`URI:urn:pgfleet:role:${role}(,|$)`), leaf);
        assert.deepEqual((await readCertificateIdentity(cert.raw)).roles, [role], leaf);
        // The key file matches the certificate.
        const key = createPrivateKey(await readFile(join(dir, `${leaf}.key`)));
        assert.ok(cert.checkPrivateKey(key));
        assert.equal((await stat(join(dir, `${leaf}.key`))).mode & 0o777, 0o600);
        assert.deepEqual(createPublicKey(key).export({ format: 'jwk' }), cert.publicKey.export({ format: 'jwk' }));
      }
      assert.equal(new X509Certificate(await readFile(join(dir, 'agent-db1.crt'))).subject, 'CN=db1');
      assert.equal(new X509Certificate(await readFile(join(dir, 'agent-db1.crt'))).checkHost('db1'), 'db1');
      assert.equal(new X509Certificate(await readFile(join(dir, 'cli.crt'))).subject, 'CN=pgfleet-cli');
      if (hasOpenssl()) {
        // openssl, everybody's reference, accepts each certificate for its purposes only.
        const verify = (purpose: string, leaf: string): boolean => {
          try {
            execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', join(dir, 'ca.crt'), join(dir, `${leaf}.crt`)], { stdio: 'pipe' });
            return true;
          } catch {
            return false;
          }
        };
        assert.deepEqual(
          ['controller', 'cli', 'agent-db1'].map((l) => [l, verify('sslserver', l), verify('sslclient', l)]),
          [['controller', true, true], ['cli', false, true], ['agent-db1', true, true]],
        );
      }
    });

    test('a second run reuses the CA, adds missing certificates and never overwrites', async () => {
      const dir = join(await tempDir(), 'certs');
      await initCertificates({ dir, tool });
      const caBefore = await readFile(join(dir, 'ca.crt'));
      const controllerBefore = await readFile(join(dir, 'controller.crt'));
      const again = await initCertificates({ dir, agents: ['agent', 'db9'], tool });
      assert.equal(again.caCreated, false);
      assert.deepEqual(again.kept, ['controller', 'cli', 'agent-agent']);
      assert.deepEqual(again.created, [join(dir, 'agent-db9.crt'), join(dir, 'agent-db9.key')]);
      assert.deepEqual(await readFile(join(dir, 'ca.crt')), caBefore);
      assert.deepEqual(await readFile(join(dir, 'controller.crt')), controllerBefore);
      const ca = new X509Certificate(caBefore);
      assert.ok(new X509Certificate(await readFile(join(dir, 'agent-db9.crt'))).verify(ca.publicKey));
    });
  });
}

test('a CA certificate without its key is refused', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'ca.crt'), 'x');
  await assert.rejects(initCertificates({ dir, tool: 'node' }), {
    message: `found "${join(dir, 'ca.crt')}" without "${join(dir, 'ca.key')}"`,
    hint: 'Restore the missing file, or move both away to create a new CA.',
  });
});

test('bad agent names are refused before anything is written', async () => {
  const dir = join(await tempDir(), 'c');
  await assert.rejects(initCertificates({ dir, agents: ['../x'], tool: 'node' }), { message: 'invalid agent name "../x"' });
  await assert.rejects(stat(dir));
});
