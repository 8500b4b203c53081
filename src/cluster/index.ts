// sluice/cluster: the same pipelines on many machines (BullMQ on Redis hands out the tasks, shared
// storage holds the shuffle).
export { type ClusterOptions, cluster } from "./driver.js";
export { DEFAULT_QUEUE } from "./protocol.js";
export { type ClusterWorker, type ClusterWorkerOptions, startClusterWorker } from "./worker.js";
