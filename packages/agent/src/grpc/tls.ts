/**
 * TLS for the agent's gRPC server and its clients: mutual authentication. The server presents
 * `cert`/`key` and requires a client certificate signed by `ca` (checkClientCertificate); a
 * client presents its own certificate and trusts servers signed by the same CA. Plaintext only
 * when explicitly asked for (insecure).
 */

import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { fileError } from '@pgfleet/core';
import type { AgentTlsFiles } from '../config.js';

async function read(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw fileError(`could not read TLS ${what}`, file, err);
  }
}

export async function serverCredentials(tls: AgentTlsFiles | null): Promise<grpc.ServerCredentials> {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  const [ca, cert, key] = await Promise.all([read(tls.ca, 'CA certificate'), read(tls.cert, 'certificate'), read(tls.key, 'key')]);
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true);
}

export async function clientCredentials(tls: AgentTlsFiles | null): Promise<grpc.ChannelCredentials> {
  if (tls === null) return grpc.credentials.createInsecure();
  const [ca, cert, key] = await Promise.all([read(tls.ca, 'CA certificate'), read(tls.cert, 'certificate'), read(tls.key, 'key')]);
  return grpc.credentials.createSsl(ca, key, cert);
}
