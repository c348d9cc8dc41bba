/** The machine a run happened on, for the report. */
import os from 'node:os';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  platform: string;
  /** 1-minute load average when the run started and when it ended (others' work shows here). */
  load?: { start: number; end: number };
}

/** The 1-minute load average (0 where the platform has none). */
export const loadAverage = () => Math.round((os.loadavg()[0] ?? 0) * 10) / 10;

/** Describes `load` against the CPU count, for the reports. */
export function describeLoad(m: Machine): string {
  if (!m.load) return '';
  return `; load average (1 min) ${m.load.start} at the start, ${m.load.end} at the end, on ${m.cpus} CPUs`;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpus: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}
