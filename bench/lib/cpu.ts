/**
 * CPU time of a server process, read from outside it: `/proc/<pid>/stat` (user + system time
 * of every thread of the process, in clock ticks). It works for any server the harness starts
 * (Postline, the bare Yoga baseline, an older commit) without its cooperation.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (100 on Linux everywhere in practice). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * User + system CPU seconds of `pid` from the text of `/proc/<pid>/stat`. The command name
 * (field 2) is in parentheses and may itself contain spaces and parentheses, so the fields
 * are counted from the last `)`: utime and stime are fields 14 and 15.
 */
export function parseProcStat(text: string, ticks = clockTicks()): number {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line');
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state), so utime (14) is fields[11] and stime (15) fields[12].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error('no utime/stime in /proc/<pid>/stat');
  }
  return (utime + stime) / ticks;
}

/** CPU seconds `pid` has used so far; `null` where there is no /proc (not Linux) or it exited. */
export function processCpuSeconds(pid: number): number | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Resident memory of `pid` in MB (`VmRSS` of `/proc/<pid>/status`); null without /proc. */
export function processRssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The executable of `pid` (`/proc/<pid>/exe`), or null when unknown. */
export function processExecutable(pid: number): string | null {
  try {
    return realpathSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/**
 * Fails unless `pid` runs `nodeBinary` itself: the CPU column must read the server, not an
 * npm or shell wrapper that waits for it. Skipped where /proc does not exist.
 */
export function assertServerProcess(pid: number, nodeBinary: string, what: string): void {
  const exe = processExecutable(pid);
  if (exe === null) return;
  let expected = nodeBinary;
  try {
    expected = realpathSync(nodeBinary);
  } catch {
    // compare as given
  }
  if (exe !== expected) {
    throw new Error(
      `${what} (pid ${pid}) runs ${exe}, not ${expected}: its CPU time would not be the server's`,
    );
  }
}

/** A CPU figure of one measured window. */
export interface CpuFigures {
  /** CPU seconds (user + system) the process used in the window. */
  seconds: number;
  /** CPU milliseconds per request completed in the window. */
  msPerRequest: number | null;
  /** Mean cores busy: CPU seconds ÷ window seconds. */
  cores: number;
  /** Where the figure comes from. */
  source: 'proc' | 'metrics' | 'self';
}

export function cpuFigures(
  seconds: number,
  requests: number,
  windowS: number,
  source: CpuFigures['source'],
): CpuFigures {
  return {
    seconds,
    msPerRequest: requests > 0 ? (seconds * 1000) / requests : null,
    cores: windowS > 0 ? seconds / windowS : 0,
    source,
  };
}
