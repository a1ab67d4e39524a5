// What `pgfleet check` learns of a server over the replication protocol (core's
// probeReplicationServer, used by the controller for direct clusters and by the agent's
// CheckServer), against every PostgreSQL version under test: it connects for replication,
// reads wal_level and max_wal_senders, and holds one walsender while asking for a second.
// With max_wal_senders = 1 the second is refused, in the server's words: the case the
// wal_senders check fails on.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { probeReplicationServer } from '@pgfleet/core';
import { startCluster, versionsUnderTest } from '../harness/index.js';

describe('server probe of pgfleet check', () => {
  for (const version of versionsUnderTest()) {
    test(`PostgreSQL ${version}: replication, wal_level, two walsenders; one only with max_wal_senders = 1`, async () => {
      const server = await startCluster({ version });
      try {
        const p = await probeReplicationServer({ connectionString: server.connectionString, passwordPrompt: 'never' });
        assert.equal(p.walLevel, 'replica');
        assert.ok(p.maxWalSenders >= 2, String(p.maxWalSenders));
        assert.deepEqual(p.secondSender, { ok: true });
        assert.equal(p.timeline, 1);
        assert.match(p.systemIdentifier, /^\d+$/);
        assert.match(p.serverVersion, new RegExp(`^${version}\\.`));
      } finally {
        await server.destroy();
      }
      const narrow = await startCluster({ version, settings: ['max_wal_senders = 1', 'max_replication_slots = 1'] });
      try {
        const p = await probeReplicationServer({ connectionString: narrow.connectionString, passwordPrompt: 'never' });
        assert.equal(p.maxWalSenders, 1);
        assert.equal(p.secondSender.ok, false);
        // 17 and later quote the setting name.
        assert.match(p.secondSender.ok ? '' : p.secondSender.reason,
          /^could not connect for replication to "[^"]+": number of requested standby connections exceeds "?max_wal_senders"? \(currently 1\)$/);
      } finally {
        await narrow.destroy();
      }
    });
  }
});
