// A grpc.health.v1 client built from the standard health.proto (the file grpc publishes, as
// shipped by grpc-health-check), not from anything of pgfleet's: what a load balancer or
// grpc_health_probe would ask.
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

type HealthClient = grpc.Client & {
  Check(req: { service: string }, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
};

let Health: (new (address: string, credentials: grpc.ChannelCredentials) => HealthClient) | undefined;

function healthClient(address: string, credentials: grpc.ChannelCredentials): HealthClient {
  if (Health === undefined) {
    const definition = grpc.loadPackageDefinition(loadSync(protoPath, { keepCase: true, enums: String, defaults: true }));
    const v1 = (definition['grpc'] as grpc.GrpcObject)['health'] as grpc.GrpcObject;
    Health = (v1['v1'] as grpc.GrpcObject)['Health'] as unknown as typeof Health;
  }
  return new Health!(address, credentials);
}

/** Health/Check of `service` ("" = the server): the status ("SERVING", ...), or the gRPC error. */
export async function checkHealth(address: string, service: string, credentials = grpc.credentials.createInsecure()): Promise<string | grpc.ServiceError> {
  const client = healthClient(address, credentials);
  try {
    return await new Promise((resolve) => {
      client.Check({ service }, { deadline: Date.now() + 20_000 }, (err, res) => resolve(err ?? res?.status ?? 'no answer'));
    });
  } finally {
    client.close();
  }
}
