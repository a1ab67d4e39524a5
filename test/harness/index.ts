// The end-to-end test harness: throw-away PostgreSQL clusters of every supported version,
// run as an unprivileged OS user, plus a hand-written restore of tar backups that is
// independent of pgfleet's own restore code.

export {
  SUPPORTED_VERSIONS,
  REPO_ROOT,
  SYSTEM_PG15_BIN,
  binDir,
  isSupportedVersion,
  systemBin,
  versionsUnderTest,
  type PgVersion,
  type SystemTool,
} from './versions.js';
export {
  CommandError,
  chownOne,
  chownR,
  isRoot,
  makeTempDir,
  mkdirOwned,
  pgOsUser,
  run,
  runAs,
  type MakeTempDirOptions,
  type OsUser,
  type RunOptions,
  type RunResult,
} from './os-user.js';
export { cleanupAll, keepTestDirs } from './cleanup.js';
export {
  DEFAULT_HBA,
  SUPERUSER,
  TOAST_VALUE_SQL,
  TestCluster,
  freePort,
  startCluster,
  type DataOptions,
  type Snapshot,
  type StartClusterOptions,
  type TableDigest,
  type TablespaceInfo,
} from './cluster.js';
export {
  escapeMapPath,
  extractTar,
  hasProgram,
  parseTablespaceMap,
  preparePlainRestore,
  restoreTarByHand,
  startRestored,
  type Compression,
  type HandRestoreOptions,
  type HandRestoreResult,
  type RestoredMode,
  type StartRestoredOptions,
} from './restore.js';
export {
  defaultReferenceMethod,
  takeReferenceBackup,
  type ReferenceBackup,
  type ReferenceBackupOptions,
  type ReferenceMethod,
} from './reference-backup.js';
