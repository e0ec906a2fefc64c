/**
 * Pages per group when a captured database is cut for storage. Chosen by measurement
 * (bench/sqlite-groups.ts, table in docs/sqlite.md): with 4 KiB pages a group is 32 KiB. A changed
 * group is stored as a delta of its previous version (DeltaSink), which costs about the changed
 * pages whatever the group's size, so larger groups lose little after an update (1 % of rows:
 * 0.35 MB stored at 8 pages, 0.56 MB at 2) and win on the first backup (12 % smaller than at 2
 * pages) and in per-chunk work (a quarter of the chunks).
 */
export const DEFAULT_SQLITE_GROUP_PAGES: number = 8;
