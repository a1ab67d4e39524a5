// The CLI's own main() in this process, against an insecure daemon on a local port, with its
// output captured: for daemon tests that drive the service the way users do.
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/output.js';

export interface MainResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function mainAgainst(port: number, args: string[]): Promise<MainResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; },
    env: { PGFLEET_CONTROLLER: `127.0.0.1:${port}`, PGFLEET_INSECURE: '1' }, isTty: false,
    interrupted: () => new Promise(() => {}),
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}
