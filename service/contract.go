package service

import (
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Info is what the UI needs to know at start.
type Info struct {
	Device  string `json:"device"`
	Author  string `json:"author"`
	Version string `json:"version"`
	// HLC is a version issued by Go's clock; the UI's clock starts after it.
	HLC          string              `json:"hlc"`
	Collections  []schema.Collection `json:"collections"`
	Drill        DrillInfo           `json:"drill"`
	Schedule     string              `json:"schedule"`
	ScheduleText string              `json:"schedule_text"`
	// Demo is true when the data dir holds demo data (see DemoMarker):
	// the window marks it as such.
	Demo bool `json:"demo"`
}

// DrillInfo says where changes go.
type DrillInfo struct {
	Configured bool     `json:"configured"`
	URLs       []string `json:"urls"`
	Workspace  string   `json:"workspace"`
}

// MirrorPage is one answer of MirrorSince. Truncated means the caller's
// position is older than what Go keeps: rebuild from Records.
type MirrorPage struct {
	Entries   []store.MirrorEntry `json:"entries"`
	LastMSeq  uint64              `json:"last_mseq"`
	FirstMSeq uint64              `json:"first_mseq"`
	Truncated bool                `json:"truncated"`
}

// RecordPage is one page of Records; Next is "" on the last page and Total
// counts the collection's records, deleted ones included.
type RecordPage struct {
	Records []store.Record `json:"records"`
	Next    string         `json:"next"`
	Total   int64          `json:"total"`
}

// History is a record's changes (ascending version) and the resolutions
// made to it.
type History struct {
	Changes []store.Change `json:"changes"`
	Audit   []Audit        `json:"audit"`
}

// Audit is one resolution of a record's conflict.
type Audit struct {
	Seq               uint64   `json:"seq"`
	At                int64    `json:"at"`
	Collection        string   `json:"collection"`
	RecordID          string   `json:"record_id"`
	Author            string   `json:"author"`
	Device            string   `json:"device"`
	Take              string   `json:"take"`
	ChosenVersion     string   `json:"chosen_version,omitempty"`
	ResolutionVersion string   `json:"resolution_version"`
	Leaves            []string `json:"leaves"`
	Note              string   `json:"note,omitempty"`
	// Rules maps each field that a merge rule decided to that rule
	// ("temp": "higher"), for a resolution made by rules (Take "rules").
	Rules map[string]string `json:"rules,omitempty"`
	// Remote reports a resolution made on another device (Device) and
	// pulled with its change, so "device" in Take is that device's.
	Remote bool `json:"remote,omitempty"`
}

// PendingRecords names the records of one collection with local changes
// not yet in Drill.
type PendingRecords struct {
	Collection string   `json:"collection"`
	RecordIDs  []string `json:"record_ids"`
}

// ConflictFilter narrows Conflicts; zero fields do not filter.
type ConflictFilter struct {
	Collection string `json:"collection,omitempty"`
	// Device keeps conflicts with a leaf made on this device.
	Device string `json:"device,omitempty"`
	// OlderThanMS keeps conflicts detected at least this many ms ago.
	OlderThanMS int64 `json:"older_than_ms,omitempty"`
}

// KeepBothResult is the answer of KeepBoth: the resolution that kept the
// winner, and the change that created the copy of the other leaf.
type KeepBothResult struct {
	Kept store.Change `json:"kept"`
	Copy store.Change `json:"copy"`
}

// RecordRef names one record.
type RecordRef struct {
	Collection string `json:"collection"`
	RecordID   string `json:"record_id"`
}

// ResolveFailure is one conflict ResolveMany could not settle.
type ResolveFailure struct {
	Collection string `json:"collection"`
	RecordID   string `json:"record_id"`
	Error      string `json:"error"`
}

// ResolveManyResult counts what ResolveMany settled.
type ResolveManyResult struct {
	Resolved int              `json:"resolved"`
	Failed   []ResolveFailure `json:"failed"`
}

// Settings are the settings people edit in the UI.
type Settings struct {
	DrillURLs   []string `json:"drill_urls"`
	Workspace   string   `json:"workspace"`
	Auth        string   `json:"auth"`
	User        string   `json:"user"`
	CAFile      string   `json:"ca_file"`
	Schedule    string   `json:"schedule"`
	Collections string   `json:"collections"`
}

// SettingsView is Settings with what the UI shows around them: the keys
// locked by the managed file, where the password is, and the file written.
type SettingsView struct {
	Settings Settings `json:"settings"`
	Locked   []string `json:"locked"`
	// LockedBy says for each locked setting where its value comes from,
	// in plain words ("set by IT in /etc/fieldsync/config.json").
	LockedBy     map[string]string `json:"locked_by"`
	Password     string            `json:"password"` // keyring, file, env or none
	ScheduleText string            `json:"schedule_text"`
	File         string            `json:"file"`
}

// PasswordResult says where SetPassword stored the password.
type PasswordResult struct {
	StoredIn string `json:"stored_in"` // keyring or file
}

// Check is one line of TestConnection.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

// ScheduleText is DescribeSchedule's answer.
type ScheduleText struct {
	Text  string `json:"text"`
	Error string `json:"error,omitempty"`
}
