/**
 * The pieces of @pgfleet/core the restore engine needs that the core package index does not
 * export yet (archive reading, tar parsing, extraction, decompression). They are imported from
 * core's build output by relative path, in this one module, so that switching to
 * `from '@pgfleet/core'` once the index exports them is a one-file change.
 */

export { readArchiveFile, type ReadArchiveOptions } from '../../core/dist/archive/archive-reader.js';
export { TarParser } from '../../core/dist/archive/tar-parser.js';
export { DirectoryExtractor, type DirectoryExtractorOptions } from '../../core/dist/archive/directory-extractor.js';
export { createDecompressor } from '../../core/dist/archive/compression.js';
export { compressionFromFileName, type CompressionMethod } from '../../core/dist/archive/compression-spec.js';
export { ChainedStreamer, EMPTY_BUFFER } from '../../core/dist/archive/chained-streamer.js';
