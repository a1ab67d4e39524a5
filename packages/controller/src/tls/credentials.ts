/**
 * gRPC credentials from certificate files. Mutual TLS everywhere: a server demands a client
 * certificate signed by the CA (checkClientCertificate), a client verifies the server's
 * certificate against the CA and presents its own. Plaintext only when asked for explicitly
 * (`insecure`), for a local demo.
 */
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { InvalidOptionError, fileError } from '@pgfleet/core';
import type { TlsFiles } from '../config.js';

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export async function readTlsFiles(files: TlsFiles): Promise<TlsMaterial> {
  const read = async (path: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw fileError(`could not read ${what}`, path, err, 'Run "pgfleet certs init DIR" to create a CA and certificates, or fix the path.');
    }
  };
  return { ca: await read(files.ca, 'CA certificate'), cert: await read(files.cert, 'certificate'), key: await read(files.key, 'private key') };
}

export function serverCredentials(tls: TlsMaterial | null): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  try {
    return grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
  } catch (err) {
    throw new InvalidOptionError(`invalid TLS material: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function clientCredentials(tls: TlsMaterial | null): grpc.ChannelCredentials {
  if (tls === null) return grpc.credentials.createInsecure();
  try {
    return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert);
  } catch (err) {
    throw new InvalidOptionError(`invalid TLS material: ${err instanceof Error ? err.message : String(err)}`);
  }
}
