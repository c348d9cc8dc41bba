// Stand-in for src/security/http.ts: no body limits, no upload pre-check, no security headers.
export const requestBodyPlugin = () => ({});
export const securityHeadersPlugin = () => ({});
