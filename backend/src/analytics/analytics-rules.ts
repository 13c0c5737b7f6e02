/** The thresholds in the analytics definitions (DESIGN.md "Analytics"), named once for SQL, code and docs. */

/** A lurker is flagged from this many presence events in the window. */
export const LURKER_FLAG_MIN_PRESENCE = 5;
/** A role drift is flagged from this many role changes in the window. */
export const ROLE_FLAG_MIN_CHANGES = 2;
/** A typing spike needs at least this many typing events in the window before. */
export const TYPING_SPIKE_MIN_BEFORE = 5;
/** A typing spike needs more than this factor times the typing of the window before. */
export const TYPING_SPIKE_FACTOR = 2;
/** The client platforms Discord reports; anything else in a presence row is ignored. */
export const CLIENT_PLATFORMS = ["desktop", "mobile", "web"] as const;
