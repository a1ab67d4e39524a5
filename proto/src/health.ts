/**
 * grpc.health.v1 on a pgfleet daemon, with grpc-health-check (grpc's own implementation of
 * the standard health protocol, so any health client works: grpc_health_probe, load balancers,
 * Kubernetes' gRPC probes). Two names answer: "" (the process) and the daemon's service
 * ("pgfleet.v1.Agent" or "pgfleet.v1.Controller"); both are NOT_SERVING until the server is
 * bound, SERVING while it serves, and NOT_SERVING again from the moment it begins to stop
 * (Watch callers see the change).
 *
 * Who may ask: the call guard lets Health calls through for any client certificate the TLS
 * handshake accepted, i.e. any certificate of the fleet's CA that may act as a TLS client,
 * whatever its role or CN (call-guard.ts). The answer says only whether the daemon serves.
 */
import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';

/** The full name of the standard health service (what its method paths begin with). */
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export class DaemonHealth {
  private readonly health: HealthImplementation;

  constructor(private readonly service: string) {
    this.health = new HealthImplementation({ '': 'NOT_SERVING', [service]: 'NOT_SERVING' });
  }

  /** Adds the Health service to `server` (before it is bound). */
  addTo(server: grpc.Server): void {
    this.health.addToServer(server);
  }

  serving(): void {
    this.set('SERVING');
  }

  notServing(): void {
    this.set('NOT_SERVING');
  }

  private set(status: 'SERVING' | 'NOT_SERVING'): void {
    this.health.setStatus('', status);
    this.health.setStatus(this.service, status);
  }
}
