/** The status view's file format marks (see `statusView.ts`), apart so lean readers need no more. */
export const STATUS_VIEW_MAGIC = 'cshare-status-view';
/** Bumped on any change of the layout; another version is not used. */
export const STATUS_VIEW_VERSION = 3;
