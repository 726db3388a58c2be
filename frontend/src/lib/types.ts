// Shapes exchanged with Go. They mirror app/selfcheck.go; keep the JSON
// names in step with the Go struct tags.

/** The result of one start-up check run in the webview. */
export interface CheckOutcome {
  ok: boolean;
  /** Set only when ok is false: the failure, written for people. */
  error?: string;
}

/** What the frontend reports to Go after its start-up self-check. */
export interface SelfCheckResult {
  indexedDB: CheckOutcome;
  binding: CheckOutcome;
  userAgent: string;
  durationMs: number;
}
