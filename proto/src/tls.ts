/**
 * TLS of every pgfleet channel: mutual authentication. A server presents its certificate and
 * demands a client certificate signed by the CA (what the certificate may do is the call
 * guard's business: call-guard.ts); a client verifies the server against the CA and presents
 * its own. Plaintext only when a configuration asks for it explicitly (null material), for a
 * local demo.
 */

import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { InvalidOptionError, fileError } from '@pgfleet/core/errors';

/** Paths of a CA certificate and of one's own certificate and key (PEM). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Reads the three files; a missing one is a FileIoError naming it, with `hint` (how to make them). */
export async function readTlsFiles(files: TlsFiles, hint?: string): Promise<TlsMaterial> {
  const read = async (file: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw fileError(`could not read ${what}`, file, err, hint);
    }
  };
  // Read at once, but reported in a fixed order: with several files missing, the error names
  // the same one (the CA first) every time, not whichever read failed first.
  const results = await Promise.allSettled([read(files.ca, 'CA certificate'), read(files.cert, 'certificate'), read(files.key, 'private key')]);
  const [ca, cert, key] = results.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  }) as [Buffer, Buffer, Buffer];
  return { ca, cert, key };
}

function invalid(err: unknown): InvalidOptionError {
  return new InvalidOptionError(`invalid TLS material: ${err instanceof Error ? err.message : String(err)}`);
}

export function serverCredentials(tls: TlsMaterial | null): grpc.ServerCredentials {
  if (tls === null) return grpc.ServerCredentials.createInsecure();
  try {
    return grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
  } catch (err) {
    throw invalid(err);
  }
}

export function clientCredentials(tls: TlsMaterial | null): grpc.ChannelCredentials {
  if (tls === null) return grpc.credentials.createInsecure();
  try {
    return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert);
  } catch (err) {
    throw invalid(err);
  }
}
