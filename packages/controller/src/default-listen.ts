/**
 * Where the controller listens unless fleet.yaml says otherwise, and so where the CLI calls it
 * unless told: a module of its own so that the CLI's commands do not load the configuration
 * parser (zod, yaml) to learn it.
 */
export const DEFAULT_LISTEN = '127.0.0.1:7400';
