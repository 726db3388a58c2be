// A reason the agent gives for something it set aside reads in two parts:
// its own words ("batch X of inspections: Drill could not read the
// batch") and, for a batch Drill failed on, Drill's error as Drill wrote
// it ("SYSTEM ERROR: … DrillScanRule …", many lines, Java class names).
// Screens show the first to everyone and keep the second behind a
// disclosure for IT.

export interface SplitReason {
  /** The agent's own words, one line. */
  lead: string;
  /** Drill's error as Drill wrote it, or '' when there is none. */
  drill: string;
}

// Drill starts its errors with a class in capitals: "SYSTEM ERROR:",
// "VALIDATION ERROR:", "DATA_READ ERROR:", "PARSE ERROR:" …
const drillError = /\b[A-Z][A-Z_]* ERROR:/;

// The longest lead shown; the rest goes with Drill's part.
const maxLead = 200;

export function splitReason(reason: string): SplitReason {
  const at = reason.search(drillError);
  let lead = at < 0 ? reason : reason.slice(0, at);
  let drill = at < 0 ? '' : reason.slice(at).trim();
  lead = lead.replace(/[\s:]+$/, '');
  const nl = lead.indexOf('\n');
  if (nl >= 0) {
    drill = (lead.slice(nl + 1).trim() + '\n' + drill).trim();
    lead = lead.slice(0, nl).trim();
  }
  if (lead.length > maxLead) {
    drill = (lead + (drill ? '\n' + drill : '')).trim();
    lead = lead.slice(0, maxLead - 1).trimEnd() + '…';
  }
  return { lead, drill };
}
