/**
 * The daemons' configuration files (zod schemas, YAML reading) as their own entry point
 * (@pgfleet/core/config), for programs that read a configuration without the rest of the package.
 */
export {
  address, commonNames, configError, configProblems, flag, integer, keyPath, list, mapping, oneOf, optional, problem, splitAddress, text, validateConfig,
} from './config-schema.js';
export type {
  Address, AddressOptions, ConfigProblem, IntegerOptions, ListOptions, MappingOptions, TextOptions,
} from './config-schema.js';
export { parseConfigText, readConfigFile } from './config-file.js';
export type { ConfigDocument } from './config-file.js';
