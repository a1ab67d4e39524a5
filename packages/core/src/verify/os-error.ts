/**
 * The text of an operating-system error as PostgreSQL's %m prints it, lower-cased for our
 * messages: "no such file or directory", without Node's "ENOENT: " prefix and ", open '/x'"
 * suffix (the caller already names the path).
 */

export function osErrorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException;
  let text = e.message;
  if (typeof e.code === 'string') text = text.replace(new RegExp(`^${e.code}: `), '');
  if (typeof e.syscall === 'string') {
    const at = text.lastIndexOf(`, ${e.syscall}`);
    if (at >= 0) text = text.slice(0, at);
  }
  return text;
}
