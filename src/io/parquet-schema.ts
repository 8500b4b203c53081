/** Parquet compression codecs sluice writes. Snappy by default: every reader handles it. */
export type Compression = "snappy" | "gzip" | "none";
