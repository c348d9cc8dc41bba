// Stand-in for src/limits/operation-timeout.ts: operations run as long as they take.
export const operationTimeoutPlugin = () => ({});
