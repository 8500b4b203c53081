// Empties dist/ before a build, so that modules removed from src/ do not linger in the package.
import { rmSync } from "node:fs";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
