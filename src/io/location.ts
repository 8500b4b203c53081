import { resolve } from "node:path";

/** A place data is read from or written to: a local path, or an S3 bucket and key prefix. */
export type Location =
  | { readonly kind: "local"; readonly path: string }
  | { readonly kind: "s3"; readonly bucket: string; readonly key: string };

/** The schemes that name S3: `s3a://` and `s3n://` are what Spark and Hadoop users write for it. */
const S3_SCHEME = /^s3[an]?:\/\//;

/** The S3 scheme `uri` starts with (`s3://`, `s3a://` or `s3n://`), or undefined for a local path. */
export function s3SchemeOf(uri: string): string | undefined {
  return S3_SCHEME.exec(uri)?.[0];
}

/** Parses `s3://bucket/prefix` (or `s3a://`, `s3n://`) or a local path (made absolute). */
export function parseLocation(uri: string): Location {
  const scheme = S3_SCHEME.exec(uri);
  if (scheme) {
    const rest = uri.slice(scheme[0].length);
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? "" : rest.slice(slash + 1);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new Error(`'${uri}' does not name a valid S3 bucket (expected s3://bucket/prefix)`);
    }
    return { kind: "s3", bucket, key: key.replace(/\/+$/, "") };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri))
    throw new Error(`'${uri}': only local paths and s3:// URIs are supported`);
  return { kind: "local", path: resolve(uri) };
}

export function formatLocation(location: Location): string {
  return location.kind === "local" ? location.path : `s3://${location.bucket}/${location.key}`;
}

/** The location of `relative` (a `/`-separated path) under `base`. */
export function childOf(base: Location, relative: string): Location {
  const trimmed = relative.replace(/^\/+/, "");
  if (base.kind === "local") return { kind: "local", path: resolve(base.path, trimmed) };
  return { kind: "s3", bucket: base.bucket, key: base.key ? `${base.key}/${trimmed}` : trimmed };
}

/** True when `inner` is `outer` or lies inside it. */
export function contains(outer: Location, inner: Location): boolean {
  if (outer.kind !== inner.kind) return false;
  if (outer.kind === "local" && inner.kind === "local") {
    return inner.path === outer.path || inner.path.startsWith(`${outer.path}/`);
  }
  if (outer.kind === "s3" && inner.kind === "s3") {
    if (outer.bucket !== inner.bucket) return false;
    return outer.key === "" || inner.key === outer.key || inner.key.startsWith(`${outer.key}/`);
  }
  return false;
}
