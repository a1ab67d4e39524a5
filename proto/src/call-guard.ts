/**
 * What every call to a pgfleet server (agent or controller) goes through, before and around
 * its handler:
 *
 * - peerInterceptor(policy): the client's certificate must have a role the server accepts
 *   (core's certificate-roles.ts: subjectAltName URI urn:pgfleet:role:<role>, extendedKeyUsage
 *   clientAuth) and, when the configuration lists tls.allowedClients, a CN on that list.
 *   Checked on every call, before its handler runs; a refusal ends the call with
 *   PERMISSION_DENIED and a NotAllowedError naming the role found and the one required.
 *   Without TLS (insecure) there is no certificate and nothing to check. The one exception is
 *   grpc.health.v1.Health: any client certificate the TLS handshake accepted (signed by the
 *   fleet's CA, usable as a client) may ask whether the daemon serves, whatever its role, so
 *   that a monitoring probe needs no certificate that could also drive backups and restores;
 *   the answer tells nothing more than SERVING or NOT_SERVING.
 * - guardHandlers(handlers): a handler that throws, or whose promise rejects, ends its call
 *   with that error's status. Nothing a handler does can escape into grpc-js (which would
 *   answer "Unknown error") or into the process (an unhandled rejection ends it, and every
 *   other call with it).
 */

import * as grpc from '@grpc/grpc-js';
import { authorizePeerCertificate, type PeerPolicy } from '@pgfleet/core';
import { toServiceError, toStatus } from './error-codec.js';
import { HEALTH_SERVICE } from './health.js';

/**
 * Refuses, on every call, a client whose certificate does not satisfy `policy` (null: no TLS);
 * a function chooses the policy by the method's path ("/pgfleet.v1.WalArchive/GetWal"), for a
 * server whose services answer different roles.
 */
export function peerInterceptor(policyOf: PeerPolicy | null | ((path: string) => PeerPolicy | null),
  onRefused: (peer: string, err: unknown) => void): grpc.ServerInterceptor {
  return (method, call) => new grpc.ServerInterceptingCall(call, {
    start: (next) => {
      next({
        onReceiveMetadata: (metadata, pass) => {
          const policy = typeof policyOf === 'function' ? policyOf(method.path) : policyOf;
          if (policy === null || method.path.startsWith(`/${HEALTH_SERVICE}/`)) {
            pass(metadata);
            return;
          }
          authorizePeerCertificate(call.getAuthContext().sslPeerCertificate?.raw, policy).then(() => pass(metadata), (err: unknown) => {
            onRefused(call.getPeer(), err);
            call.sendStatus(toStatus(err));
          });
        },
      });
    },
  });
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> |
  grpc.ServerReadableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;
type Callback = (err: unknown, ...rest: unknown[]) => void;
type AnyHandler = (call: AnyCall, callback?: Callback) => unknown;

/** Ends a call with `status`, once: through the callback of a unary call, else as the stream's error. */
function ender(call: AnyCall, respond: Callback | undefined, answered: () => boolean): (status: grpc.ServiceError) => void {
  return (status) => {
    if (respond !== undefined) {
      if (!answered()) respond(status);
    } else if (!call.cancelled && !(call as grpc.ServerWritableStream<unknown, unknown>).writableEnded) {
      call.emit('error', status);
    }
  };
}

/** `handlers` with every throw and rejection turned into the call's error status. */
export function guardHandlers<H extends object>(handlers: H, onError: (method: string, peer: string, err: unknown) => void): H {
  const guarded: Record<string, AnyHandler> = {};
  for (const [method, handler] of Object.entries(handlers) as Array<[string, AnyHandler]>) {
    guarded[method] = (call, callback) => {
      let answered = false;
      const respond: Callback | undefined = callback && ((err, ...rest) => {
        answered = true;
        callback(err, ...rest);
      });
      const end = ender(call, respond, () => answered);
      const fail = (err: unknown): void => {
        onError(method, call.getPeer(), err);
        try {
          end(toServiceError(err));
        } catch {
          // The error could not be encoded: the call still ends, without its details.
          try {
            end(Object.assign(new Error('internal error'), { code: grpc.status.INTERNAL, details: 'internal error', metadata: new grpc.Metadata() }));
          } catch {
            // The call is already gone: nothing left to tell.
          }
        }
      };
      try {
        const result = respond !== undefined ? handler(call, respond) : handler(call);
        if (result instanceof Promise) result.catch(fail);
      } catch (err) {
        fail(err);
      }
    };
  }
  return guarded as H;
}
