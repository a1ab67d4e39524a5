/** Not built yet: see the package README and the open issues. */
export const PACKAGE_STATE = 'not-implemented' as const;
