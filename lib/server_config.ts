/**
 * Service configuration from the environment (flags may override later): where to listen and which
 * backend to use. Invalid values are errors that name the variable and what is valid.
 */
import { type BackendPreference, parseBackendPreference } from "./runtime/backend.ts";

export interface ServerConfig {
  host: string;
  port: number;
  backend: BackendPreference;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function serverConfig(env: { get(key: string): string | undefined } = Deno.env): ServerConfig {
  const portText = env.get("PORT") ?? "8000";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(
      `PORT must be an integer in 0..65535 (0 = any free port), got ${JSON.stringify(portText)}`,
    );
  }
  return {
    host: env.get("HOST") || "127.0.0.1",
    port,
    backend: parseBackendPreference(env.get("RETRACE_BACKEND")),
  };
}
