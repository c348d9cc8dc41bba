// Stand-in for the CSRF, introspection and suggestion plugins: all pass-through.
export const useCSRFPrevention = () => ({});
export const useDisableIntrospection = () => ({});
export const blockFieldSuggestionsPlugin = () => ({});
