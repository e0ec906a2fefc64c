// The b2_rollback tool: `status`, `list` and `backup` (backup side), `show`, `diff` and `restore`
// (restore side, restore/restorer.ts). Each answer has a text for the person in the chat and
// `details` for programs.
import type { ClawbackPlugin } from "./plugin.ts";
import type { Restorer } from "./restore/restorer.ts";

export const TOOL_NAME = "b2_rollback";

export interface ToolParams {
  action?: string;
  limit?: number;
  snapshot?: string;
  against?: string;
  path?: string;
  paths?: string[];
}

export interface ToolResult {
  content: { type: "text"; text: string }[];
  details: unknown;
}

/** JSON Schema of the tool's arguments, as the model sees it. */
export const TOOL_PARAMETERS = {
  type: "object",
  properties: {
    action: {
      type: "string",
      enum: ["status", "list", "backup", "show", "diff", "restore"],
      description: "status: the last backup and restore, the next backup, the last error and the space used; list: the snapshots; backup: take a snapshot now; show: one snapshot; diff: what changed between a snapshot and another one or now; restore: bring back a snapshot, whole or one path",
    },
    limit: { type: "integer", minimum: 1, description: "list: how many snapshots to show (default 20)" },
    snapshot: {
      type: "string",
      description: "show/diff/restore: which snapshot, as the user said it: an id or id prefix, 'latest', a time ('yesterday evening', '2 hours ago', '2026-12-05 18:00'), a reason ('before the last compaction', 'the last shutdown'), or 'undo' (the safety snapshot taken before the last restore). Default: latest",
    },
    against: { type: "string", description: "diff: the other snapshot (same forms as snapshot), or 'now' for the current state (default)" },
    path: { type: "string", description: "restore: only this path of the state folder, e.g. 'workspace/MEMORY.md', 'workspace', 'agents/main/agent/openclaw-agent.sqlite'; omit to restore everything" },
    paths: { type: "array", items: { type: "string" }, description: "restore: several paths (as path)" },
  },
  required: ["action"],
  additionalProperties: false,
} as const;

export const TOOL_DESCRIPTION =
  "Encrypted backups of this OpenClaw state (memory, sessions, workspace, config) to Backblaze B2 by clawback. " +
  "action=status tells when the last backup ran and why, when the next one is due, the last error and how much of B2's free 10 GB is used; " +
  "action=list lists the snapshots (time, reason, what changed); action=backup takes a snapshot now; " +
  "action=show describes one snapshot; action=diff says what changed between a snapshot and now (or another snapshot); " +
  "action=restore brings back a snapshot (whole, or one path such as workspace/MEMORY.md) chosen by id, time or reason, after a safety snapshot; " +
  "a whole restore runs when the current reply is finished and restarts the gateway.";

function answer(a: { text: string; details: unknown }): ToolResult {
  return { content: [{ type: "text", text: a.text }], details: a.details };
}

export async function runTool(plugin: ClawbackPlugin, params: ToolParams, restorer?: Restorer): Promise<ToolResult> {
  switch (params.action) {
    case "status": {
      const backup = await plugin.status();
      if (!restorer) return answer(backup);
      const restore = await restorer.status();
      return answer({ text: [backup.text, restore.text].filter(Boolean).join("\n"), details: { ...(backup.details as object), restore: restore.details } });
    }
    case "show":
    case "diff":
    case "restore": {
      if (plugin.configError || !restorer) return answer({ text: `clawback is not configured: ${plugin.configError}`, details: { ok: false, error: plugin.configError } });
      try {
        if (params.action === "show") return answer(await restorer.show(params.snapshot));
        if (params.action === "diff") return answer(await restorer.diff(params.snapshot, params.against));
        const paths = [...(params.paths ?? []), ...(params.path ? [params.path] : [])];
        return answer(await restorer.restore({ ...(params.snapshot ? { snapshot: params.snapshot } : {}), paths, origin: "chat" }));
      } catch (err) {
        // A snapshot that cannot be placed or a repository that cannot be reached: an answer, not a failed tool.
        const message = err instanceof Error ? err.message : String(err);
        return answer({ text: `Could not ${params.action}: ${message}`, details: { ok: false, error: message } });
      }
    }
    case "list":
      return answer(await plugin.list(params.limit));
    case "backup": {
      if (plugin.configError) return answer({ text: `clawback is not configured: ${plugin.configError}`, details: { ok: false, error: plugin.configError } });
      const out = await plugin.backup("manual");
      if (!out.ok) return answer({ text: `The backup failed: ${out.error}`, details: out });
      return answer({ text: `Snapshot ${out.snapshot.id.slice(0, 12)} taken (${out.snapshot.stats.files} files).`, details: out });
    }
    default:
      throw new Error(`unknown action ${JSON.stringify(params.action)}: use status, list, backup, show, diff or restore`);
  }
}
