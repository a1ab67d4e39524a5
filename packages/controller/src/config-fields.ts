/**
 * fleet.yaml fields the agent's file does not have, in the shape of @pgfleet/core's config
 * fields (a reason and a HINT per problem): durations ("26h", "90m", "7d" or seconds), sizes
 * ("1GB", "500MiB" or bytes), cron expressions (validated by croner, the library that runs
 * them, so what passes here also runs) and IANA time zones.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { problem } from '@pgfleet/core/config';

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** "26h" -> 93600; a bare number is seconds; null when malformed. */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : null;
  const m = /^\s*(\d+)\s*([smhdw]?)\s*$/i.exec(value);
  if (!m) return null;
  const n = Number(m[1]) * (DURATION_UNITS[(m[2] ?? '').toLowerCase() || 's'] ?? 1);
  return n > 0 ? n : null;
}

/** "1GB" -> 1e9, "20MiB" -> 20971520; a bare number is bytes; null when malformed. */
export function parseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? SIZE_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  return m && unit !== undefined ? Math.round(Number(m[1]) * unit) : null;
}

const numberOrText = z.union([z.number(), z.string()], { error: 'must be a number or a text' });

/** A duration in seconds, written "90s", "30m", "26h", "7d", "2w" or as a number of seconds. */
export function duration(): z.ZodType<number> {
  return numberOrText.transform((v, ctx) => {
    const seconds = parseDuration(v);
    if (seconds === null) {
      ctx.addIssue({ code: 'custom', message: problem(`must be a duration, not ${JSON.stringify(v)}`, 'Write a number with a unit: "90s", "30m", "26h", "7d".') });
      return z.NEVER;
    }
    return seconds;
  }) as unknown as z.ZodType<number>;
}

/** A size in bytes, written "1GB", "500MiB" or as a number of bytes. */
export function size(): z.ZodType<number> {
  return numberOrText.transform((v, ctx) => {
    const bytes = parseSize(v);
    if (bytes === null) {
      ctx.addIssue({ code: 'custom', message: problem(`must be a size, not ${JSON.stringify(v)}`, 'Write a number of bytes or a number with a unit: "500MB", "1GiB".') });
      return z.NEVER;
    }
    return bytes;
  }) as unknown as z.ZodType<number>;
}

/** Why croner refuses `expression` in `timezone`, or null when it runs. */
export function cronProblem(expression: string, timezone?: string): string | null {
  try {
    const job = new Cron(expression, { paused: true, ...(timezone !== undefined ? { timezone } : {}) });
    job.stop();
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, '').replace(/\.$/, '');
  }
}

/** A cron expression: 5 fields (minute ... weekday), or 6 with seconds first. */
export function cronExpression(): z.ZodType<string> {
  return z.string({ error: 'must be a cron expression such as "0 3 * * *"' }).superRefine((value, ctx) => {
    const reason = cronProblem(value);
    if (reason !== null) {
      ctx.addIssue({
        code: 'custom',
        message: problem(`is not a valid cron expression: "${value}" (${reason.toLowerCase()})`,
          'Use 5 fields (minute hour day month weekday), e.g. "0 3 * * *", or 6 with seconds first.'),
      });
    }
  });
}

/** An IANA time zone name ("UTC", "Europe/Berlin"). */
export function timeZone(): z.ZodType<string> {
  return z.string({ error: 'must be a time zone name such as "UTC"' }).superRefine((value, ctx) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: value });
    } catch {
      ctx.addIssue({ code: 'custom', message: problem(`is not a known time zone: "${value}"`, 'Use an IANA name such as "UTC" or "Europe/Berlin".') });
    }
  });
}
