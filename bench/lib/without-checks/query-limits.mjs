// Stand-in for src/limits/query-limits.ts: no token, depth, alias, directive or cost limit.
export const queryLimitsPlugin = () => ({});
export const fmt = (n) => String(n);
