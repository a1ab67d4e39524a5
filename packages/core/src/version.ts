/** The pgfleet release; also the version agents and controllers announce to each other. */
export const PGFLEET_VERSION = '0.1.0';
