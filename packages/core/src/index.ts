/**
 * @pgfleet/core: the replication protocol client, archive streamers, manifests and WAL helpers.
 * Explicit named re-exports only; each module documents its own contract.
 */
export * from './errors.js';
export { fsyncDirectory, fsyncFile } from './fs-sync.js';
export type { ChunkKind, MemberType, TarMember, Streamer } from './archive/streamer.js';

// Archive streamers (astreamer-style chains): tar parsing/writing, -R and member injection,
// compression, sinks, reading archive files
export { ChainedStreamer, EMPTY_BUFFER } from './archive/chained-streamer.js';

export { TarParser } from './archive/tar-parser.js';
export { SyncTarParser } from './archive/sync-tar-parser.js';
export type { TarParserOptions } from './archive/tar-parser.js';

export { checkConfigValue } from './archive/recovery-config.js';

export {
  ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL, compressionFromFileName, compressionSuffix, parseCompressionDetail, parseCompressionSpec,
} from './archive/compression-spec.js';
export type {
  CompressionLocation, CompressionMethod, CompressionSpec, ParseCompressionOptions,
} from './archive/compression-spec.js';
export { createCompressor, createDecompressor } from './archive/compression.js';
export type { CompressorOptions } from './archive/compression.js';

export type { DecompressorOptions } from './archive/gzip-decompressor.js';
export { enableYoungGarbageCollection } from './archive/young-garbage.js';
export { growHeapForStreaming, STREAMING_HEAP_GROWING_PERCENT } from './archive/heap-growth.js';

export { FileSink } from './archive/file-sink.js';
export type { FileSinkOptions } from './archive/file-sink.js';
export { Writeback, WritebackFile } from './archive/writeback.js';
export { DirectFile } from './archive/direct-io.js';
export { WritableSink } from './archive/stdout-sink.js';
export type { WritableSinkOptions } from './archive/stdout-sink.js';
export { DirectoryExtractor } from './archive/directory-extractor.js';

export type { DirectoryExtractorOptions } from './archive/directory-extractor.js';
export { readArchiveFile } from './archive/archive-reader.js';
export type { ReadArchiveOptions } from './archive/archive-reader.js';

export { TeeStreamer } from './archive/tee-streamer.js';

// LSNs, WAL segments, timelines, WAL presence/continuity check
export { INVALID_LSN, MAX_LSN, addLsn, compareLsn, diffLsn, formatLsn, parseLsn, tryParseLsn } from './wal/lsn.js';
export type { Lsn } from './wal/lsn.js';
export {
  DEFAULT_WAL_SEGMENT_SIZE, MAX_WAL_SEGMENT_SIZE, MIN_WAL_SEGMENT_SIZE, isPartialWalSegmentName, isTimelineHistoryFileName, isValidWalSegmentSize, isWalSegmentName, parseWalSegmentName, parseWalFileName, parseWalSegmentSize, segmentNumber, segmentOffset, segmentStartLsn, segmentsPerXLogId, timelineHistoryFileName, walCompressionSuffix, walSegmentName,
} from './wal/segment.js';
export type { WalFileCompression, WalFileName, WalSegmentId } from './wal/segment.js';
export { parseTimelineHistory, resumeOnServerHistory, timelineHistory, timelineOfLsn } from './wal/timeline.js';
export type { ParseTimelineHistoryOptions, TimelineHistoryEntry, TimelineSwitch } from './wal/timeline.js';
export {
  findArchivedSegment, listWalArchive, locateWalArchiveFile, parseWalArchiveHistoryName, parseWalArchiveSegmentName,
  walArchiveSuffix, walArchiveTimelineDir,
} from './wal/archive/index.js';
export type {
  ListWalArchiveOptions, LocatedWalArchiveFile, WalArchiveHistoryFile, WalArchiveLayout, WalArchiveListing,
  WalArchiveSegmentFile,
} from './wal/archive/index.js';
export { openWalArchive, readWalArchiveFile, restoreWalArchiveFile } from './wal/archive/index.js';
export type { ArchivedWalFileRef, WalArchiveReadOptions } from './wal/archive/index.js';
export { newestArchivedTimeline, readArchivedTimelineHistory, resolveTargetTimeline } from './wal/archive/index.js';
export type { TargetTimeline } from './wal/archive/index.js';
export { checkWalArchiveCoverage, timelineForSegment } from './wal/archive/index.js';
export type { WalArchiveCoverage, WalArchiveCoverageOptions } from './wal/archive/index.js';
export {
  describeRecoveryTarget, parseRecoveryTarget, parseRecoveryTargetWire, parseTargetTime, recoveryTargetSettings, recoveryTargetWire,
} from './wal/archive/index.js';
export type {
  RecoveryTarget, RecoveryTargetAction, RecoveryTargetFlags, RecoveryTargetKind, RecoveryTargetWire,
} from './wal/archive/index.js';
export { backupOnHistory, planArchiveRecovery } from './wal/archive/index.js';
export type { ArchiveRecoveryBackup, ArchiveRecoveryPlan, ArchiveRecoveryPlanOptions } from './wal/archive/index.js';
export { WAL_PAGE_MAGIC, WalCheck, requiredSegments } from './wal/wal-check.js';
export type { RequiredSegment, WalCheckOptions, WalFileSink, WalRangeSpec } from './wal/wal-check.js';
export { WalCheckStreamer } from './wal/wal-check-streamer.js';
export type { WalCheckStreamerOptions } from './wal/wal-check-streamer.js';
export { checkWalDirectory } from './wal/wal-check-directory.js';
export type { CheckWalDirectoryOptions } from './wal/wal-check-directory.js';
export { WAL_RECORD_HEADER_SIZE, WAL_RECORD_MAX_SIZE, WalRecordReader } from './wal/record-reader.js';
export type { WalRecordInfo, WalRecordProblem, WalRecordProblemKind, WalRecordReaderOptions } from './wal/record-reader.js';

