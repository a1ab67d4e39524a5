// The order in which the tools of one bench job run, round after round.
//
// A job leaves the machine in a state that the next job inherits: warm or cold memory (on a VM
// that hands freed pages back to its host, the first touch of each page is paid again), dirty
// pages still being written back, a disk cache that is full or empty. A plain rotation keeps the
// same neighbours: with [a, b, c, d] shifted by one per round, d always runs right after c. So the
// rounds are built as one stream in which each tool follows each other tool about equally often
// and, where there is a choice, never itself.

/**
 * `rounds` permutations of `tools`, one per round. `offset` shifts which tool is preferred to open
 * (callers shift it by variant or compression so that no tool always opens the job).
 */
export function balancedRounds<T>(tools: readonly T[], rounds: number, offset = 0): T[][] {
  const n = tools.length;
  const follows = new Map<string, number>();
  const count = (before: number, after: number): number => follows.get(`${before},${after}`) ?? 0;
  const result: T[][] = [];
  let previous: number | null = null;
  for (let round = 0; round < rounds; round++) {
    const shift = n === 0 ? 0 : (round + offset) % n;
    // Ties go to the rotation's order, so the tool that opens a round still moves round by round.
    const left = [...Array(n).keys()].map((i) => (i + shift) % n);
    const order: T[] = [];
    while (left.length > 0) {
      let pick = 0;
      for (let k = 1; k < left.length; k++) {
        if (cost(previous, left[k]!, count) < cost(previous, left[pick]!, count)) pick = k;
      }
      const chosen = left.splice(pick, 1)[0]!;
      if (previous !== null) follows.set(`${previous},${chosen}`, count(previous, chosen) + 1);
      order.push(tools[chosen]!);
      previous = chosen;
    }
    result.push(order);
  }
  return result;
}

/** Following itself costs more than any pair used so far; otherwise the least used pair wins. */
function cost(previous: number | null, next: number, count: (before: number, after: number) => number): number {
  if (previous === null) return 0;
  return previous === next ? Number.MAX_SAFE_INTEGER : count(previous, next);
}
