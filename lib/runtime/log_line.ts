/**
 * The service's log lines: one JSON object per line with its time (ISO 8601, UTC), level and message, plus any
 * fields (a host id, a request id, …), so a log collector can parse and order the lines of several hosts.
 * Warnings and errors go to stderr, the rest to stdout.
 */
export type LogLevel = "info" | "warn" | "error" | "fatal";

export function logLine(level: LogLevel, message: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ time: new Date().toISOString(), level, message, ...fields });
}

export function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  const line = logLine(level, message, fields);
  if (level === "info") console.log(line);
  else console.error(line);
}