// backup_manifest: checksums, parser, writer, verification
export {
  CHECKSUM_ALGORITHMS, checksumLength, computeChecksum, createChecksum, parseChecksumAlgorithm,
} from './manifest/checksum.js';
export type { Checksum, ChecksumAlgorithm } from './manifest/checksum.js';
export type { BackupManifest, ManifestFile, ManifestVersion, ManifestWalRange } from './manifest/manifest.js';
export { ManifestParser, parseManifest, readManifestFile } from './manifest/parser.js';
export type { ParseManifestOptions } from './manifest/parser.js';
export { ManifestWriter, writeManifest } from './manifest/writer.js';
export type { ManifestFileEntry, ManifestWriterOptions } from './manifest/writer.js';
export { PG_CONTROL_FILE_SIZE, readControlFile } from './manifest/control-file.js';
export type { ControlFileInfo, ControlFileProblem, ControlFileReading } from './manifest/control-file.js';
export { ALWAYS_IGNORED, StopVerification, VerifyContext, canonicalRelativePath } from './manifest/verify-context.js';
export type { VerifyContextOptions, VerifyProblem, VerifyProblemKind } from './manifest/verify-context.js';
export { ManifestVerifyStreamer } from './manifest/verify-streamer.js';
export type { ManifestVerifyStreamerOptions, ObservedMember } from './manifest/verify-streamer.js';
export { parseBackupFormat, verifyBackup } from './verify/verify-backup.js';
export { BackupVerification } from './verify/backup-verification.js';
export type { BackupVerificationOptions, VerifiedArchive } from './verify/backup-verification.js';
export { ArrivalVerifier } from './verify/arrival-verifier.js';
export type { ArrivalVerifierOptions, ArrivalVerifyOptions, ArrivalVerifyResult, ObserveOptions } from './verify/arrival-verifier.js';
export { checkTarBackupWal, classifyTarArchive, listTarBackup } from './verify/tar-backup.js';
export type { TarArchiveFile, TarArchiveKind, TarBackupListing } from './verify/tar-backup.js';
export type { BackupFormat, VerifyBackupOptions, VerifyBackupResult, VerifyProgress } from './verify/verify-backup.js';

// Replication protocol: connection and commands, BASE_BACKUP (both generations), streaming;
// the WAL receiver of -X stream and its sinks
export { ReplicationConnection } from './replication/connection.js';
export type {
  CreateReplicationSlotOptions, CreatedReplicationSlot, IdentifySystemResult, ReplicationSlotInfo, TimelineHistoryFile,
} from './replication/connection.js';
export { parseConninfo } from './replication/connection-options.js';
export { probeReplicationServer } from './replication/server-probe.js';
export type { ServerProbe } from './replication/server-probe.js';
export { MASKED_PASSWORD, maskConninfo } from './replication/conninfo-mask.js';
export type { ReplicationConnectOptions, ReplicationConnectParams, SslMode } from './replication/connection-options.js';

