// The backup variants the bench times, as pg_basebackup command lines.
//
// Both tools get exactly the same arguments (pgfleet-basebackup is a drop-in): stream WAL,
// fast checkpoint, default fsync behaviour (no -N), no progress reporting (-P would make the
// server walk the data directory twice). Only the format, tablespace mapping and compression
// differ between variants.

export const VARIANT_NAMES = ['tar', 'plain', 'gzip', 'lz4', 'zstd'] as const;
export type VariantName = (typeof VARIANT_NAMES)[number];

export interface Variant {
  name: VariantName;
  /** Flags as a reader would type them (for the report). */
  flags: string;
}

export const VARIANTS: Record<VariantName, Variant> = {
  tar: { name: 'tar', flags: '-F t -X stream -c fast' },
  plain: { name: 'plain', flags: '-F p -X stream -c fast -T OLD=NEW' },
  gzip: { name: 'gzip', flags: '-F t -X stream -c fast -z' },
  lz4: { name: 'lz4', flags: '-F t -X stream -c fast -Z client-lz4' },
  zstd: { name: 'zstd', flags: '-F t -X stream -c fast -Z client-zstd' },
};

export interface BackupTarget {
  /** Directory for -D (must not exist yet, or be empty). */
  dataDir: string;
  /** Tablespace location on the server -> directory the plain format writes it to. */
  tablespaceMap: ReadonlyArray<{ from: string; to: string }>;
}

/** Escape "=" in a -T path the way pg_basebackup expects ("\=" is a literal "="). */
function escapeMappingPath(p: string): string {
  return p.replace(/=/g, '\\=');
}

/** Arguments (after the program name) for one backup of a variant into target. */
export function backupArgs(name: VariantName, target: BackupTarget): string[] {
  const common = ['-D', target.dataDir, '-X', 'stream', '-c', 'fast'];
  switch (name) {
    case 'tar':
      return [...common, '-F', 't'];
    case 'plain':
      return [
        ...common,
        '-F',
        'p',
        ...target.tablespaceMap.flatMap((m) => ['-T', `${escapeMappingPath(m.from)}=${escapeMappingPath(m.to)}`]),
      ];
    case 'gzip':
      return [...common, '-F', 't', '-z'];
    case 'lz4':
      return [...common, '-F', 't', '-Z', 'client-lz4'];
    case 'zstd':
      return [...common, '-F', 't', '-Z', 'client-zstd'];
  }
}
