export {
  escapePathName,
  HIVE_DEFAULT_PARTITION,
  MAX_FOLDER_NAME_BYTES,
  PartitionPaths,
  partitionPath,
  partitionValueProblem,
  partitionValues,
  unescapePathName,
} from "./hive.js";
export { damagedBookkeeping } from "./bookkeeping.js";
export { listBookkeeping, readMarker } from "./inventory.js";
export { jsonDocuments, JsonDocumentsSource, type JsonDocumentsOptions } from "./json-documents-source.js";
export { cutIntoSplits, jsonLines, JsonLinesSource, type JsonLinesOptions } from "./json-lines-source.js";
export { type JsonLinesTableOptions, JsonLinesTableSink } from "./json-lines-sink.js";
export { Lake, type LakeOptions } from "./lake.js";
export {
  type CommittedTable,
  LakeCommitter,
  STATE_FOLDER,
  type TableDisposition,
  type WriteMode,
} from "./lake-committer.js";
export { childOf, contains, formatLocation, type Location, parseLocation } from "./location.js";
export type { Compression } from "./parquet-schema.js";
export { type ParquetTableOptions, ParquetTableSink } from "./parquet-sink.js";
export type { WrittenFile } from "./staging.js";
export { parquetDataset, ParquetDatasetSource, type ParquetDatasetOptions } from "./parquet-source.js";
export {
  completeUpload,
  describeS3Error,
  deleteKeys,
  listObjects,
  putBytes,
  readObject,
  type S3Settings,
  StagedMultipartUpload,
  type StagedUpload,
  s3Client,
} from "./s3.js";
export {
  anyFileMatches,
  type FileEntry,
  isHidden,
  type ListedFile,
  listFiles,
  readAll,
  readBytes,
} from "./storage.js";
