// The b2_rollback tool, backup side: `status`, `list` and `backup` (the restore side adds show,
// diff and restore). Each answer has a text for the person in the chat and `details` for programs.
import type { ClawbackPlugin } from "./plugin.ts";

export const TOOL_NAME = "b2_rollback";

export interface ToolParams {
  action?: string;
  limit?: number;
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
      enum: ["status", "list", "backup"],
      description: "status: the last backup, the next one, the last error and the space used; list: the snapshots; backup: take a snapshot now",
    },
    limit: { type: "integer", minimum: 1, description: "list: how many snapshots to show (default 20)" },
  },
  required: ["action"],
  additionalProperties: false,
} as const;

export const TOOL_DESCRIPTION =
  "Encrypted backups of this OpenClaw state (memory, sessions, workspace, config) to Backblaze B2 by clawback. " +
  "action=status tells when the last backup ran and why, when the next one is due, the last error and how much of B2's free 10 GB is used; " +
  "action=list lists the snapshots (time, reason, what changed); action=backup takes a snapshot now.";

function answer(a: { text: string; details: unknown }): ToolResult {
  return { content: [{ type: "text", text: a.text }], details: a.details };
}

export async function runTool(plugin: ClawbackPlugin, params: ToolParams): Promise<ToolResult> {
  switch (params.action) {
    case "status":
      return answer(await plugin.status());
    case "list":
      return answer(await plugin.list(params.limit));
    case "backup": {
      if (plugin.configError) return answer({ text: `clawback is not configured: ${plugin.configError}`, details: { ok: false, error: plugin.configError } });
      const out = await plugin.backup("manual");
      if (!out.ok) return answer({ text: `The backup failed: ${out.error}`, details: out });
      return answer({ text: `Snapshot ${out.snapshot.id.slice(0, 12)} taken (${out.snapshot.stats.files} files).`, details: out });
    }
    default:
      throw new Error(`unknown action ${JSON.stringify(params.action)}: use status, list or backup`);
  }
}
