/**
 * The controller's optional HTTP listener (fleet.yaml `http: { listen: HOST:PORT }`):
 *   GET /metrics   Prometheus text format (metrics.ts)
 *   GET /          the status page (status-page.ts)
 * Read-only: other paths are 404, other methods 405. Plain HTTP, meant for localhost or a
 * monitoring network: it tells names, ages and sizes, never conninfos or paths beyond the
 * repository's free space. A failure to compute is a 500 with a one-line text, and logged.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ConnectError, errorText } from '@pgfleet/core';
import type { ListenAddress } from '../config.js';
import type { ControllerState } from '../rpc/service-context.js';
import { fleetStatus } from './fleet-status.js';
import { createFleetMetrics } from './metrics.js';
import { renderStatusPage } from './status-page.js';

export interface FleetHttpServer {
  port: number;
  address: string;
  close(): Promise<void>;
}

export async function startHttpServer(state: ControllerState, listen: ListenAddress): Promise<FleetHttpServer> {
  const metrics = createFleetMetrics(state);
  const send = (res: ServerResponse, code: number, type: string, body: string, head: boolean): void => {
    res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(head ? undefined : body);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', false);
      return;
    }
    try {
      if (path === '/metrics') {
        send(res, 200, metrics.contentType, await metrics.render(), head);
      } else if (path === '/') {
        send(res, 200, 'text/html; charset=utf-8', renderStatusPage(await fleetStatus(state)), head);
      } else {
        send(res, 404, 'text/plain; charset=utf-8', 'not found: this listener serves / and /metrics\n', head);
      }
    } catch (err) {
      state.logger.error(`HTTP ${path}: ${errorText(err)}`);
      send(res, 500, 'text/plain; charset=utf-8', 'internal error (see the controller\'s log)\n', head);
    }
  };
  const server = createServer((req, res) => { void handle(req, res); });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err) => reject(new ConnectError(`could not listen for HTTP on "${listen.host}:${listen.port}": ${err.message}`, {
      hint: 'Change "http.listen" or stop the other process on that port.',
    })));
    server.listen(listen.port, listen.host, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : listen.port);
    });
  });
  return {
    port,
    address: `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
