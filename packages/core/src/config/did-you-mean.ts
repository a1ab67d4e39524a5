/**
 * The known name a misspelt one most likely meant: the closest by edit distance (insertions,
 * deletions, substitutions and swaps of two neighbours each count one), ignoring case, when it
 * is close enough to be a typo (at most a third of the name's length, at least one edit);
 * otherwise null. Used for configuration keys ("paralel" -> "parallel").
 */

/** Optimal string alignment distance between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((d[i - 1] as number[])[j] as number + 1, (d[i] as number[])[j - 1] as number + 1, (d[i - 1] as number[])[j - 1] as number + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (d[i - 2] as number[])[j - 2] as number + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return (d[rows - 1] as number[])[cols - 1] as number;
}

/** The known name closest to `name`, or null when none is close enough to be what was meant. */
export function didYouMean(name: string, known: readonly string[]): string | null {
  const lower = name.toLowerCase();
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