export { ReplicationStream } from './replication/replication-stream.js';
export { pgTimestampToDate } from './replication/standby-status.js';
export type {
  ReplicationStreamEnd, ReplicationStreamHandler, StartReplicationOptions,
} from './replication/replication-stream.js';
export type { PrimaryKeepalive, XLogData } from './replication/xlog-stream-messages.js';
export type { ServerNotice } from './replication/backend-message.js';

export { WalReceiver, serverStreamingStart } from './wal/receiver.js';
export type {
  WalReceiverEvent, WalReceiverOptions, WalReceiverResult, WalReservation, WalReservationOptions,
} from './wal/receiver.js';
export { DirectoryWalSink, TarWalSink, storeWithoutClobbering } from './wal/wal-sinks.js';
export { TimelineArchiveSink, archiveTimelines, timelineDirectory, writeHistoryFileOnce } from './wal/timeline-archive-sink.js';
export type { TimelineArchiveSinkOptions } from './wal/timeline-archive-sink.js';
export { readWalFileContent, walFileCompressionOf } from './wal/wal-file-content.js';
export { archiveStreamDeadlineMs, ensurePhysicalSlot, preflightWarnings, prepareArchiveSlot, probeWalServer } from './wal/slot-probe.js';
export { archiveSessionError, removedWalEvidence } from './wal/wal-removed.js';
export type { RemovedWalEvidence } from './wal/wal-removed.js';
export { checkSegmentContent } from './wal/segment-header.js';
export type { SegmentHeaderInfo } from './wal/segment-header.js';
export type { ArchiveSlot, WalServerProbe } from './wal/slot-probe.js';
export type { DirectoryWalSinkOptions, TarWalSinkOptions, WalSink } from './wal/wal-sinks.js';
export { findStreamingStart } from './wal/streaming-start.js';
export type { FindStreamingStartOptions, StreamingStart } from './wal/streaming-start.js';
export { CompressedWalFile, compressWalFileContent } from './wal/compressed-wal-file.js';
export type { WalFileCompressionSpec } from './wal/compressed-wal-file.js';

// One base backup run (the engine behind pgfleet-basebackup and the agent's Backup call)
export { runBaseBackup } from './basebackup.js';
export type {
  BaseBackupRunOptions, BaseBackupResult, BackupDestination, BackupOutput, BackupReporter, BackupStartInfo, BackupTablespace, ManifestChecksums, ProgressState, TablespaceMapping,
} from './basebackup.js';
export { TablespaceMappingError, canonicalizePath, parseTablespaceMapping } from './tablespace-mapping.js';
export type { TablespaceMappingProblem } from './tablespace-mapping.js';
export { TablespaceMapError, formatTablespaceMap, parseTablespaceMap } from './tablespace-map.js';
export { PGFLEET_VERSION } from './version.js';

// Bounds on request fields and on error texts sent over the wire
export {
  FIELD_LIMITS, MAX_WIRE_HINT_BYTES, MAX_WIRE_MESSAGE_BYTES, boundText, checkFieldCount, checkFieldLength,
} from './wire-limits.js';

// Certificate roles of the fleet's mutual TLS (which peer may call which daemon)
export {
  PEER_ROLES, authorizePeer, authorizePeerCertificate, readCertificateIdentity, roleUri,
} from './tls/certificate-roles.js';
export type { CertificateIdentity, PeerPolicy, PeerRole } from './tls/certificate-roles.js';

// The daemons' configuration files: one schema library (zod), one shape of problem. Their
// functions are @pgfleet/core/config's alone: zod is about 60 ms of the start-up of every
// program that loads this index (pgfleet-agent restore, the pgfleet CLI), most of which read no
// configuration.
export type * from './config/index.js';

// The `pg` module, required on first use (replication/pg-module.ts)
export { loadPg } from './replication/pg-module.js';

// The daemons' log (pino): time and level on every line, text or JSON
export { LOG_FORMATS, LOG_LEVELS, createDaemonLog, errorFields, errorText, silentLog } from './log/daemon-log.js';
export type { DaemonLog, DaemonLogOptions, LogFields, LogFormat, LogLevel } from './log/daemon-log.js';

// The fleet's certificates, one naming scheme for `pgfleet certs init` and `pgfleet-agent certs`
export { describeCertificates, initCertificates } from './tls/certs-init.js';
export type { CertTool, InitCertificatesOptions, InitCertificatesResult } from './tls/certs-init.js';
