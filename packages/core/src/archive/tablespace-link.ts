/**
 * The only symbolic links a PostgreSQL base backup carries: `pg_tblspc/<tablespace OID>` in the
 * base archive (the server skips every other link, with a warning). Extraction refuses any
 * other link, and verification reports one, because whoever later reads or writes a file that
 * an archive made a link (recovery.signal -> /etc/x), as root, would reach outside the target.
 */

const TABLESPACE_LINK = /^pg_tblspc\/[1-9][0-9]*$/;

/** True for a normalized member name (as TarParser gives it) of the form pg_tblspc/<oid>. */
export function isTablespaceLinkName(name: string): boolean {
  return TABLESPACE_LINK.test(name);
}
