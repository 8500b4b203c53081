import { readFileSync } from "node:fs";

function readJson(url: URL): Record<string, string> | undefined {
  try {
    return JSON.parse(readFileSync(url, "utf8")) as Record<string, string>;
  } catch {
    return undefined;
  }
}

/**
 * The folder of the sluice package this module belongs to: the nearest one above it whose
 * package.json names sluice (dist/ and src/ of one checkout or install share it).
 */
function packageRoot(): URL | undefined {
  for (let folder = new URL("./", import.meta.url); ; folder = new URL("../", folder)) {
    if (readJson(new URL("package.json", folder))?.name === "sluice") return folder;
    if (folder.pathname === "/") return undefined;
  }
}

/**
 * Which sluice this is, as parquet-mr writes `created_by` (`NAME version X.Y.Z (build HASH)`): the
 * package's version and the commit its dist/ was built from (dist/build-info.json, written by the
 * build). Parquet files carry it, and cluster workers compare theirs with the driver's.
 */
export const SLUICE_BUILD = ((): string => {
  const root = packageRoot();
  const version = (root && readJson(new URL("package.json", root))?.version) ?? "0.0.0";
  const build = root && readJson(new URL("dist/build-info.json", root))?.commit;
  return `sluice version ${version}${build ? ` (build ${build})` : ""}`;
})();
