/** A unary handler of the Controller service from an async function of the request: its value is the answer, its rejection the call's error status. */
import type * as grpc from '@grpc/grpc-js';
import { toServiceError } from '@pgfleet/proto';

export function unary<Req, Res>(fn: (req: Req) => Promise<Res>) {
  return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
    fn(call.request).then((res) => callback(null, res), (err: unknown) => callback(toServiceError(err)));
  };
}
