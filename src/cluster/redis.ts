import { Redis, type RedisOptions } from "ioredis";
import { SluiceError } from "../core/index.js";

/**
 * A connection to the Redis (or Valkey) server at `url` (`redis://host:port/db`, `rediss://` for
 * TLS). `blocking`: for BullMQ's workers and event readers, whose blocking reads must wait as long
 * as they need (BullMQ requires no per-request retry limit there).
 */
export function connect(url: string, blocking: boolean): Redis {
  if (!/^rediss?:\/\//.test(url)) {
    throw new SluiceError(`the Redis address must look like redis://host:6379, got '${url}'`);
  }
  const options: RedisOptions = {
    maxRetriesPerRequest: blocking ? null : 2,
    // Reconnects quickly at first, then every 2 s; a driver gives up on a Redis gone for longer
    // than its own limit (redisTimeoutMs), a worker waits for it to come back.
    retryStrategy: (times) => Math.min(times * 100, 2000),
    lazyConnect: false,
  };
  const redis = new Redis(url, options);
  // Without a listener ioredis prints every failed reconnection; the callers report loss themselves,
  // with the last connection error (ECONNREFUSED says more than a retry limit reached).
  redis.on("error", (error: Error) => lastErrors.set(redis, error.message));
  redis.on("ready", () => lastErrors.delete(redis));
  return redis;
}

const lastErrors = new WeakMap<Redis, string>();

/** Why a command on `redis` failed: its connection's last error where it has one. */
export function redisFailure(redis: Redis, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const connection = lastErrors.get(redis);
  return connection && !message.includes(connection) ? `${connection} (${message})` : message;
}

/** Resolves `promise`, or rejects after `ms` with `what` timed out. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
