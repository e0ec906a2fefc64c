// Restoring is time travel, and some state cannot travel: what the world outside the machine
// already moved past. A rollback keeps these from now, whatever the snapshot holds, unless the
// person names them by path (then they asked for it). This is the one place that lists them; the
// tool's answer before a whole restore says the same in a line (TIME_TRAVEL_NOTE).
//
// Sources (OpenClaw 2026.9.6): docs/gateway/security/secrets-and-storage.md (where channel
// credentials live), docs/cli/backup.md ("Restoring an archive is time travel. Messaging-channel
// credentials with ratchet state, especially WhatsApp, may desynchronize after rollback and need
// relinking. Approvals and delivery/dedupe state also roll back"), docs/channels/matrix/
// encryption.md (the Matrix crypto store), the global database's schema, and DESIGN.md
// ("rolling back the global state/openclaw.sqlite breaks the gateway's ownership lease until a
// restart").

/** State-folder paths (clawback exclude/keep patterns) whose current content a rollback keeps. */
export const KEPT_PATHS: readonly string[] = [
  // WhatsApp's Signal-protocol session (ratchet keys): an older copy desynchronizes the device.
  "credentials/whatsapp/",
  // Channel pairing allowlists: who was paired since must stay paired.
  "credentials/*-allowFrom.json",
  // Matrix end-to-end encryption: crypto store, sync token, room keys.
  "matrix/",
  // Runtime locks of a running gateway (also never backed up).
  "*.lock.sqlite",
  "*.generation-lock.sqlite",
  "*.generation-writer.sqlite",
  "*.reindex-lock.sqlite",
  // This plugin's own per-machine status (also never backed up).
  "clawback/",
];

/** Tables of state/openclaw.sqlite whose current rows a rollback keeps. */
export const KEPT_GLOBAL_TABLES: readonly string[] = [
  // Device pairings and the tokens that go with them: a paired phone must stay paired.
  "device_identities",
  "device_auth_tokens",
  "device_bootstrap_tokens",
  "device_pairing_paired",
  "device_pairing_pending",
  "device_pairing_join_codes",
  "device_pair_setup_completions",
  "gateway_origin_device_tokens",
  "channel_pairing_requests",
  "channel_pairing_allow_entries",
  "apns_registrations",
  "apns_registration_tombstones",
  "web_push_subscriptions",
  // Delivery and dedupe: rolled back, sent messages would be sent again and handled ones handled again.
  "delivery_queue_entries",
  "channel_ingress_events",
  // The running gateway's ownership of its state and agent databases, and its restart bookkeeping.
  "state_leases",
  "agent_database_leases",
  "gateway_boot_lifecycle",
  "gateway_restart_handoff",
  "gateway_restart_intent",
  "gateway_restart_sentinel",
];

/** Where the global database sits in the state folder. */
export const GLOBAL_DATABASE = "state/openclaw.sqlite";

/** One line for a person, said before a whole restore. */
export const TIME_TRAVEL_NOTE =
  "Restoring is time travel: messages already sent stay sent, and a rollback cannot undo what other devices saw. " +
  "It keeps from now: device and channel pairings, WhatsApp and Matrix session keys, the delivery queue, and this machine's secrets.";
